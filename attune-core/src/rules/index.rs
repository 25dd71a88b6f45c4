//! Compiled rules and the index by trigger.

use super::criteria::Criteria;
use crate::model::{Name, Rule};
use crate::template::CompiledValue;
use rhai::AST;
use std::collections::HashMap;
use std::sync::Arc;

/// A rule with everything compiled once at registration: criteria (regexes and pattern
/// templates included), the Rhai expression, the param templates.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// The definition.
    pub rule: Rule,
    /// The rule's ref as its records carry it (made once, copied without allocating).
    pub name: Name,
    /// Compiled criteria.
    pub criteria: Criteria,
    /// Compiled expression, if any.
    pub expression: Option<Arc<AST>>,
    /// Compiled action params.
    pub params: CompiledValue,
    /// The criteria's templated patterns, compiled, by source.
    pub patterns: HashMap<String, CompiledValue>,
    /// What its templates and expression read of the key-value store (`kv`, `st2kv`).
    pub(crate) kv: crate::template::kv_refs::KvRefs,
    /// Whether its templates call `decrypt_kv` (they get the engine's key when they do).
    pub(crate) decrypts: bool,
    /// The `rule` namespace of templates (`rule.ref`, `rule.action`, `rule.trigger`).
    pub context: minijinja::Value,
}

/// The enabled rules of one trigger, standard and backstop.
#[derive(Debug, Default, Clone)]
pub(crate) struct TriggerRules {
    /// Standard rules, by ref.
    pub standard: Vec<Arc<CompiledRule>>,
    /// Backstop rules (fire only when no standard rule matched), by ref.
    pub backstop: Vec<Arc<CompiledRule>>,
    /// The same rules by their trigger parameters ([`canonical_params`]): an event of one
    /// trigger instance (a timer, a sensor's trigger) finds its rules without a scan.
    pub by_params: HashMap<String, Arc<TriggerRules>>,
}

impl TriggerRules {
    fn add(&mut self, rule: &Arc<CompiledRule>) {
        let list = if rule.rule.backstop {
            &mut self.backstop
        } else {
            &mut self.standard
        };
        let at = list.partition_point(|r| r.rule.rule_ref < rule.rule.rule_ref);
        list.insert(at, rule.clone());
    }

    fn drop_rule(&mut self, rule_ref: &str) {
        self.standard.retain(|r| r.rule.rule_ref != rule_ref);
        self.backstop.retain(|r| r.rule.rule_ref != rule_ref);
    }

    fn is_empty(&self) -> bool {
        self.standard.is_empty() && self.backstop.is_empty()
    }

    /// The rules of the trigger instance with parameters `params` (none: every rule).
    pub(crate) fn of_instance(&self, params: Option<&serde_json::Value>) -> Option<&TriggerRules> {
        match params {
            None => Some(self),
            Some(p) => self.by_params.get(&canonical_params(p)).map(|r| &**r),
        }
    }
}

/// Trigger parameters as JSON with object keys sorted, `{}` and `null` alike: rules whose
/// parameters have the same canonical form are of the same trigger instance.
pub(crate) fn canonical_params(v: &serde_json::Value) -> String {
    let mut out = Vec::with_capacity(64);
    canonical_into(v, &mut out);
    // Only JSON text was written: valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the canonical form of `v` to `out` (one buffer: this runs for every event of a
/// trigger instance).
fn canonical_into(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(m) if m.is_empty() => out.extend_from_slice(b"null"),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing JSON to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                canonical_into(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_into(x, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// Enabled rules indexed by trigger ref: matching an event touches only the rules of its
/// trigger, whatever the number of rules on other triggers.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    by_trigger: HashMap<String, Arc<TriggerRules>>,
    by_ref: HashMap<String, Arc<CompiledRule>>,
}

impl RuleIndex {
    /// The rules of `trigger`.
    pub(crate) fn for_trigger(&self, trigger: &str) -> Option<Arc<TriggerRules>> {
        self.by_trigger.get(trigger).cloned()
    }

    /// A rule by ref (enabled or not).
    pub(crate) fn get(&self, rule_ref: &str) -> Option<&Arc<CompiledRule>> {
        self.by_ref.get(rule_ref)
    }

    /// Every rule (enabled or not), unordered.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<CompiledRule>> {
        self.by_ref.values()
    }

    /// Inserts or replaces a rule; returns the one it replaced.
    pub(crate) fn insert(&mut self, rule: Arc<CompiledRule>) -> Option<Arc<CompiledRule>> {
        let old = self.remove(&rule.rule.rule_ref);
        if rule.rule.enabled {
            let entry = self
                .by_trigger
                .entry(rule.rule.trigger.clone())
                .or_default();
            // Copy on write: a matching that holds the set keeps its version; when none does
            // (registering many rules), the set changes in place.
            let set = Arc::make_mut(entry);
            set.add(&rule);
            let key = canonical_params(&rule.rule.trigger_params);
            Arc::make_mut(set.by_params.entry(key).or_default()).add(&rule);
        }
        self.by_ref.insert(rule.rule.rule_ref.clone(), rule);
        old
    }

    /// Removes a rule; returns it.
    pub(crate) fn remove(&mut self, rule_ref: &str) -> Option<Arc<CompiledRule>> {
        let old = self.by_ref.remove(rule_ref)?;
        if let Some(entry) = self.by_trigger.get_mut(&old.rule.trigger) {
            let set = Arc::make_mut(entry);
            set.drop_rule(rule_ref);
            let key = canonical_params(&old.rule.trigger_params);
            if let Some(instance) = set.by_params.get_mut(&key) {
                let inner = Arc::make_mut(instance);
                inner.drop_rule(rule_ref);
                if inner.is_empty() {
                    set.by_params.remove(&key);
                }
            }
            if set.is_empty() {
                self.by_trigger.remove(&old.rule.trigger);
            }
        }
        Some(old)
    }

    /// Number of rules.
    pub(crate) fn len(&self) -> usize {
        self.by_ref.len()
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_params as canonical;
    use serde_json::json;

    #[test]
    fn canonical_params_sort_keys_and_empty_is_none() {
        assert_eq!(
            canonical(&json!({"unit": "seconds", "delta": 5})),
            canonical(&json!({"delta": 5, "unit": "seconds"}))
        );
        assert_eq!(canonical(&json!({})), canonical(&json!(null)));
        assert_ne!(
            canonical(&json!({"delta": 5})),
            canonical(&json!({"delta": 6}))
        );
        // The exact form: compact JSON, keys sorted at every depth, strings escaped, an
        // empty object as null.
        assert_eq!(
            canonical(&json!({"b": [1, {"z": "q\"", "a": {}}], "a": "x\n"})),
            r#"{"a":"x\n","b":[1,{"a":null,"z":"q\""}]}"#
        );
    }
}
