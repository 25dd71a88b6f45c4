//! Events in: `emit` checks a payload, persists the event (combined with other emits into
//! one store call) and hands it to the matching stage.

use super::{Engine, Shared};
use crate::model::{Event, EventId};
use crate::transport::{Message, Topic};
use crate::{Error, Result};
use serde_json::Value;

/// # Events
///
/// Events in: each is checked, stored, then matched against the rules of its trigger.
impl Engine {
    /// Emits an event of `trigger_ref`: checks the trigger type, the payload's depth and size,
    /// and the payload against the trigger type's payload schema (an invalid payload is
    /// [`Error::Invalid`] naming the trigger and every failing path with its message, and
    /// nothing is stored); persists the event (once this returns Ok, the event is stored),
    /// and hands it to the matching stage. Returns the event id, the root of its trace.
    pub async fn emit(&self, trigger_ref: &str, payload: Value) -> Result<EventId> {
        self.emit_from(trigger_ref, payload, None).await
    }

    /// [`Engine::emit`] recording who emitted it (`source`).
    pub async fn emit_from(
        &self,
        trigger_ref: &str,
        payload: Value,
        source: Option<String>,
    ) -> Result<EventId> {
        self.emit_instance(trigger_ref, payload, source, None, None)
            .await
    }

    /// [`Engine::emit_from`] for one instance of the trigger type: `trigger_params` (a
    /// timer's schedule) select the rules that match it; `trace_tag` is the emitter's own
    /// reference (a sensor's).
    pub(crate) async fn emit_instance(
        &self,
        trigger_ref: &str,
        payload: Value,
        source: Option<String>,
        trigger_params: Option<Value>,
        trace_tag: Option<String>,
    ) -> Result<EventId> {
        let trigger_ref = crate::pack::canonical_trigger(trigger_ref);
        let payload = crate::input::within_depth(payload, || {
            format!("payload of event for trigger '{trigger_ref}'")
        })?;
        self.ensure_accepting()?;
        let s = &self.shared;
        let Some(trigger) = s.catalog.trigger(trigger_ref) else {
            return Err(Error::not_found("trigger type", trigger_ref));
        };
        let size = json_size(&payload, s.config.max_payload_bytes);
        if size > s.config.max_payload_bytes {
            return Err(Error::invalid(
                format!("payload of event for trigger '{trigger_ref}'"),
                format!(
                    "it is larger than the limit of {} bytes (serialized)",
                    s.config.max_payload_bytes
                ),
            ));
        }
        // A trigger type without a payload schema costs one `Option` check here.
        trigger.check_payload(&payload)?;
        drop(trigger);
        let mut event = Event::new(trigger_ref, payload, s.now());
        event.source = source;
        event.trigger_params = trigger_params;
        event.trace_tag = trace_tag;
        let id = event.id;
        if s.store.capabilities().durable {
            // Concurrent emits share one store call (and one commit).
            let (tx, rx) = tokio::sync::oneshot::channel();
            s.emitting
                .submit((event, tx), |batch| persist_events(s, batch))
                .await;
            event = rx.await.unwrap_or_else(|_| {
                Err(Error::backend(
                    "the event was not persisted: the task persisting it stopped",
                    true,
                ))
            })?;
        } else {
            s.store.insert_event(&event).await?;
        }
        // Kept at hand for the matching stage (no read back).
        s.pending.add_emitted(event);
        if let Err(e) = s
            .transport
            .publish(Topic::Events, vec![Message::Event(id)])
            .await
        {
            s.pending.event_done(id);
            return Err(e);
        }
        Ok(id)
    }
}

/// An event waiting to be persisted, and where its emitter waits for it (given back once
/// it is stored).
pub(crate) type Emitted = (Event, tokio::sync::oneshot::Sender<Result<Event>>);

/// Persists emitted events with one store call and answers each emitter.
async fn persist_events(shared: &Shared, batch: Vec<Emitted>) {
    let (events, waiting): (Vec<Event>, Vec<_>) = batch.into_iter().unzip();
    let results = shared.store.insert_events(&events).await;
    for ((event, tx), r) in events.into_iter().zip(waiting).zip(results) {
        let _ = tx.send(r.map(|()| event));
    }
}

/// The serialized size of `v`, counting stops a little past `limit`.
fn json_size(v: &Value, limit: usize) -> usize {
    struct Counter {
        n: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.limit {
                return Err(std::io::Error::other("over limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter { n: 0, limit };
    let _ = serde_json::to_writer(&mut c, v);
    c.n
}
