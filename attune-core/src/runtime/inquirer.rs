//! The `inquirer` runtime: StackStorm's inquirer runner (`core.ask`). A run asks a question
//! and ends at once in status `pending`, its result holding what the answer must be
//! (`schema`, a JSON Schema), who may give it (`users`, `roles`), where it is announced
//! (`route`) and for how long (`ttl`, minutes). The engine's
//! [`Engine::respond`](crate::Engine::respond) answers it; an unanswered one ends `timeout`
//! after its ttl.

use super::{RunOutput, RunRequest, Runtime};
use crate::params::CompiledSchema;
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Value, json};

/// The schema StackStorm's `core.ask` asks with by default: may the workflow continue?
pub(crate) fn default_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "continue": {
                "type": "boolean",
                "description": "Would you like to continue the workflow?",
                "required": true
            }
        }
    })
}

/// The default time to live of an inquiry, in minutes (StackStorm's: one day).
pub(crate) const DEFAULT_TTL_MINUTES: u64 = 1440;

/// Ends each run `pending` with the inquiry (see the module documentation). Registered by
/// every engine as `inquirer`.
#[derive(Debug, Default)]
pub struct InquirerRuntime;

/// The inquiry an execution of the inquirer holds in its result, read back and checked.
pub(crate) struct Asked {
    pub schema: Value,
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub route: String,
    pub ttl_minutes: u64,
}

impl Asked {
    /// Reads and checks the params of an inquiry (`what` names it in errors).
    pub(crate) fn from_params(params: &serde_json::Map<String, Value>, what: &str) -> Result<Self> {
        let bad = |m: String| Error::invalid(what, m);
        let schema = match params.get("schema") {
            None | Some(Value::Null) => default_schema(),
            Some(s @ Value::Object(_)) => s.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "param 'schema' must be an object (a JSON Schema), got {other}"
                )));
            }
        };
        CompiledSchema::compile(&crate::params::draft3_required(&schema))
            .map_err(|e| bad(format!("param 'schema' is not a valid JSON Schema: {e}")))?;
        let names = |key: &str| -> Result<Vec<String>> {
            match params.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            bad(format!(
                                "param '{key}' must be a list of names, got {v} in it"
                            ))
                        })
                    })
                    .collect(),
                Some(other) => Err(bad(format!(
                    "param '{key}' must be a list of names, got {other}"
                ))),
            }
        };
        let route = match params.get("route") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(r)) => r.clone(),
            Some(other) => return Err(bad(format!("param 'route' must be a string, got {other}"))),
        };
        let ttl_minutes = match params.get("ttl") {
            None | Some(Value::Null) => DEFAULT_TTL_MINUTES,
            Some(v) => v.as_u64().filter(|t| *t >= 1).ok_or_else(|| {
                bad(format!(
                    "param 'ttl' must be a whole number of minutes, at least 1, got {v}"
                ))
            })?,
        };
        Ok(Asked {
            schema,
            users: names("users")?,
            roles: names("roles")?,
            route,
            ttl_minutes,
        })
    }

    /// The result of the pending execution, as StackStorm's runner gives it.
    pub(crate) fn result(&self) -> Value {
        json!({
            "schema": self.schema,
            "roles": self.roles,
            "users": self.users,
            "route": self.route,
            "ttl": self.ttl_minutes,
        })
    }
}

#[async_trait]
impl Runtime for InquirerRuntime {
    fn name(&self) -> &str {
        "inquirer"
    }

    async fn run(&self, req: RunRequest) -> Result<RunOutput> {
        let what = format!("inquiry of action '{}'", req.action.action_ref);
        let asked = Asked::from_params(&req.params, &what)?;
        Ok(RunOutput::pending(asked.result()))
    }
}
