//! Rule files (`rules/*.yaml`) in the StackStorm and the earlier-Attune shape.

use super::files::PackDir;
use super::{Located, qualify};
use crate::document::fields::{Fields, Source, a_type};
use crate::document::problem::Report;
use crate::document::yaml::item;
use crate::model::Rule;
use serde_json::{Map, Value};

/// Earlier-Attune condition operators → StackStorm operator names.
const ATTUNE_OPERATORS: &[(&str, &str)] = &[
    ("not_equals", "nequals"),
    ("starts_with", "startswith"),
    ("ends_with", "endswith"),
    ("greater_than", "greaterthan"),
    ("less_than", "lessthan"),
    ("in", "inside"),
    ("not_in", "ninside"),
    ("matches", "regex"),
];

/// Reads one rule file.
pub(crate) fn read(dir: &PackDir, pack: &str, file: &str, r: &mut Report) -> Option<Located<Rule>> {
    let (src, doc) = dir.read_yaml(file, r)?;
    from_doc(src, &doc.value, pack, r)
}

/// Reads a rule of pack `pack` from a parsed document (`src` locates its problems).
pub(crate) fn from_doc(
    src: Source,
    doc: &Value,
    pack: &str,
    r: &mut Report,
) -> Option<Located<Rule>> {
    let mut f = Fields::new(&src, "", doc, r)?;
    let name = f.name_in_pack(r, &["ref", "name"], pack);
    let description = f.string(r, &["description"]).map(|f| f.value);
    let enabled = f.boolean(r, &["enabled"]);
    let mut backstop = f.boolean(r, &["backstop"]).unwrap_or(false);
    let notify = f
        .any(&["notify"])
        .and_then(|n| super::notify_of(&src, &n.path, n.value, r));
    let mut paths = Vec::new();
    // Keys of the two shapes that say the same thing: one of each pair.
    for (a, b) in [
        ("trigger", "trigger_ref"),
        ("action", "action_ref"),
        ("criteria", "conditions"),
    ] {
        if let (Some(x), Some(_)) = (f.any(&[a]), f.any(&[b])) {
            r.push(src.problem(&x.path, format!("give either '{a}' or '{b}', not both")));
        }
    }

    // Trigger: `trigger: {type, parameters}` or `trigger_ref` + `trigger_params`.
    let mut trigger = None;
    let mut trigger_params = Value::Null;
    if let Some(t) = f.any(&["trigger"]) {
        if let Some(mut tf) = Fields::new(&src, &t.path, t.value, r) {
            trigger = tf.required_string(r, &["type", "ref"]);
            if let Some(p) = tf.mapping(r, &["parameters"]) {
                trigger_params = Value::Object(p.value.clone());
            }
            tf.accept(&["description", "name", "pack"]);
            tf.finish(r);
        }
    } else if let Some(t) = f.string(r, &["trigger_ref"]) {
        trigger = Some(t);
    } else {
        r.push(src.problem("", "missing required key 'trigger' (or 'trigger_ref')"));
    }
    if let Some(p) = f.mapping(r, &["trigger_params"]) {
        trigger_params = Value::Object(p.value.clone());
    }

    // Action: `action: {ref, parameters}` or `action_ref` + `action_params`.
    let mut action = None;
    let mut params = Map::new();
    let mut params_path = "action_params".to_string();
    if let Some(a) = f.any(&["action"]) {
        if let Some(mut af) = Fields::new(&src, &a.path, a.value, r) {
            action = af.required_string(r, &["ref"]);
            if let Some(p) = af.mapping(r, &["parameters"]) {
                params_path = p.path;
                params = p.value.clone();
            } else {
                params_path = af.at("parameters");
            }
            af.finish(r);
        }
    } else if let Some(a) = f.string(r, &["action_ref"]) {
        action = Some(a);
    } else {
        r.push(src.problem("", "missing required key 'action' (or 'action_ref')"));
    }
    if let Some(p) = f.mapping(r, &["action_params"]) {
        params_path = p.path;
        params = p.value.clone();
    }

    // Conditions: `criteria` map, `conditions` list or `{expression}`, `expression`.
    let mut criteria = Value::Object(Map::new());
    let mut criteria_path = "criteria".to_string();
    let mut expression = None;
    if let Some(c) = f.mapping(r, &["criteria"]) {
        criteria_path = c.path;
        criteria = Value::Object(c.value.clone());
    }
    if let Some(c) = f.any(&["conditions"]) {
        criteria_path = c.path.clone();
        match c.value {
            Value::Array(list) => criteria = Value::Object(conditions(&src, &c.path, list, r)),
            Value::Object(m) if m.contains_key("expression") => {
                let mut cf = Fields::new(&src, &c.path, c.value, r)?;
                expression = cf.string(r, &["expression"]);
                cf.finish(r);
            }
            Value::Object(m) => criteria = Value::Object(m.clone()),
            other => r.push(src.problem(
                &c.path,
                format!("must be a list of conditions, a criteria mapping or {{expression: ...}}, got {}", a_type(other)),
            )),
        }
    }
    if let Some(e) = f.string(r, &["expression"]) {
        if expression.is_some() {
            r.push(src.problem(
                &e.path,
                "the expression is given twice (here and in 'conditions')",
            ));
        }
        expression = Some(e);
    }
    // StackStorm: `type: {ref: standard | backstop}`.
    if let Some(t) = f.any(&["type"])
        && let Some(mut tf) = Fields::new(&src, &t.path, t.value, r)
    {
        if let Some(kind) = tf.string(r, &["ref"]) {
            match kind.value.as_str() {
                "standard" => {}
                "backstop" => backstop = true,
                other => r.push(src.problem(
                    &kind.path,
                    format!("unknown rule type '{other}' (standard or backstop)"),
                )),
            }
        }
        tf.accept(&["parameters"]);
        tf.finish(r);
    }
    f.accept(&["tags", "uid", "id", "metadata_file", "label", "context"]);
    f.finish(r);

    let rule_ref = qualify(&src, &name?, pack, r)?;
    let trigger = trigger?;
    let action = action?;
    if super::NOT_EMITTED.contains(&trigger.value.as_str()) {
        r.warn(src.problem(
            &trigger.path,
            format!(
                "trigger type '{}' is one of StackStorm's system triggers that Attune does \
                 not emit yet: this rule loads but does not fire",
                trigger.value
            ),
        ));
    }
    paths.push(("trigger", trigger.path.clone()));
    paths.push(("action", action.path.clone()));
    paths.push(("params", params_path));
    paths.push(("criteria", criteria_path));
    let mut rule = Rule::new(
        rule_ref,
        super::canonical_trigger(&trigger.value),
        action.value,
    )
    .criteria(criteria);
    rule.description = description.unwrap_or_default();
    rule.trigger_params = trigger_params;
    rule.action_params = params;
    rule.backstop = backstop;
    rule.notify = notify.unwrap_or_default();
    if let Some(e) = enabled {
        rule.enabled = e;
    }
    if let Some(e) = expression {
        paths.push(("expression", e.path));
        rule.expression = Some(e.value);
    }
    Some(Located {
        def: rule,
        src,
        paths,
    })
}

