//! Starting the stage tasks: one consumer loop per topic, for the engine's roles.

use super::Shared;
use super::completion::Completion;
use super::roles::Role;
use super::{matching, running, scheduling};
use crate::Result;
use crate::model::{EventId, ExecutionId};
use crate::transport::{Delivery, Message, StatusChange, Subscription, Topic};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Subscribes every stage and spawns its loop on the current runtime.
pub(crate) async fn start(shared: &Arc<Shared>) -> Result<()> {
    let roles = shared.roles;
    let mut tasks = Vec::new();

    if roles.has(Role::Match) {
        let s = shared.clone();
        tasks.push(
            spawn_stage(shared, Topic::Events, event_of, move |ids| {
                let s = s.clone();
                async move { matching::handle(&s, ids).await }
            })
            .await?,
        );
    }

    if roles.has(Role::Schedule) {
        let s = shared.clone();
        tasks.push(
            spawn_stage(shared, Topic::Requested, requested_of, move |ids| {
                let s = s.clone();
                async move { scheduling::handle(&s, ids).await }
            })
            .await?,
        );
        let s = shared.clone();
        let completion = Arc::new(tokio::sync::Mutex::new(Completion::default()));
        tasks.push(
            spawn_stage(shared, Topic::Finished, finished_of, move |done| {
                let (s, completion) = (s.clone(), completion.clone());
                async move { completion.lock().await.handle(&s, done).await }
            })
            .await?,
        );
        tasks.push(tokio::spawn(super::policy::run_timers(shared.clone())));
        tasks.push(tokio::spawn(super::policy::run_leadership(shared.clone())));
    }

    if roles.has(Role::Work) {
        let s = shared.clone();
        let (slots, lanes) = running::Slots::start(shared);
        tasks.extend(lanes);
        let _ = shared.slots.set(slots.clone());
        tasks.push(
            spawn_stage(shared, Topic::Scheduled, scheduled_of, move |ids| {
                let (s, slots) = (s.clone(), slots.clone());
                async move { running::handle(&s, &slots, ids).await }
            })
            .await?,
        );
        let s = shared.clone();
        tasks.push(
            spawn_stage(shared, Topic::Control, cancel_of, move |ids| {
                for id in ids {
                    running::cancel_local(&s, id);
                }
                async {}
            })
            .await?,
        );
        tasks.push(tokio::spawn(running::renew_leases(shared.clone())));
    }

    tasks.push(tokio::spawn(super::remote_ends::run(shared.clone())));
    tasks.push(tokio::spawn(super::shared_store::run(shared.clone())));
    tasks.push(tokio::spawn(super::heartbeat::run(shared.clone())));
    tasks.push(tokio::spawn(super::followed_definitions::run(
        shared.clone(),
    )));
    if roles.has(Role::Timers) {
        let s = shared.clone();
        tasks.push(tokio::spawn(async move {
            let (gate, stop) = (s.singletons.timers.clone(), s.stop.clone());
            super::singletons::terms(gate, stop, "timers", |term| {
                super::timers::run(s.clone(), term)
            })
            .await;
        }));
    }
    if roles.has(Role::Sensors) {
        let s = shared.clone();
        *shared
            .sensors
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tokio::spawn(async move {
            let (gate, stop) = (s.singletons.sensors.clone(), s.sensors.stop.clone());
            super::singletons::terms(gate, stop, "sensors", |term| {
                super::sensors::run(s.clone(), term)
            })
            .await;
        }));
    }
    tasks.push(tokio::spawn(super::recovery::run(
        shared.clone(),
        shared.config.sweep_every,
    )));

    shared
        .tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(tasks);
    Ok(())
}

fn event_of(m: Message) -> Option<EventId> {
    if let Message::Event(id) = m {
        Some(id)
    } else {
        None
    }
}

fn requested_of(m: Message) -> Option<ExecutionId> {
    if let Message::Requested(id) = m {
        Some(id)
    } else {
        None
    }
}

fn scheduled_of(m: Message) -> Option<ExecutionId> {
    if let Message::Scheduled(id) = m {
        Some(id)
    } else {
        None
    }
}

fn cancel_of(m: Message) -> Option<ExecutionId> {
    if let Message::Cancel(id) = m {
        Some(id)
    } else {
        None
    }
}

fn finished_of(m: Message) -> Option<StatusChange> {
    if let Message::Finished(c) = m {
        Some(c)
    } else {
        None
    }
}

/// Subscribes to `topic` and spawns a loop that hands each batch's messages of the kind
/// `pick` selects to `handle`.
async fn spawn_stage<T, F, Fut>(
    shared: &Arc<Shared>,
    topic: Topic,
    pick: fn(Message) -> Option<T>,
    mut handle: F,
) -> Result<JoinHandle<()>>
where
    T: Send + 'static,
    F: FnMut(Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sub = shared.transport.subscribe(topic).await?;
    let (stop, batch) = (shared.stop.clone(), shared.config.batch_size);
    Ok(tokio::spawn(consume(
        sub,
        stop,
        batch,
        move |d: &[Delivery]| handle(d.iter().filter_map(|d| pick(d.message)).collect()),
    )))
}

/// Receives batches until `stop` fires or the transport closes; each batch is handled, then
/// acknowledged. What the transport has ready is taken (and acknowledged) without a boxed
/// future ([`Subscription::try_recv`], [`Subscription::try_ack`]), and when it signals new
/// messages ([`Subscription::ready_signal`]) the loop waits for that instead of in `recv`.
async fn consume<F, Fut>(
    mut sub: Box<dyn Subscription>,
    stop: CancellationToken,
    max: usize,
    mut handle: F,
) where
    F: FnMut(&[Delivery]) -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    let ready = sub.ready_signal();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let batch = match &ready {
            Some(ready) => {
                let signaled = ready.notified();
                tokio::pin!(signaled);
                // Enabled first: a publish after the look below wakes it.
                signaled.as_mut().enable();
                match sub.try_recv(max) {
                    Some(b) => b,
                    None => {
                        tokio::select! {
                            biased;
                            _ = stop.cancelled() => return,
                            () = signaled => continue,
                        }
                    }
                }
            }
            None => match sub.try_recv(max) {
                Some(b) => b,
                None => tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    b = sub.recv(max) => b,
                },
            },
        };
        match batch {
            Ok(Some(batch)) => {
                handle(&batch).await;
                let acked = match sub.try_ack(&batch) {
                    Some(r) => r,
                    None => sub.ack(&batch).await,
                };
                if let Err(e) = acked {
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
