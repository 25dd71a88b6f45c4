//! Trigger types with their JSON Schemas compiled once, at registration or pack install:
//! the payload schema that `emit` enforces and the parameter schema that rules'
//! `trigger.parameters` must fit.
//!
//! Schemas are JSON Schema as StackStorm uses them: the draft named by `$schema`, else
//! Draft 4. `$ref`s to other documents are never fetched (only references inside the schema
//! resolve), and `format` is an annotation, not checked (as in StackStorm, which validates
//! without a format checker).

use crate::model::TriggerType;
pub(crate) use crate::params::CompiledSchema;
use crate::{Error, Result};
use serde_json::Value;

/// A registered trigger type with its schemas compiled.
#[derive(Debug)]
pub(crate) struct RegisteredTrigger {
    /// The definition.
    pub def: TriggerType,
    /// Its payload schema; `None` accepts any payload.
    pub payload: Option<CompiledSchema>,
    /// Its parameter schema; `None` accepts any rule parameters.
    pub parameters: Option<CompiledSchema>,
}

impl RegisteredTrigger {
    /// Compiles both schemas of `def`. A schema that does not compile is
    /// [`Error::Invalid`] naming the trigger type and the schema
    /// (`payload_schema`, `parameters_schema`).
    pub(crate) fn compile(def: TriggerType) -> Result<Self> {
        let mut problems = Vec::new();
        let mut compile = |name: &str, schema: &Value| {
            CompiledSchema::compile(schema).unwrap_or_else(|e| {
                problems.push(format!("{name} is not a valid JSON Schema: {e}"));
                None
            })
        };
        let payload = compile("payload_schema", &def.payload_schema);
        let parameters = compile("parameters_schema", &def.parameters_schema);
        if !problems.is_empty() {
            return Err(Error::invalid(
                format!("trigger type '{}'", def.trigger_ref),
                problems.join("; "),
            ));
        }
        Ok(RegisteredTrigger {
            def,
            payload,
            parameters,
        })
    }

    /// `Err` naming the trigger and every failing path when `payload` does not fit the
    /// payload schema.
    pub(crate) fn check_payload(&self, payload: &Value) -> Result<()> {
        match self.payload.as_ref().and_then(|s| s.problems(payload)) {
            None => Ok(()),
            Some(problems) => Err(Error::invalid(
                format!("payload of event for trigger '{}'", self.def.trigger_ref),
                problems.join("; "),
            )),
        }
    }
}

/// The schemas of `def` that do not compile: (`payload_schema` or `parameters_schema`, the
/// compiler's message); and the parameter schema compiled when it does.
pub(crate) fn check_schemas(
    def: &TriggerType,
) -> (Vec<(&'static str, String)>, Option<CompiledSchema>) {
    let mut out = Vec::new();
    if let Err(e) = CompiledSchema::compile(&def.payload_schema) {
        out.push(("payload_schema", format!("not a valid JSON Schema: {e}")));
    }
    let parameters = CompiledSchema::compile(&def.parameters_schema).unwrap_or_else(|e| {
        out.push(("parameters_schema", format!("not a valid JSON Schema: {e}")));
        None
    });
    (out, parameters)
}

/// Every failing path of a rule's `trigger.parameters` against the trigger type's parameter
/// schema (none when the rule gives no parameters or the trigger has no such schema).
pub(crate) fn parameter_problems(schema: Option<&CompiledSchema>, params: &Value) -> Vec<String> {
    match (schema, params) {
        (Some(s), p) if !p.is_null() => s.problems(p).unwrap_or_default(),
        _ => Vec::new(),
    }
}
