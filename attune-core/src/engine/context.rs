//! What conditions and templates see: the event, its payload, the rule, the pack config and
//! the key-value store.

use super::Shared;
use crate::model::{Event, EventId, KeyScope};
use crate::rules::{CompiledRule, PatternRenderer, Scope};
use crate::template::CompiledValue;
use crate::workflow::KvSnapshot;
use crate::{Error, Result};
use minijinja::Value as JValue;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Criteria paths start with `trigger` or `payload` (both the payload, as in StackStorm).
pub(crate) struct EventScope<'a> {
    pub payload: &'a Value,
}

impl Scope for EventScope<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        match name {
            "trigger" | "payload" => Some(self.payload),
            _ => None,
        }
    }
}

/// The parts of the template context shared by every rule of one event.
pub(crate) struct EventContext {
    event: JValue,
    payload: JValue,
}

impl EventContext {
    pub(super) fn new(event: &Event) -> Self {
        let payload = crate::template::to_jinja(&event.payload);
        let event = JValue::from_object(EventObject {
            id: event.id,
            trigger: event.trigger.clone(),
            created: event.created,
            source: event.source.clone(),
            payload: payload.clone(),
        });
        EventContext { event, payload }
    }

    /// The full context for one rule; `keyring`: what `decrypt_kv` opens with (see
    /// `template/keyring.rs`), when the rule reads the key store.
    pub(super) fn for_rule(
        &self,
        shared: &Shared,
        rule: &Arc<CompiledRule>,
        kv: &JValue,
        keyring: &JValue,
    ) -> JValue {
        JValue::from_object(RuleScope {
            keyring: keyring.clone(),
            event: self.event.clone(),
            payload: self.payload.clone(),
            pack: shared.catalog.registered_pack_context(rule.rule.pack()),
            rule: rule.clone(),
            kv: kv.clone(),
        })
    }
}

/// The names a rule's templates see: `event`, `trigger` and `payload` (both the payload),
/// `pack`, `rule`, `kv` and `st2kv` (both the key-value namespace), and the keyring of
/// `decrypt_kv`. One object, not a map built per rule and event: each name is read from
/// what the event and the rule already hold.
#[derive(Debug)]
struct RuleScope {
    keyring: JValue,
    event: JValue,
    payload: JValue,
    /// The pack's namespace when the pack is registered; else made when read.
    pack: Option<JValue>,
    rule: Arc<CompiledRule>,
    kv: JValue,
}

impl minijinja::value::Object for RuleScope {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        Some(match key.as_str()? {
            crate::template::keyring::KEYRING_VAR => self.keyring.clone(),
            "event" => self.event.clone(),
            "trigger" | "payload" => self.payload.clone(),
            "pack" => self
                .pack
                .clone()
                .unwrap_or_else(|| super::catalog::pack_ctx(self.rule.rule.pack(), &Value::Null)),
            "rule" => self.rule.context.clone(),
            "kv" | "st2kv" => self.kv.clone(),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&[
            crate::template::keyring::KEYRING_VAR,
            "event",
            "trigger",
            "payload",
            "pack",
            "rule",
            "kv",
            "st2kv",
        ])
    }
}

/// A template map built from `(key, value)` pairs.
pub(crate) fn jmap<const N: usize>(items: [(&str, JValue); N]) -> JValue {
    JValue::from(
        items
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<std::collections::BTreeMap<String, JValue>>(),
    )
}

/// `event.payload` plus `event.id`, `event.trigger`, `event.created`, `event.source`, each
/// made when a template reads it.
#[derive(Debug)]
struct EventObject {
    id: EventId,
    trigger: crate::model::Name,
    created: chrono::DateTime<chrono::Utc>,
    source: Option<String>,
    payload: JValue,
}

impl minijinja::value::Object for EventObject {
    fn get_value(self: &std::sync::Arc<Self>, key: &JValue) -> Option<JValue> {
        Some(match key.as_str()? {
            "payload" => self.payload.clone(),
            "id" => JValue::from(self.id.to_string()),
            "trigger" => JValue::from(self.trigger.as_str()),
            "created" => JValue::from(self.created.to_rfc3339()),
            "source" => self
                .source
                .as_deref()
                .map_or(JValue::from(()), JValue::from),
            _ => return None,
        })
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["id", "trigger", "created", "source", "payload"])
    }
}

