//! Events in: `emit` checks a payload, persists the event (combined with other emits into
//! one store call) and hands it to the matching stage.

use super::{Engine, Shared};
use crate::model::{Event, EventId};
use crate::transport::{Message, Topic};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;

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

    /// [`Engine::emit`] with StackStorm's `trace_tag`: the emitter's own name for what
    /// happened (a deployment id, a ticket), by which its trace is found later
    /// ([`EventFilter::trace_tag`](crate::store::EventFilter::trace_tag)).
    pub async fn emit_tagged(
        &self,
        trigger_ref: &str,
        payload: Value,
        trace_tag: impl Into<String>,
    ) -> Result<EventId> {
        self.emit_instance(trigger_ref, payload, None, None, Some(trace_tag.into()))
            .await
    }

    /// Emits many events at once: each is checked as [`Engine::emit`] checks it, those that
    /// pass are stored with one store call (one commit on a durable store) and handed to
    /// the matching stage together. One result per event, in order; a refused event does
    /// not keep the others out. The fast path for a host or sensor with events at hand.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::prelude::*;
    /// use serde_json::json;
    /// let engine = Engine::builder().build().await?;
    /// engine.register_trigger_type(TriggerType::new("shop.order")).await?;
    /// let ids = engine
    ///     .emit_many([("shop.order", json!({"n": 1})), ("shop.nope", json!({}))])
    ///     .await;
    /// assert!(ids[0].is_ok() && ids[1].is_err());
    /// # Ok(()) }
    /// ```
    pub async fn emit_many<'a, I>(&self, events: I) -> Vec<Result<EventId>>
    where
        I: IntoIterator<Item = (&'a str, Value)>,
    {
        let list = events
            .into_iter()
            .map(|(t, p)| Emission::new(t, p))
            .collect();
        self.emit_instances(list).await
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
        let mut event = self.prepare(Emission {
            trigger: trigger_ref.into(),
            payload,
            source,
            trigger_params,
            trace_tag,
            checked: false,
        })?;
        let s = &self.shared;
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
        if let Err(e) = s.hand_on(Topic::Events, &[Message::Event(id)]).await {
            s.pending.event_done(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Many [`Engine::emit_instance`]s with one store call and one publish.
    pub(crate) async fn emit_instances(&self, list: Vec<Emission>) -> Vec<Result<EventId>> {
        emit_batch(&self.shared, list).await
    }

    /// Checks one event (trigger type, depth, size, payload schema) and makes it.
    fn prepare(&self, e: Emission) -> Result<Event> {
        prepare(&self.shared, e)
    }
}

/// Emits events the engine made itself (timers, system triggers) with [`emit_batch`]:
/// there is no caller to hand a refusal to, so each is logged with its trigger type.
pub(crate) async fn emit_logged(s: &Shared, list: Vec<Emission>) {
    if list.is_empty() {
        return;
    }
    let triggers: Vec<crate::model::Name> = list.iter().map(|e| e.trigger.clone()).collect();
    for (t, r) in triggers.iter().zip(emit_batch(s, list).await) {
        if let Err(e) = r {
            tracing::warn!(trigger = %t, error = %e, "event made by the engine not emitted");
        }
    }
}

/// Many events with one store call and one publish (see [`Engine::emit_many`]).
pub(crate) async fn emit_batch(s: &Shared, list: Vec<Emission>) -> Vec<Result<EventId>> {
    {
        let mut results: Vec<Result<EventId>> = Vec::with_capacity(list.len());
        let mut events = Vec::with_capacity(list.len());
        for e in list {
            match prepare(s, e) {
                Ok(ev) => {
                    results.push(Ok(ev.id));
                    events.push(ev);
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if events.is_empty() {
            return results;
        }
        let stored = s.store.insert_events(&events).await;
        let mut ids = Vec::with_capacity(events.len());
        let mut failed: HashMap<EventId, Error> = HashMap::new();
        for (ev, r) in events.into_iter().zip(stored) {
            match r {
                Ok(()) => {
                    ids.push(Message::Event(ev.id));
                    s.pending.add_emitted(ev);
                }
                Err(e) => {
                    failed.insert(ev.id, e);
                }
            }
        }
        let published = if ids.is_empty() {
            Ok(())
        } else {
            s.hand_on(Topic::Events, &ids).await
        };
        if let Err(e) = published {
            for m in &ids {
                if let Message::Event(id) = m {
                    s.pending.event_done(*id);
                    failed.insert(
                        *id,
                        Error::backend(
                            format!("the event was stored but not handed on: {e}"),
                            true,
                        ),
                    );
                }
            }
        }
        if !failed.is_empty() {
            for r in &mut results {
                if let Ok(id) = r
                    && let Some(e) = failed.remove(id)
                {
                    *r = Err(e);
                }
            }
        }
        results
    }
}

/// Checks one event (trigger type, depth, size, payload schema) and makes it.
fn prepare(s: &Shared, e: Emission) -> Result<Event> {
    {
        let trigger_ref = crate::pack::canonical_trigger(&e.trigger);
        s.ensure_accepting()?;
        if e.checked {
            let mut event = Event::new(trigger_ref, e.payload, s.now());
            event.source = e.source;
            event.trigger_params = e.trigger_params;
            event.trace_tag = e.trace_tag;
            return Ok(event);
        }
        let payload = crate::input::within_depth(e.payload, || {
            format!("payload of event for trigger '{trigger_ref}'")
        })?;
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
        event.source = e.source;
        event.trigger_params = e.trigger_params;
        event.trace_tag = e.trace_tag;
        Ok(event)
    }
}

/// One event to emit, with where it comes from.
pub(crate) struct Emission {
    pub trigger: crate::model::Name,
    pub payload: Value,
    pub source: Option<String>,
    pub trigger_params: Option<Value>,
    pub trace_tag: Option<String>,
    /// Made by the engine from checked parameters (a timer's): its payload fits the schema
    /// and the limits, and is not checked again.
    pub checked: bool,
}

impl Emission {
    pub(crate) fn new(trigger: &str, payload: Value) -> Self {
        Emission {
            trigger: trigger.into(),
            payload,
            source: None,
            trigger_params: None,
            trace_tag: None,
            checked: false,
        }
    }
}

/// An event waiting to be persisted, and where its emitter waits for it (given back once
/// it is stored).
pub(crate) type Emitted = (Event, tokio::sync::oneshot::Sender<Result<Event>>);

/// Persists emitted events with one store call and answers each emitter; gives the
/// batch's vector back (emptied).
async fn persist_events(shared: &Shared, mut batch: Vec<Emitted>) -> Vec<Emitted> {
    let (events, waiting): (Vec<Event>, Vec<_>) = batch.drain(..).unzip();
    let results = shared.store.insert_events(&events).await;
    for ((event, tx), r) in events.into_iter().zip(waiting).zip(results) {
        let _ = tx.send(r.map(|()| event));
    }
    batch
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
