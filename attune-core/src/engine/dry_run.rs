//! Matching without side effects: which rules would fire for an event.

use super::Engine;
use super::context::{CtxRenderer, EventContext, kv_context};
use super::matching::verdict;
use crate::model::Event;
use crate::{Error, Result};
use serde_json::Value;
use std::sync::OnceLock;

/// One rule's verdict in a dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleVerdict {
    /// The rule.
    pub rule: String,
    /// Whether it matched.
    pub matched: bool,
    /// The condition error that made it not match, if any.
    pub error: Option<String>,
}

impl Engine {
    /// Evaluates the enabled rules of `trigger_ref` against `payload` exactly as the matching
    /// stage would (index by trigger, criteria, expression, backstop), writing nothing.
    /// Returns one verdict per evaluated rule, standard rules first.
    pub async fn dry_run(&self, trigger_ref: &str, payload: &Value) -> Result<Vec<RuleVerdict>> {
        let s = &self.shared;
        if s.registry.trigger(trigger_ref).is_none() {
            return Err(Error::not_found("trigger type", trigger_ref));
        }
        let Some(rules) = s.registry.rules_for(trigger_ref) else {
            return Ok(Vec::new());
        };
        let event = Event::new(trigger_ref, payload.clone(), s.now());
        let ectx: OnceLock<EventContext> = OnceLock::new();
        let mut out = Vec::with_capacity(rules.standard.len());
        let mut any = false;
        for (backstop, list) in [(false, &rules.standard), (true, &rules.backstop)] {
            if backstop && any {
                break;
            }
            for rule in list {
                let (kv_j, kv_json) = if rule.uses_kv {
                    kv_context(s, rule.rule.pack()).await?
                } else {
                    (minijinja::Value::from(()), Value::Null)
                };
                let rule_ctx = OnceLock::new();
                let make = || {
                    ectx.get_or_init(|| EventContext::new(&event))
                        .for_rule(s, rule, &kv_j)
                };
                let renderer = CtxRenderer {
                    shared: s,
                    ctx: &rule_ctx,
                    make: &make,
                    rule: &rule.rule.rule_ref,
                };
                let v = verdict(s, rule, &event, &renderer, &kv_json, event.created);
                any |= v == Ok(true);
                out.push(RuleVerdict {
                    rule: rule.rule.rule_ref.clone(),
                    matched: v == Ok(true),
                    error: v.err(),
                });
            }
        }
        Ok(out)
    }
}