/// The key-value namespace for a rule of `pack`: `kv.system.NAME`, `kv.pack.NAME`, and
/// `kv.user.NAME` when the engine has a system user (the user rules run as). An encrypted
/// value is there sealed (as StackStorm gives the ciphertext): `decrypt_kv` opens it.
pub(crate) async fn kv_context(shared: &Shared, pack: &str) -> Result<(JValue, Value)> {
    let json = kv_namespace(shared, pack, shared.config.system_user.as_deref()).await?;
    Ok((crate::template::to_jinja(&json), json))
}

/// Every key a run of `pack` on behalf of `user` reads, as `{system: {NAME: value}, pack:
/// {…}, user: {…}}` (`user` only with a user); encrypted values sealed.
pub(crate) async fn kv_namespace(shared: &Shared, pack: &str, user: Option<&str>) -> Result<Value> {
    let mut json = Map::new();
    for (label, scope) in kv_scopes(pack, user) {
        let mut keys = Map::new();
        for k in shared.store.list_keys(Some(&scope)).await? {
            keys.insert(k.name, k.value);
        }
        json.insert(label.into(), Value::Object(keys));
    }
    Ok(Value::Object(json))
}

/// The scopes a run of `pack` on behalf of `user` reads, by their name in templates:
/// `system`, `pack`, and `user` when there is a user.
fn kv_scopes(pack: &str, user: Option<&str>) -> Vec<(&'static str, KeyScope)> {
    let mut scopes = vec![
        ("system", KeyScope::System),
        ("pack", KeyScope::Pack(pack.to_string())),
    ];
    if let Some(u) = user {
        scopes.push(("user", KeyScope::User(u.to_string())));
    }
    scopes
}

/// The scopes a rule of `pack` reads: those of its system user's runs.
fn rule_scopes(shared: &Shared, pack: &str) -> Vec<(&'static str, KeyScope)> {
    kv_scopes(pack, shared.config.system_user.as_deref())
}

/// The keys a workflow run of `pack` on behalf of `user` reads with `st2kv(…)`: the system
/// keys, the pack's and the user's (encrypted ones decrypted with the engine's key, read
/// with `decrypt=true` only; when that fails, why).
pub(crate) async fn kv_snapshot(
    shared: &Shared,
    pack: &str,
    user: Option<&str>,
) -> Result<KvSnapshot> {
    let cipher = shared.cipher();
    let mut kv = KvSnapshot::new();
    if let Some(u) = user {
        kv.set_user(u);
    }
    for (label, scope) in kv_scopes(pack, user) {
        for k in shared.store.list_keys(Some(&scope)).await? {
            if k.encrypted {
                let what = format!("key '{}' ({})", k.name, k.scope);
                let value = match &cipher {
                    Some(c) => c.open(&k.value, &what).map_err(|e| e.to_string()),
                    None => Err("it is encrypted, and this engine has no encryption key".into()),
                };
                kv.insert_encrypted(label, &k.name, value);
            } else {
                kv.insert(label, &k.name, k.value);
            }
        }
    }
    Ok(kv)
}

/// What `decrypt_kv` opens with in the templates of `rule` (`None` when the rule does not
/// read the key store), and its template value.
pub(crate) fn keyring(
    shared: &Shared,
    rule: &CompiledRule,
) -> (Option<Arc<crate::template::keyring::Keyring>>, JValue) {
    if !rule.decrypts {
        return (None, JValue::from(()));
    }
    let ring = Arc::new(crate::template::keyring::Keyring::new(shared.cipher()));
    let value = JValue::from_dyn_object(ring.clone());
    (Some(ring), value)
}

/// The key-value namespace of a rule when its conditions or params use it (else empty, and
/// the store is not read).
pub(crate) async fn rule_kv(shared: &Shared, rule: &CompiledRule) -> Result<(JValue, Value)> {
    use crate::template::kv_refs::KvRefs;
    match &rule.kv {
        KvRefs::None => Ok((JValue::from(()), Value::Null)),
        KvRefs::All => kv_context(shared, rule.rule.pack()).await,
        KvRefs::Keys(keys) => {
            kv_keys(shared, rule.rule.pack(), keys, rule.expression.is_some()).await
        }
    }
}

