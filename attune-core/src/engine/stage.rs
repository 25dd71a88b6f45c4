//! Starting the stage tasks: one consumer loop per topic.

use super::Shared;
use super::completion::Completion;
use super::{matching, running, scheduling};
use crate::Result;
use crate::transport::{Delivery, Message, Subscription, Topic};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Subscribes every stage and spawns its loop on the current runtime.
pub(crate) async fn start(shared: &Arc<Shared>) -> Result<()> {
    let t = &shared.transport;
    let batch = shared.config.batch_size;
    let mut tasks = Vec::new();

    let s = shared.clone();
    let sub = t.subscribe(Topic::Events).await?;
    tasks.push(tokio::spawn(consume(
        sub,
        shared.stop.clone(),
        batch,
        move |d| {
            let s = s.clone();
            async move {
                let ids = d.iter().filter_map(|d| match d.message {
                    Message::Event(id) => Some(id),
                    _ => None,
                });
                matching::handle(&s, ids.collect()).await;
            }
        },
    )));

    let s = shared.clone();
    let sub = t.subscribe(Topic::Requested).await?;
    tasks.push(tokio::spawn(consume(
        sub,
        shared.stop.clone(),
        batch,
        move |d| {
            let s = s.clone();
            async move {
                let ids = d.iter().filter_map(|d| match d.message {
                    Message::Requested(id) => Some(id),
                    _ => None,
                });
                scheduling::handle(&s, ids.collect()).await;
            }
        },
    )));

    let s = shared.clone();
    let slots = Arc::new(Semaphore::new(shared.config.worker_slots));
    let sub = t.subscribe(Topic::Scheduled).await?;
    tasks.push(tokio::spawn(consume(
        sub,
        shared.stop.clone(),
        batch,
        move |d| {
            let s = s.clone();
            let slots = slots.clone();
            async move {
                let ids = d.iter().filter_map(|d| match d.message {
                    Message::Scheduled(id) => Some(id),
                    _ => None,
                });
                running::handle(&s, &slots, ids.collect()).await;
            }
        },
    )));

    let s = shared.clone();
    let sub = t.subscribe(Topic::Control).await?;
    tasks.push(tokio::spawn(consume(
        sub,
        shared.stop.clone(),
        batch,
        move |d| {
            for m in d {
                if let Message::Cancel(id) = m.message {
                    running::cancel_local(&s, id);
                }
            }
            async {}
        },
    )));

    let s = shared.clone();
    let completion = Arc::new(tokio::sync::Mutex::new(Completion::default()));
    let sub = t.subscribe(Topic::Finished).await?;
    tasks.push(tokio::spawn(consume(
        sub,
        shared.stop.clone(),
        batch,
        move |d| {
            let s = s.clone();
            let completion = completion.clone();
            async move {
                let ids = d.iter().filter_map(|d| match d.message {
                    Message::Finished(c) => Some(c),
                    _ => None,
                });
                completion.lock().await.handle(&s, ids.collect()).await;
            }
        },
    )));

    shared
        .tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(tasks);
    Ok(())
}

/// Receives batches until `stop` fires or the transport closes; each batch is handled, then
/// acknowledged.
async fn consume<F, Fut>(
    mut sub: Box<dyn Subscription>,
    stop: CancellationToken,
    max: usize,
    mut handle: F,
) where
    F: FnMut(Vec<Delivery>) -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    loop {
        let batch = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            b = sub.recv(max) => b,
        };
        match batch {
            Ok(Some(batch)) => {
                handle(batch.clone()).await;
                if let Err(e) = sub.ack(&batch).await {
                    tracing::warn!(error = %e, "ack failed; messages will be redelivered");
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "transport receive failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
