//! How [`MemoryStore`](super::MemoryStore) keeps records: JSON of finished work packed as
//! compact text, so a retained record costs its size, not a tree of small maps.

use crate::model::{Event, Execution};
use crate::store::ExecutionChange;
use serde_json::Value;

/// A JSON value, either as a tree (work in progress, scalars) or packed as compact text.
#[derive(Debug, Clone)]
pub(super) enum Json {
    Tree(Value),
    Packed(Box<str>),
}

/// The deepest nesting serde_json parses back from text.
const PARSE_DEPTH: usize = 127;

impl Json {
    /// Packs containers and strings; scalars stay as they are (no allocation), and so does a
    /// value nested deeper than JSON text parses back (127 levels: the engine takes 100 from
    /// outside, but a record may wrap one), so that reading it never loses it.
    pub(super) fn packed(v: Value) -> Json {
        match Json::packed_from(&v) {
            Some(text) => Json::Packed(text),
            None => Json::Tree(v),
        }
    }

    /// [`Json::packed`] of a borrowed value: cloned only when it stays a tree.
    pub(super) fn packed_ref(v: &Value) -> Json {
        match Json::packed_from(v) {
            Some(text) => Json::Packed(text),
            None => Json::Tree(v.clone()),
        }
    }

    /// The text of `v` in one allocation of its exact size (the size is counted first), or
    /// `None` for what stays a tree.
    fn packed_from(v: &Value) -> Option<Box<str>> {
        if matches!(v, Value::Null | Value::Bool(_) | Value::Number(_))
            || crate::input::json_depth(v, PARSE_DEPTH) > PARSE_DEPTH
        {
            return None;
        }
        let mut size = ByteCount(0);
        serde_json::to_writer(&mut size, v).ok()?;
        let mut text = Vec::with_capacity(size.0);
        serde_json::to_writer(&mut text, v).ok()?;
        // serde_json writes UTF-8 only.
        String::from_utf8(text).ok().map(String::into_boxed_str)
    }

    /// The value (parsed when packed; text this store wrote always parses: it nests at
    /// most [`PARSE_DEPTH`] levels).
    pub(super) fn value(&self) -> Value {
        match self {
            Json::Tree(v) => v.clone(),
            Json::Packed(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        }
    }

    /// Packs a tree in place.
    pub(super) fn pack(&mut self) {
        if let Json::Tree(v) = self {
            *self = Json::packed(std::mem::take(v));
        }
    }
}

/// A writer that only counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An event with its payload packed.
#[derive(Debug, Clone)]
pub(super) struct EventRow {
    /// The event with a null payload.
    pub meta: Event,
    pub payload: Json,
}

impl EventRow {
    pub(super) fn new(e: &Event) -> Self {
        EventRow {
            meta: e.clone_meta(),
            payload: Json::packed_ref(&e.payload),
        }
    }

    pub(super) fn event(&self) -> Event {
        let mut e = self.meta.clone_meta();
        e.payload = self.payload.value();
        e
    }
}

/// An execution whose params are packed from the start (they do not change; packing costs
/// one allocation where a copy of the tree costs one per map, key and string) and whose
/// result is packed once it is finished.
#[derive(Debug, Clone)]
pub(super) struct ExecRow {
    /// The execution with null params and no result.
    pub meta: Execution,
    pub params: Json,
    pub result: Option<Json>,
}

impl ExecRow {
    pub(super) fn new(e: &Execution) -> Self {
        let mut row = ExecRow {
            meta: Execution {
                params: Value::Null,
                sealed_params: e.sealed_params.clone(),
                result: None,
                action: e.action.clone(),
                runner: e.runner.clone(),
                error: e.error.clone(),
                stdout: e.stdout.clone(),
                stderr: e.stderr.clone(),
                rule: e.rule.clone(),
                worker: e.worker.clone(),
                user: e.user.clone(),
                task: e.task.clone(),
                ..*e
            },
            params: Json::packed_ref(&e.params),
            result: e.result.clone().map(Json::Tree),
        };
        row.pack_if_finished();
        row
    }

    pub(super) fn execution(&self) -> Execution {
        let mut e = self.execution_without_params();
        e.params = self.params.value();
        e
    }

    /// The execution with null params (for a claimer that holds them).
    pub(super) fn execution_without_params(&self) -> Execution {
        let mut e = self.meta.clone();
        e.result = self.result.as_ref().map(Json::value);
        e
    }

    /// Applies a change (see [`ExecutionChange::apply_to`]) and packs when finished.
    pub(super) fn apply(&mut self, change: ExecutionChange) {
        change.apply_to(&mut self.meta);
        if let Some(r) = self.meta.result.take() {
            self.result = Some(Json::Tree(r));
        }
        self.pack_if_finished();
    }

    fn pack_if_finished(&mut self) {
        if self.meta.status.is_terminal()
            && let Some(r) = &mut self.result
        {
            r.pack();
        }
    }
}

impl Event {
    /// A copy without cloning the payload (left null).
    fn clone_meta(&self) -> Event {
        Event {
            id: self.id,
            trigger: self.trigger.clone(),
            payload: Value::Null,
            source: self.source.clone(),
            trigger_params: self.trigger_params.clone(),
            trace_tag: self.trace_tag.clone(),
            created: self.created,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExecutionStatus;
    use serde_json::json;

    #[test]
    fn rows_round_trip_and_pack_when_finished() {
        let now = chrono::Utc::now();
        let e = Event::new("a.b", json!({"x": [1, "two", {"three": 3.5}]}), now);
        let row = EventRow::new(&e);
        assert!(matches!(row.payload, Json::Packed(_)));
        assert_eq!(row.event(), e);

        let x = Execution::new("a.act", "native", json!({"p": "v"}), now);
        let mut row = ExecRow::new(&x);
        assert!(matches!(row.params, Json::Packed(_)));
        assert_eq!(row.execution(), x);
        row.apply(ExecutionChange::to(ExecutionStatus::Running, now).result(json!({"part": 1})));
        assert!(matches!(row.result, Some(Json::Tree(_))));
        row.apply(ExecutionChange::to(ExecutionStatus::Succeeded, now).result(json!({"ok": true})));
        assert!(matches!(row.params, Json::Packed(_)));
        assert!(matches!(row.result, Some(Json::Packed(_))));
        let back = row.execution();
        assert_eq!(back.params, json!({"p": "v"}));
        assert_eq!(back.result, Some(json!({"ok": true})));
        assert_eq!(Json::packed(json!(5)).value(), json!(5));
        assert_eq!(Json::packed(json!("s")).value(), json!("s"));
    }

    #[test]
    fn values_deeper_than_text_parses_back_are_kept_whole() {
        for levels in [PARSE_DEPTH - 1, PARSE_DEPTH, PARSE_DEPTH + 1, 300] {
            let mut v = json!(1);
            for _ in 0..levels {
                v = Value::Array(vec![v]);
            }
            let packed = Json::packed(v.clone());
            assert_eq!(
                matches!(packed, Json::Packed(_)),
                levels <= PARSE_DEPTH,
                "{levels}"
            );
            assert_eq!(packed.value(), v, "{levels} levels read back whole");
        }
    }
}
