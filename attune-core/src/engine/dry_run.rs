//! Matching without side effects: which rules would fire for an event.

use super::Engine;
use super::context::{CtxRenderer, EventContext, EventScope, eval_expression, rule_kv};
use super::matching::verdict;
use crate::model::Event;
use crate::rules::{CompiledRule, CriterionCheck};
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

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

/// # Rule testing
///
/// What the rules of a trigger would do with a payload, writing nothing.
impl Engine {
    /// Evaluates the enabled rules of `trigger_ref` against `payload` exactly as the matching
    /// stage would (index by trigger, criteria, expression, backstop), writing nothing.
    /// Returns one verdict per evaluated rule, standard rules first.
    pub async fn dry_run(&self, trigger_ref: &str, payload: &Value) -> Result<Vec<RuleVerdict>> {
        let s = &self.shared;
        if s.catalog.trigger(trigger_ref).is_none() {
            return Err(Error::not_found("trigger type", trigger_ref));
        }
        let Some(rules) = s.catalog.rules_for(trigger_ref) else {
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
                let (kv_j, kv_json) = rule_kv(s, rule).await?;
                let (_ring, ring_j) = super::context::keyring(s, rule);
                let rule_ctx = OnceLock::new();
                let make = || {
                    ectx.get_or_init(|| EventContext::new(&event))
                        .for_rule(s, rule, &kv_j, &ring_j)
                };
                let renderer = CtxRenderer {
                    shared: s,
                    payload: &event.payload,
                    patterns: &rule.patterns,
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

/// One rule's detailed result in [`Engine::test_rules`] (StackStorm's st2-rule-tester).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleTest {
    /// The rule.
    pub rule: String,
    /// The action it runs.
    pub action: String,
    /// Whether it is a backstop rule.
    pub backstop: bool,
    /// Whether it is enabled (disabled rules are tested too, and never match).
    pub enabled: bool,
    /// Whether it matched (criteria, expression, enabled, backstop semantics).
    pub matched: bool,
    /// Every criterion with the value it saw, the pattern and the outcome.
    pub criteria: Vec<CriterionCheck>,
    /// The expression's outcome, when the rule has one: `Ok(bool)` or the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<std::result::Result<bool, String>>,
    /// The rendered and validated action params (secrets redacted) when it matched, or why
    /// they could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<std::result::Result<Value, String>>,
    /// Why it did not match when that is not a criterion (disabled, backstop skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// # Rule testing: explained
impl Engine {
    /// Tests the rules of `trigger_ref` (or only `rule`) against `payload` and explains each
    /// one: every criterion with its operator, the value it saw, the pattern and pass/fail;
    /// the expression; and, for a rule that matched, the action params it would run with.
    /// Writes nothing. Backstop rules match only when no standard rule did.
    pub async fn test_rules(
        &self,
        trigger_ref: &str,
        payload: &Value,
        rule: Option<&str>,
    ) -> Result<Vec<RuleTest>> {
        let s = &self.shared;
        if s.catalog.trigger(trigger_ref).is_none() {
            return Err(Error::not_found("trigger type", trigger_ref));
        }
        if let Some(r) = rule {
            match s.catalog.rule(r) {
                None => return Err(Error::not_found("rule", r)),
                Some(c) if c.rule.trigger != trigger_ref => {
                    return Err(Error::invalid(
                        format!("rule '{r}'"),
                        format!("it listens to '{}', not to '{trigger_ref}'", c.rule.trigger),
                    ));
                }
                Some(_) => {}
            }
        }
        let mut rules: Vec<Arc<CompiledRule>> = s
            .catalog
            .rules_of_trigger(trigger_ref)
            .into_iter()
            .filter(|r| rule.is_none_or(|x| r.rule.rule_ref == x))
            .collect();
        rules.sort_by(|a, b| {
            (a.rule.backstop, &a.rule.rule_ref).cmp(&(b.rule.backstop, &b.rule.rule_ref))
        });
        let event = Event::new(trigger_ref, payload.clone(), s.now());
        let ectx: OnceLock<EventContext> = OnceLock::new();
        let scope = EventScope {
            payload: &event.payload,
        };
        let mut out = Vec::with_capacity(rules.len());
        let mut standard_matched = false;
        for rule in rules {
            let (kv_j, kv_json) = rule_kv(s, &rule).await?;
            let (ring, ring_j) = super::context::keyring(s, &rule);
            let rule_ctx = OnceLock::new();
            let make = || {
                ectx.get_or_init(|| EventContext::new(&event))
                    .for_rule(s, &rule, &kv_j, &ring_j)
            };
            let renderer = CtxRenderer {
                shared: s,
                payload: &event.payload,
                patterns: &rule.patterns,
                ctx: &rule_ctx,
                make: &make,
                rule: &rule.rule.rule_ref,
            };
            let eval = rule
                .criteria
                .explain(&scope, Some(&renderer), event.created);
            let expression = match (&rule.expression, eval.matched) {
                (Some(_), true) => {
                    Some(eval_expression(s, &rule, &event, &kv_json).map_err(|e| e.to_string()))
                }
                _ => None,
            };
            let conditions = eval.matched && expression.as_ref().is_none_or(|e| *e == Ok(true));
            let mut note = None;
            let matched = if !rule.rule.enabled {
                note = Some("the rule is disabled".to_string());
                false
            } else if rule.rule.backstop && standard_matched {
                note = Some("a standard rule matched, so backstop rules do not".to_string());
                false
            } else {
                conditions
            };
            if matched && !rule.rule.backstop {
                standard_matched = true;
            }
            let params = matched.then(|| self.test_params(&rule, &renderer));
            let mut test = RuleTest {
                rule: rule.rule.rule_ref.clone(),
                action: rule.rule.action.clone(),
                backstop: rule.rule.backstop,
                enabled: rule.rule.enabled,
                matched,
                criteria: eval.checks,
                expression,
                params,
                note,
            };
            let action_pack = rule.rule.action.split_once('.').map_or("", |(p, _)| p);
            if let Some(secrets) =
                super::executions::secrets_of_packs(s, action_pack, Some(rule.rule.pack()))
            {
                mask_test(&mut test, &secrets);
            }
            // Values decrypted by the rule's templates are secrets too.
            let opened = ring.map(|r| r.opened()).unwrap_or_default();
            if !opened.is_empty() {
                mask_test(&mut test, &opened);
            }
            out.push(test);
        }
        Ok(out)
    }

    /// The params a matched rule would run its action with (secret params redacted; secret
    /// config values are masked by the caller).
    fn test_params(
        &self,
        rule: &CompiledRule,
        renderer: &CtxRenderer<'_>,
    ) -> std::result::Result<Value, String> {
        let s = &self.shared;
        let rendered = s
            .templates
            .render_in(&rule.params, renderer)
            .map_err(|e| e.to_string())?;
        let Value::Object(params) = rendered else {
            return Err(format!("params rendered to {rendered}, not an object"));
        };
        let action = s
            .catalog
            .action(&rule.rule.action)
            .ok_or_else(|| format!("action '{}' is not registered", rule.rule.action))?;
        let validated = action
            .parameters
            .validate(&params)
            .map_err(|e| format!("params of action '{}': {e}", action.action_ref))?;
        Ok(Value::Object(action.parameters.redact(&validated)))
    }
}

/// Masks secret config values wherever a rule test could show them: rendered patterns, the
/// values seen, errors, params.
fn mask_test(t: &mut RuleTest, secrets: &[String]) {
    use crate::params::{mask_secrets, mask_value};
    for c in &mut t.criteria {
        mask_value(&mut c.pattern, secrets);
        if let Some(v) = &mut c.value {
            mask_value(v, secrets);
        }
        if let Some(e) = &mut c.error {
            *e = mask_secrets(e, secrets);
        }
    }
    if let Some(Err(e)) = &mut t.expression {
        *e = mask_secrets(e, secrets);
    }
    match &mut t.params {
        Some(Ok(p)) => mask_value(p, secrets),
        Some(Err(e)) => *e = mask_secrets(e, secrets),
        None => {}
    }
}