/// The key-value namespace holding only `keys` (`(scope, name)`, scope `system`, `pack`
/// or `user`), those that exist: what a rule whose templates name their keys reads (the
/// `user` scope only when the engine has a system user). `json`: also as JSON (for a rule
/// expression).
async fn kv_keys(
    shared: &Shared,
    pack: &str,
    keys: &[(String, String)],
    json: bool,
) -> Result<(JValue, Value)> {
    use std::collections::BTreeMap;
    let scopes = rule_scopes(shared, pack);
    let mut found: BTreeMap<&str, BTreeMap<String, Value>> =
        scopes.iter().map(|(l, _)| (*l, BTreeMap::new())).collect();
    for (scope, name) in keys {
        let Some((label, s)) = scopes.iter().find(|(l, _)| l == scope) else {
            continue;
        };
        if let Some(k) = shared.store.get_key(s, name).await?
            && let Some(into) = found.get_mut(label)
        {
            into.insert(k.name, k.value);
        }
    }
    let as_json = if json {
        serde_json::to_value(&found).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let ns = JValue::from(
        found
            .into_iter()
            .map(|(label, m)| {
                let keys: BTreeMap<String, JValue> = m
                    .into_iter()
                    .map(|(k, v)| (k, crate::template::to_jinja(&v)))
                    .collect();
                (label, JValue::from(keys))
            })
            .collect::<BTreeMap<&str, JValue>>(),
    );
    Ok((ns, as_json))
}

/// Renders templated criteria patterns (compiled with the rule) against the rule's context,
/// built on first use.
pub(crate) struct CtxRenderer<'a> {
    pub shared: &'a Shared,
    /// The event's payload: `trigger.…` and `payload.…` lookups read it in place.
    pub payload: &'a Value,
    pub patterns: &'a HashMap<String, CompiledValue>,
    pub ctx: &'a OnceLock<JValue>,
    pub make: &'a (dyn Fn() -> JValue + Sync),
    pub rule: &'a str,
}

impl CtxRenderer<'_> {
    /// The rule's template context.
    pub(super) fn ctx(&self) -> &JValue {
        self.ctx.get_or_init(self.make)
    }
}

/// A plain lookup of `trigger.…` or `payload.…` reads the payload itself: the context (the
/// payload converted to template values, with the event, rule, pack and key-value names) is
/// made only for a template that needs more.
impl crate::template::RenderCtx for CtxRenderer<'_> {
    fn ctx(&self) -> &JValue {
        CtxRenderer::ctx(self)
    }

    fn direct(&self, path: &[String]) -> Option<Value> {
        match path[0].as_str() {
            "trigger" | "payload" => crate::template::json_path(self.payload, &path[1..]).cloned(),
            _ => None,
        }
    }
}

impl PatternRenderer for CtxRenderer<'_> {
    fn render(&self, template: &str) -> std::result::Result<Value, String> {
        let templates = &self.shared.templates;
        match self.patterns.get(template) {
            Some(compiled) => templates.render_in(compiled, self),
            None => templates.render_pattern(
                &format!("rule '{}' criteria pattern", self.rule),
                template,
                self.ctx(),
            ),
        }
        .map_err(|e| match e {
            Error::Template { message, .. } => message,
            other => other.to_string(),
        })
    }
}

/// Evaluates a rule's Rhai expression over `event`, `payload`, `trigger`, `pack`, `kv`.
pub(crate) fn eval_expression(
    shared: &Shared,
    rule: &CompiledRule,
    event: &Event,
    kv: &Value,
) -> Result<bool> {
    let Some(ast) = &rule.expression else {
        return Ok(true);
    };
    let location = format!("rule '{}' expression", rule.rule.rule_ref);
    let event_v = json!({
        "id": event.id.to_string(),
        "trigger": event.trigger,
        "payload": event.payload,
        "created": event.created.to_rfc3339(),
    });
    let pack_v = json!({
        "ref": rule.rule.pack(),
        "config": shared.catalog.pack(rule.rule.pack()).map(|p| p.config.clone()).unwrap_or(Value::Null),
    });
    let vars = [
        ("event", &event_v),
        ("payload", &event.payload),
        ("trigger", &event.payload),
        ("pack", &pack_v),
        ("kv", kv),
    ];
    match shared
        .sandbox
        .eval(&shared.sandbox.engine(None, None), &location, ast, &vars)?
    {
        Value::Bool(b) => Ok(b),
        other => Err(Error::Script {
            location,
            message: format!("must give a boolean, gave {other}"),
        }),
    }
}
