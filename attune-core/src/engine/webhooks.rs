//! Webhooks: the rules of `core.webhook` name a path (`path`, or StackStorm's `url`); a
//! call to that path emits one event per trigger instance (rules with the same
//! parameters share one). The HTTP server is the host's (the reference server's
//! `/api/v1/webhooks/<path>`); this is what it calls.

use super::Engine;
use crate::model::EventId;
use crate::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;

/// The trigger type of webhooks.
pub const WEBHOOK_TRIGGER: &str = "core.webhook";

/// A webhook path enabled rules listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The path, without a leading `/`.
    pub path: String,
    /// The system keys holding the secrets calls must be signed with (`secret_key` of the
    /// rules' trigger parameters), sorted; empty when no rule asks for a signature.
    pub secret_keys: Vec<String>,
    /// The rules, sorted.
    pub rules: Vec<String>,
}

/// The path a rule's trigger parameters name, without a leading `/`.
fn path_of(params: &Value) -> Option<&str> {
    params
        .get("path")
        .or_else(|| params.get("url"))
        .and_then(Value::as_str)
        .map(|p| p.trim_start_matches('/'))
}

/// # Webhooks
impl Engine {
    /// The webhook paths enabled rules listen on, by path.
    pub fn webhooks(&self) -> Vec<Webhook> {
        self.hooks(None)
    }

    /// The webhook `path` (a leading `/` ignored), if enabled rules listen on it.
    pub fn webhook(&self, path: &str) -> Option<Webhook> {
        self.hooks(Some(path.trim_start_matches('/'))).pop()
    }

    /// The webhooks of the enabled rules, by path; only `only`'s when given.
    fn hooks(&self, only: Option<&str>) -> Vec<Webhook> {
        let mut by_path: BTreeMap<String, Webhook> = BTreeMap::new();
        for r in self.shared.catalog.rules_of_trigger(WEBHOOK_TRIGGER) {
            if !r.rule.enabled {
                continue;
            }
            let Some(path) = path_of(&r.rule.trigger_params) else {
                continue;
            };
            if only.is_some_and(|o| o != path) {
                continue;
            }
            let hook = by_path.entry(path.to_string()).or_insert_with(|| Webhook {
                path: path.to_string(),
                secret_keys: Vec::new(),
                rules: Vec::new(),
            });
            hook.rules.push(r.rule.rule_ref.clone());
            if let Some(k) = r
                .rule
                .trigger_params
                .get("secret_key")
                .and_then(Value::as_str)
                && !hook.secret_keys.iter().any(|s| s == k)
            {
                hook.secret_keys.push(k.to_string());
            }
        }
        by_path
            .into_values()
            .map(|mut h| {
                h.rules.sort();
                h.secret_keys.sort();
                h
            })
            .collect()
    }

    /// Emits a call to the webhook `path` (a leading `/` ignored): one event of
    /// [`WEBHOOK_TRIGGER`] per trigger instance of the enabled rules that name `path`, each
    /// with `payload` (the request: `method`, `headers`, `query`, `body`) and its `path`
    /// set. The caller checks signatures first ([`Engine::webhooks`] names the secrets).
    /// Returns the events' ids; NotFound when no enabled rule names `path` (nothing is
    /// emitted); an event the engine refuses (too large, not fitting the payload schema)
    /// is the error, and the events emitted before it stay.
    pub async fn emit_webhook(&self, path: &str, payload: Value) -> Result<Vec<EventId>> {
        self.emit_webhook_tagged(path, payload, None).await
    }

    /// [`Engine::emit_webhook`] with a `trace_tag` on each event (StackStorm's
    /// `St2-Trace-Tag` header), when given.
    pub async fn emit_webhook_tagged(
        &self,
        path: &str,
        payload: Value,
        trace_tag: Option<String>,
    ) -> Result<Vec<EventId>> {
        let path = path.trim_start_matches('/');
        let mut params: Vec<Value> = Vec::new();
        for r in self.shared.catalog.rules_of_trigger(WEBHOOK_TRIGGER) {
            if r.rule.enabled && path_of(&r.rule.trigger_params) == Some(path) {
                params.push(r.rule.trigger_params.clone());
            }
        }
        if params.is_empty() {
            return Err(Error::not_found("webhook", path));
        }
        // Rules with equal parameters share one trigger instance (one rule: nothing to
        // compare, the common case on this hot path).
        let instances: Vec<Value> = if params.len() == 1 {
            params
        } else {
            let mut by_form: BTreeMap<String, Value> = BTreeMap::new();
            for p in params {
                by_form.insert(crate::rules::canonical_params(&p), p);
            }
            by_form.into_values().collect()
        };
        let mut payload = payload;
        if let Value::Object(m) = &mut payload {
            m.insert("path".into(), Value::String(path.to_string()));
        }
        let mut ids = Vec::with_capacity(instances.len());
        let mut rest = instances.into_iter().peekable();
        while let Some(params) = rest.next() {
            let body = if rest.peek().is_some() {
                payload.clone()
            } else {
                std::mem::take(&mut payload)
            };
            ids.push(
                self.emit_instance(
                    WEBHOOK_TRIGGER,
                    body,
                    Some(format!("webhook:{path}")),
                    Some(params),
                    trace_tag.clone(),
                )
                .await?,
            );
        }
        Ok(ids)
    }
}
