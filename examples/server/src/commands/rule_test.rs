//! `attune rule test --pack DIR [--rule REF] --event FILE|-` (StackStorm's st2-rule-tester).

use super::{Failure, engine_with, read_json_arg};
use crate::Report;
use crate::cli::RuleTestArgs;
use crate::output::{Style, indent, json_text};
use attune_core::RuleTest;
use serde_json::{Value, json};

/// Tests the rules; exit 0 when one matched and every matched rule's params render, 1 when
/// none matched or a matched rule's params do not render (its enforcement would fail).
pub(super) async fn run(
    args: RuleTestArgs,
    setup: &super::Setup,
    style: Style,
) -> Result<Report, Failure> {
    let mut event = read_json_arg(&args.event, "event", &setup.interrupt).await?;
    let trigger = event
        .get("trigger")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::Other(format!(
                "event file '{}' needs \"trigger\": \"pack.name\" (and \"payload\": {{...}})",
                args.event
            ))
        })?
        .to_string();
    // Taken, not copied: a large payload is held once.
    let payload = event
        .get_mut("payload")
        .map_or_else(|| json!({}), Value::take);
    let engine = engine_with(&args.packs.packs, setup).await?;
    let tests = engine
        .test_rules(&trigger, &payload, args.rule.as_deref())
        .await?;
    let matched = tests.iter().any(|t| t.matched);
    let mut text = String::new();
    if tests.is_empty() {
        text.push_str(&format!("no rule listens to '{trigger}'\n"));
    }
    for t in &tests {
        text.push_str(&rule_text(style, t));
    }
    let n = tests.iter().filter(|t| t.matched).count();
    text.push_str(&format!(
        "{n} of {} rule{} matched\n",
        tests.len(),
        if tests.len() == 1 { "" } else { "s" }
    ));
    // A match whose params do not render would fail its enforcement: not a good answer.
    let unrendered = tests
        .iter()
        .filter(|t| t.matched && matches!(t.params, Some(Err(_))))
        .count();
    if unrendered > 0 {
        text.push_str(&format!(
            "{unrendered} matched rule{} would fail: {} params do not render\n",
            if unrendered == 1 { "" } else { "s" },
            if unrendered == 1 { "its" } else { "their" },
        ));
    }
    Ok(Report {
        json: json!({
            "trigger": trigger,
            "matched": matched,
            "params_do_not_render": unrendered,
            "rules": tests.iter().map(rule_json).collect::<Vec<_>>(),
        }),
        text,
        code: u8::from(!matched || unrendered > 0),
    })
}

fn rule_text(style: Style, t: &RuleTest) -> String {
    let verdict = if t.matched {
        style.good("MATCHED")
    } else {
        style.bad("not matched")
    };
    let kind = if t.backstop { " (backstop)" } else { "" };
    let mut out = format!("rule {}{kind}: {verdict}\n", style.bold(&t.rule));
    if let Some(note) = &t.note {
        out.push_str(&format!("  {}\n", style.dim(note)));
    }
    if t.criteria.is_empty() {
        out.push_str(&format!(
            "  {}\n",
            style.dim("no criteria (matches every event)")
        ));
    }
    for c in &t.criteria {
        let mark = if c.passed {
            style.good("pass")
        } else {
            style.bad("FAIL")
        };
        let value = c
            .value
            .as_ref()
            .map_or_else(|| "(missing)".to_string(), Value::to_string);
        out.push_str(&format!(
            "  {mark} {} {} {} — saw {value}\n",
            c.key, c.operator, c.pattern
        ));
        if let Some(e) = &c.error {
            out.push_str(&format!("       {}\n", style.bad(e)));
        }
    }
    match &t.expression {
        Some(Ok(b)) => out.push_str(&format!(
            "  {} expression is {b}\n",
            if *b {
                style.good("pass")
            } else {
                style.bad("FAIL")
            }
        )),
        Some(Err(e)) => out.push_str(&format!("  {} expression: {e}\n", style.bad("FAIL"))),
        None => {}
    }
    match &t.params {
        Some(Ok(p)) => out.push_str(&format!(
            "  action {} with {}\n",
            t.action,
            indent(&json_text(p), 4)
        )),
        Some(Err(e)) => out.push_str(&format!(
            "  action {}: {}\n",
            t.action,
            style.bad(&format!("params do not render: {e}"))
        )),
        None => {}
    }
    out
}

/// The documented JSON shape of one rule's test (docs/cli.md).
fn rule_json(t: &RuleTest) -> Value {
    json!({
        "rule": t.rule,
        "action": t.action,
        "backstop": t.backstop,
        "enabled": t.enabled,
        "matched": t.matched,
        "criteria": t.criteria,
        "expression": t.expression.as_ref().map(|e| match e {
            Ok(b) => json!({"passed": b}),
            Err(msg) => json!({"passed": false, "error": msg}),
        }),
        "params": t.params.as_ref().and_then(|p| p.as_ref().ok()),
        "params_error": t.params.as_ref().and_then(|p| p.as_ref().err()),
        "note": t.note,
    })
}
