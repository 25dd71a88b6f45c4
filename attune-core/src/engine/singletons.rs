//! The work one engine of a cluster does for all: timers and sensors. With a leadership
//! flag ([`EngineBuilder::singletons`](crate::EngineBuilder::singletons)) they run only
//! while it is true: each time it turns true a new term starts (timers continue from their
//! last stored fire, as after a restart; sensors start), and when it turns false, or its
//! sender goes, the term ends (timers stop, sensors are stopped and waited for). Without a
//! flag, one term lasts as long as the engine.

use std::future::Future;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Runs `term` once per term of leadership, each with a token canceled when the term
/// ends (or `stop` is), until `stop`. `what` names the singletons in logs.
pub(crate) async fn terms<F, Fut>(
    gate: Option<watch::Receiver<bool>>,
    stop: CancellationToken,
    what: &'static str,
    mut term: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(mut gate) = gate else {
        term(stop).await;
        return;
    };
    loop {
        // Wait to lead (a flag whose sender is gone never says so again).
        loop {
            if gate.has_changed().is_err() {
                return;
            }
            if *gate.borrow_and_update() {
                break;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                changed = gate.changed() => if changed.is_err() { return },
            }
        }
        tracing::info!(
            singletons = what,
            "leadership gained: they run in this engine"
        );
        let token = stop.child_token();
        let lost = {
            let (token, mut gate) = (token.clone(), gate.clone());
            async move {
                loop {
                    if !*gate.borrow_and_update() {
                        break;
                    }
                    if gate.changed().await.is_err() {
                        break;
                    }
                }
                token.cancel();
            }
        };
        let running = term(token.clone());
        tokio::pin!(running);
        tokio::select! {
            () = &mut running => {}
            () = lost => running.await,
        }
        if stop.is_cancelled() {
            return;
        }
        tracing::info!(
            singletons = what,
            "leadership lost: they stopped in this engine"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Terms start when the flag turns true and end when it turns false; none without it.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_term_per_leadership() {
        let (tx, rx) = watch::channel(false);
        let stop = CancellationToken::new();
        let (started, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let task = {
            let (stop, started, ended) = (stop.clone(), started.clone(), ended.clone());
            tokio::spawn(async move {
                terms(Some(rx), stop, "test", |token| {
                    let (started, ended) = (started.clone(), ended.clone());
                    async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        token.cancelled().await;
                        ended.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .await;
            })
        };
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(10));
        settle().await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            0,
            "no term while not leading"
        );
        tx.send(true).unwrap();
        settle().await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "a term once leading");
        tx.send(false).unwrap();
        settle().await;
        assert_eq!(
            ended.load(Ordering::SeqCst),
            1,
            "the term ends when leadership is lost"
        );
        tx.send(true).unwrap();
        settle().await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            2,
            "a new term when it comes back"
        );
        stop.cancel();
        task.await.unwrap();
        assert_eq!(ended.load(Ordering::SeqCst), 2, "stop ends the term");
    }

    /// A flag whose sender is gone ends the term: nobody says this engine leads.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_gone_flag_ends_the_term() {
        let (tx, rx) = watch::channel(true);
        let stop = CancellationToken::new();
        let ended = Arc::new(AtomicUsize::new(0));
        let task = {
            let ended = ended.clone();
            tokio::spawn(terms(Some(rx), stop, "test", move |token| {
                let ended = ended.clone();
                async move {
                    token.cancelled().await;
                    ended.fetch_add(1, Ordering::SeqCst);
                }
            }))
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        drop(tx);
        task.await.unwrap();
        assert_eq!(ended.load(Ordering::SeqCst), 1);
    }
}
