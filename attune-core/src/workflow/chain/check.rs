//! Checks on a chain: names, the nodes transitions and `default` name, cycles no outcome
//! leaves, templates.

use super::read::node_path;
use super::{ActionChain, RESERVED};
use crate::document::problem::Report;
use crate::document::yaml::child;
use crate::workflow::validate::At;
use petgraph::graph::DiGraph;
use serde_json::Value;
use std::collections::HashMap;

/// Context names a chain template cannot read here (StackStorm has them).
const UNAVAILABLE: [(&str, &str); 1] = [(
    "config_context",
    "the pack config ('config_context') is not available to action chain templates",
)];

/// Every problem of `chain`; `index[k]` is where node `k` is in the file's `chain` list.
pub(crate) fn check(chain: &ActionChain, index: &[usize], at: &At<'_>, r: &mut Report) {
    let node_path = |k: usize, key: &str| node_path(index[k], key);
    if chain.nodes.is_empty() {
        r.push(at.problem("chain", "a chain needs at least one node".into(), None));
        return;
    }
    let names: Vec<&str> = chain.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut seen = HashMap::new();
    for (i, n) in chain.nodes.iter().enumerate() {
        let path = node_path(i, "name");
        if let Some(first) = seen.insert(n.name.as_str(), index[i]) {
            let msg = format!(
                "node '{}' is defined twice (first as chain[{first}])",
                n.name
            );
            r.push(at.problem(&path, msg, None));
        }
        if let Some(why) = bad_node_name(&n.name) {
            r.push(at.problem(&path, why, None));
        }
        for (key, t) in [("on-success", &n.on_success), ("on-failure", &n.on_failure)] {
            if let Some(t) = t
                && !names.contains(&t.as_str())
            {
                let msg = format!(
                    "'{key}' of node '{}' names node '{t}', which does not exist (missing node)",
                    n.name
                );
                r.push(at.problem(&node_path(i, key), msg, hint(t, &names)));
            }
        }
        let params_key = match at.src {
            Some(src) if src.locs.has(&node_path(i, "params")) => "params",
            _ => "parameters",
        };
        for (k, v) in &n.params {
            let p = child(&node_path(i, params_key), k);
            templates(at, &p, v, r);
        }
        for (k, v) in &n.publish {
            let p = child(&node_path(i, "publish"), k);
            if let Some(why) = bad_value_name(k, "published value", &names) {
                r.push(at.problem(&p, why, None));
            }
            templates(at, &p, v, r);
        }
    }
    if let Some(d) = &chain.default
        && !names.contains(&d.as_str())
    {
        let msg = format!("'default' names node '{d}', which does not exist (missing node)");
        r.push(at.problem("default", msg, hint(d, &names)));
    }
    for (k, v) in &chain.vars {
        let p = child("vars", k);
        if let Some(why) = bad_value_name(k, "var", &names) {
            r.push(at.problem(&p, why, None));
        }
        templates(at, &p, v, r);
    }
    cycles(chain, index, at, r);
}

/// Why `name` cannot name a node, if it cannot.
fn bad_node_name(name: &str) -> Option<String> {
    if crate::workflow::Command::parse(name).is_some() {
        return Some(format!(
            "'{name}' is an engine command of workflows; a node cannot have that name"
        ));
    }
    if name.starts_with("__") || RESERVED.contains(&name) {
        return Some(format!(
            "node name '{name}' is reserved (names starting with '__', and 'action_context')"
        ));
    }
    // StackStorm allows any name (`unregister packs`); templates reach one that is not an
    // identifier through `__results['unregister packs']`. A comma would split a task list.
    let ok = !name.trim().is_empty() && !name.contains(',') && !name.chars().any(char::is_control);
    (!ok).then(|| {
        format!("node name '{name}' must not be blank or hold a comma or a control character")
    })
}

/// Why `name` cannot name a var or a published value (`what`), if it cannot.
fn bad_value_name(name: &str, what: &str, nodes: &[&str]) -> Option<String> {
    if name.starts_with("__") || RESERVED.contains(&name) {
        return Some(format!(
            "{what} name '{name}' is reserved (names starting with '__', and 'action_context')"
        ));
    }
    nodes.contains(&name).then(|| {
        format!(
            "{what} '{name}' has the name of a node: templates see both by that name, so \
             give it another"
        )
    })
}

/// "did you mean" the nearest node name.
fn hint(wanted: &str, names: &[&str]) -> Option<String> {
    crate::text::nearest(wanted, names.iter().copied()).map(|h| format!("did you mean '{h}'?"))
}

/// Cycles no outcome leaves: a node *can end* the chain when one of its outcomes names no
/// node, or names a node that can end it. The nodes that cannot form closed loops; each
/// cycle among them (a strongly connected set, or a node leading to itself) is a problem,
/// located at its first node in file order.
fn cycles(chain: &ActionChain, index: &[usize], at: &At<'_>, r: &mut Report) {
    let by_name: HashMap<&str, usize> = chain
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .rev() // the first of duplicates wins
        .collect();
    let next = |i: usize| -> [Option<usize>; 2] {
        let n = &chain.nodes[i];
        [&n.on_success, &n.on_failure].map(|t| t.as_deref().and_then(|t| by_name.get(t).copied()))
    };
    let mut can_end: Vec<bool> = (0..chain.nodes.len())
        .map(|i| next(i).iter().any(Option::is_none))
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..chain.nodes.len() {
            if !can_end[i] && next(i).iter().flatten().any(|j| can_end[*j]) {
                can_end[i] = true;
                changed = true;
            }
        }
    }
    let mut g = DiGraph::<usize, ()>::new();
    let ids: Vec<_> = (0..chain.nodes.len()).map(|i| g.add_node(i)).collect();
    for i in (0..chain.nodes.len()).filter(|i| !can_end[*i]) {
        for j in next(i).into_iter().flatten() {
            g.add_edge(ids[i], ids[j], ());
        }
    }
    let mut found: Vec<Vec<usize>> = petgraph::algo::tarjan_scc(&g)
        .into_iter()
        .map(|scc| {
            let mut members: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
            members.sort_unstable();
            members
        })
        .filter(|m| !can_end[m[0]] && (m.len() > 1 || g.contains_edge(ids[m[0]], ids[m[0]])))
        .collect();
    found.sort();
    for members in found {
        let names: Vec<String> = members
            .iter()
            .map(|i| format!("'{}'", chain.nodes[*i].name))
            .collect();
        let msg = format!(
            "node{} {} form{} a cycle with no exit: both outcomes of each lead back into it, \
             so the chain never ends (give one of them an on-success or on-failure that \
             leaves the cycle, or none)",
            if members.len() == 1 { "" } else { "s" },
            names.join(", "),
            if members.len() == 1 { "s" } else { "" },
        );
        let path = crate::document::yaml::item("chain", index[members[0]]);
        r.push(at.problem(&path, msg, None));
    }
}

/// Checks every template inside `v`: its syntax, and that it reads nothing chains lack.
fn templates(at: &At<'_>, path: &str, v: &Value, r: &mut Report) {
    match v {
        Value::String(s) => {
            if let Err(e) = crate::template::check_syntax(s) {
                r.push(at.problem(path, format!("template syntax error: {e}"), None));
                return;
            }
            let used = crate::template::variables(s);
            for (name, why) in UNAVAILABLE {
                if used.contains(name) {
                    r.push(at.problem(path, why.to_string(), None));
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                templates(at, &crate::document::yaml::item(path, i), x, r);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                templates(at, &child(path, k), x, r);
            }
        }
        _ => {}
    }
}