/// `[{field, operator, value}]` → a criteria map (`field#n` keys when a field repeats).
fn conditions(src: &Source, path: &str, list: &[Value], r: &mut Report) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, c) in list.iter().enumerate() {
        let at = item(path, i);
        let Some(mut cf) = Fields::new(src, &at, c, r) else {
            continue;
        };
        let field = cf.required_string(r, &["field"]);
        let op = cf.required_string(r, &["operator", "type"]);
        let value = cf.any(&["value", "pattern"]).map(|v| v.value.clone());
        cf.finish(r);
        let (Some(field), Some(op)) = (field, op) else {
            continue;
        };
        let op = ATTUNE_OPERATORS
            .iter()
            .find(|(a, _)| *a == op.value)
            .map_or(op.value.clone(), |(_, st2)| (*st2).to_string());
        let rooted = ["trigger", "payload"].iter().any(|root| {
            field
                .value
                .strip_prefix(root)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        });
        let mut key = if rooted {
            field.value.clone()
        } else {
            format!("payload.{}", field.value)
        };
        if out.contains_key(&key) {
            key = format!("{key}#{i}");
        }
        let mut crit = Map::new();
        crit.insert("type".into(), Value::String(op));
        crit.insert("pattern".into(), value.unwrap_or(Value::Null));
        out.insert(key, Value::Object(crit));
    }
    out
}
