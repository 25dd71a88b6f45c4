//! Flat combining: tasks hand items in; the one that finds no flush in progress flushes
//! what has gathered — again and again, until nothing is left — while the others return at
//! once. Under load, items that arrive during one store call share the next one, with no
//! extra task and no wake-up per item; alone, an item is flushed at once by its own task.
//! A flush hands its emptied vector back: it holds the next batch (no allocation per batch).

use std::future::Future;
use std::sync::Mutex;

/// The largest vector (in bytes of room) a combiner keeps between batches.
pub(crate) const KEEP_BYTES: usize = 64 * 1024;

/// Items waiting for a flush, and whether a task is flushing.
#[derive(Debug)]
pub(crate) struct Combiner<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    queue: Vec<T>,
    flushing: bool,
}

impl<T> Default for Combiner<T> {
    fn default() -> Self {
        Combiner {
            state: Mutex::new(State {
                queue: Vec::new(),
                flushing: false,
            }),
        }
    }
}

impl<T> Combiner<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item`. When no flush is in progress, the caller becomes the flusher: it runs
    /// `flush` on every batch gathered until the queue is empty, then returns; `flush` gives
    /// the batch's vector back (what is left in it is dropped), to gather the next batch in
    /// (kept when its room takes at most [`KEEP_BYTES`]). Otherwise it
    /// returns at once: the running flusher takes the item in its next batch. Items are
    /// flushed in the order they were submitted. If a flush panics or its future is
    /// dropped, the items queued meanwhile are dropped with it (so whoever waits on them —
    /// an `emit` — gets an error instead of waiting for ever) and the next submitter becomes
    /// the flusher.
    pub(crate) async fn submit<F, Fut>(&self, item: T, mut flush: F)
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<T>>,
    {
        let mut batch = {
            let mut s = self.lock();
            s.queue.push(item);
            if s.flushing {
                return;
            }
            s.flushing = true;
            std::mem::take(&mut s.queue)
        };
        let guard = Flushing(self);
        loop {
            let mut spent = flush(batch).await;
            spent.clear();
            if spent.capacity().saturating_mul(std::mem::size_of::<T>()) > KEEP_BYTES {
                spent = Vec::new();
            }
            let mut s = self.lock();
            if s.queue.is_empty() {
                s.flushing = false;
                if s.queue.capacity() < spent.capacity() {
                    s.queue = spent;
                }
                drop(s);
                std::mem::forget(guard);
                return;
            }
            batch = std::mem::replace(&mut s.queue, spent);
        }
    }
}

/// Gives up the flusher's role when its task stops early (a panic, or the future dropped),
/// dropping what was queued for it.
struct Flushing<'a, T>(&'a Combiner<T>);

impl<T> Drop for Flushing<'_, T> {
    fn drop(&mut self) {
        let orphans = {
            let mut s = self.0.lock();
            s.flushing = false;
            std::mem::take(&mut s.queue)
        };
        drop(orphans);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn an_item_alone_is_flushed_by_its_own_task() {
        let c = Combiner::default();
        let mut seen = Vec::new();
        c.submit(1, |b| {
            seen.push(b);
            async { Vec::new() }
        })
        .await;
        assert_eq!(seen, vec![vec![1]]);
        assert!(!c.lock().flushing);
    }

    #[tokio::test]
    async fn the_vector_a_flush_hands_back_gathers_the_next_batch() {
        let c = Combiner::default();
        let mut given = Vec::new();
        c.submit(1, |mut b| {
            b.reserve(16);
            given.push(b.as_ptr());
            async { b }
        })
        .await;
        let mut seen = Vec::new();
        c.submit(2, |b| {
            seen.push((b.as_ptr(), b.capacity(), b.clone()));
            async { b }
        })
        .await;
        assert_eq!(seen.len(), 1);
        let (ptr, capacity, items) = &seen[0];
        assert_eq!(
            *ptr, given[0],
            "the second batch is gathered in the first one's vector"
        );
        assert!(*capacity >= 16);
        assert_eq!(items, &vec![2], "what the first flush left is gone");

        // A vector past the bound is not kept.
        let past = KEEP_BYTES / std::mem::size_of::<i32>() + 1;
        c.submit(3, |mut b| {
            b.reserve(past);
            async { b }
        })
        .await;
        assert!(c.lock().queue.capacity() < past);
    }

    #[tokio::test]
    async fn items_arriving_during_a_flush_share_the_next_one_in_order() {
        let c = Arc::new(Combiner::default());
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let flush = move |b: Vec<u32>| {
            let (wait, batches) = (wait.clone(), batches.clone());
            async move {
                batches.lock().unwrap().push(b);
                // The first flush waits until the others are queued.
                if let Some(w) = wait.lock().await.take() {
                    let _ = w.await;
                }
                Vec::new()
            }
        };
        let first = tokio::spawn({
            let (c, flush) = (c.clone(), flush.clone());
            async move { c.submit(0, flush).await }
        });
        while seen.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        for i in 1..4 {
            // A flush is in progress: these return at once.
            c.submit(i, flush.clone()).await;
        }
        release.send(()).unwrap();
        first.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec![0], vec![1, 2, 3]]);
    }

    #[tokio::test]
    async fn a_dropped_flush_drops_what_waited_for_it_and_hands_the_role_on() {
        let c = Arc::new(Combiner::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let flusher = tokio::spawn({
            let c = c.clone();
            async move {
                c.submit(None, |_| std::future::pending::<Vec<_>>()).await;
            }
        });
        while !c.lock().flushing {
            tokio::task::yield_now().await;
        }
        // Queued behind the stuck flush: its sender is all a waiter has.
        c.submit(Some(tx), |_| async { Vec::new() }).await;
        flusher.abort();
        let _ = flusher.await;
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), rx).await;
        assert!(
            matches!(waited, Ok(Err(_))),
            "the waiter learns its item was dropped (not left waiting): {waited:?}"
        );
        let mut seen = Vec::new();
        c.submit(None, |b| {
            seen.push(b.len());
            async { b }
        })
        .await;
        assert_eq!(seen, vec![1], "the next submitter flushes");
    }

    #[tokio::test]
    async fn a_panicking_flush_hands_the_role_on() {
        let c = Arc::new(Combiner::default());
        let c2 = c.clone();
        let r = tokio::spawn(async move {
            c2.submit(1, |_| async { panic!("flush failed") }).await;
        })
        .await;
        assert!(r.is_err(), "the flush panicked");
        let mut seen = Vec::new();
        c.submit(2, |b| {
            seen.push(b);
            async { Vec::new() }
        })
        .await;
        assert_eq!(seen, vec![vec![2]], "the next submitter flushes");
    }
}
