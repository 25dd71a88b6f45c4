//! Reading a chain file: its keys and its nodes' keys, each problem located.

use super::{ActionChain, ChainNode};
use crate::document::fields::{Field, Fields, Source, a_type};
use crate::document::problem::Report;
use crate::document::yaml::{child, item};
use serde_json::Value;

/// The chain in `value` (a parsed file), with the index in the file's `chain` list of each
/// node read (a node without a name or a ref is reported and left out); problems go to
/// `r`. `None` when there are no nodes to check further (not a mapping, or no `chain` list).
pub(crate) fn read(
    src: &Source,
    value: &Value,
    r: &mut Report,
) -> Option<(ActionChain, Vec<usize>)> {
    if crate::workflow::mistral::refuse_mistral(src, value, r) {
        return None;
    }
    let mut f = Fields::new(src, "", value, r)?;
    let mut chain = ActionChain {
        default: f.string(r, &["default"]).map(|d| d.value),
        ..ActionChain::default()
    };
    if let Some(v) = f.mapping(r, &["vars"]) {
        chain.vars = v
            .value
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    let nodes = f.any(&["chain"]);
    f.finish(r);
    let Some(nodes) = nodes else {
        r.push(src.problem("", "missing required key 'chain' (the list of nodes)"));
        return None;
    };
    let Value::Array(items) = nodes.value else {
        let msg = format!("must be a list of nodes, got {}", a_type(nodes.value));
        r.push(src.problem(&nodes.path, msg));
        return None;
    };
    let mut at = Vec::new();
    for (i, v) in items.iter().enumerate() {
        if let Some(n) = read_node(src, &item(&nodes.path, i), v, r) {
            chain.nodes.push(n);
            at.push(i);
        }
    }
    Some((chain, at))
}

/// One node; `None` when it has no name or no ref (reported).
fn read_node(src: &Source, path: &str, value: &Value, r: &mut Report) -> Option<ChainNode> {
    let mut f = Fields::new(src, path, value, r)?;
    let name = f.required_string(r, &["name"]);
    let action = f.required_string(r, &["ref"]);
    let parameters = f.mapping(r, &["parameters"]);
    let params = f.mapping(r, &["params"]);
    if let (Some(_), Some(p)) = (&parameters, &params) {
        let msg = "give 'parameters' or 'params' (its older name), not both";
        r.push(src.problem(&p.path, msg));
    }
    let on_success = target(&mut f, r, "on-success");
    let on_failure = target(&mut f, r, "on-failure");
    let publish = f.mapping(r, &["publish"]);
    let description = f.string(r, &["description"]).map(|d| d.value);
    // As in action files: notifications are accepted, and not sent (docs/workflows.md).
    if let Some(n) = f.any(&["notify"])
        && !n.value.is_object()
    {
        let msg = format!("must be a mapping, got {}", a_type(n.value));
        r.push(src.problem(&n.path, msg));
    }
    f.finish(r);
    let params = parameters.or(params).map(|p| p.value.clone());
    Some(ChainNode {
        name: name?.value,
        action: action?.value,
        params: params.unwrap_or_default(),
        on_success,
        on_failure,
        publish: publish
            .map(|p| {
                p.value
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        description,
    })
}

/// `on-success` / `on-failure`: a node name (a template is reported: they are not rendered).
fn target(f: &mut Fields<'_>, r: &mut Report, key: &'static str) -> Option<String> {
    let Field { path, value } = match key {
        "on-success" => f.string(r, &["on-success"])?,
        _ => f.string(r, &["on-failure"])?,
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return None; // StackStorm's default: no next node
    }
    if crate::template::is_template(&value) {
        let msg = format!(
            "'{key}' must name a node; a template ('{value}') is not rendered here (use \
             publish and several nodes instead)"
        );
        r.push(f.src.problem(&path, msg));
        return None;
    }
    Some(value)
}

/// The key path of node `i`'s `key` (for problems found after reading).
pub(crate) fn node_path(i: usize, key: &str) -> String {
    child(&item("chain", i), key)
}
