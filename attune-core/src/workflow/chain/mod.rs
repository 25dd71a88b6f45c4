//! Action chains: StackStorm's `action-chain` runner (see [`ActionChain`]).

mod check;
mod read;
mod translate;

pub(crate) use check::check;
pub(crate) use read::read;
pub(crate) use translate::{FAILED_FN, RESULT_FN, SUCCEEDED_FN};

use serde_json::{Map, Value};

/// The names chain templates may not use for nodes, vars or published values: what the
/// engine puts into their context itself.
pub(crate) const RESERVED: [&str; 2] = ["__results", "action_context"];

/// An action chain (StackStorm's `action-chain` runner): a list of nodes run one at a time.
///
/// A chain file holds `chain` (the nodes: `name`, `ref`, `parameters` or `params`,
/// `on-success`, `on-failure`, `publish`, `notify`, `description`), `default` (the node it
/// starts at) and `vars`. [`parse_chain`](crate::workflow::parse_chain) reads and checks
/// one — every problem with its file, line, column and key path — and
/// [`ActionChain::to_workflow`] translates it into the workflow model, which is how the
/// engine runs it: each node is a task (an execution of its own, a child of the chain's
/// execution), so pause, cancel, recovery and trace are those of workflows.
///
/// What a chain means, as StackStorm's runner does it:
/// * it starts at `default`; without one, at the first node no `on-success`/`on-failure`
///   names, else at the first node;
/// * after a node, `on-success` (it succeeded) or `on-failure` (it failed or timed out)
///   names the next node; with none, the chain ends — succeeded when that last node
///   succeeded, failed when it failed. A failure that leads to a node is handled: the
///   chain's status is that of the last node it ran;
/// * templates (Jinja) see the action's params, the `vars`, what nodes published and each
///   node that ran by its name (`{{ c1.stdout }}`, its result), `__results` (every node's
///   result by name) and `action_context.parent.execution_id` (the chain's execution);
///   `vars` are rendered once at the start; a node's `publish` is rendered after it ran
///   (also when it failed), seeing its result, and adds to what later nodes see;
/// * loops are allowed (retry patterns: `on-failure` back to an earlier node), but a cycle no
///   outcome leaves — every node on it has both `on-success` and `on-failure` leading back
///   into it — is an error: that chain could never end.
///
/// Templates read the datastore as StackStorm's do (`{{ st2kv.system.x }}`, the keys as
/// they are when the run starts).
///
/// Where Attune is stricter, each is a problem at load naming it: node names are not blank
/// and hold no comma (nor are `fail`, `noop`, `continue`, nor start with `__`); `vars` and
/// `publish` names differ from node names (templates see both as bare names); `on-success`
/// and `on-failure` are node names, not templates; `config_context` is not available to
/// chain templates.
///
/// ```
/// let text = r#"
/// vars:
///   greeting: hello
/// chain:
///   - name: c1
///     ref: core.echo
///     parameters:
///       message: "{{ greeting }}"
///     on-success: c2
///   - name: c2
///     ref: core.echo
///     parameters:
///       message: "{{ c1.stdout }} again"
/// "#;
/// let chain = attune_core::workflow::parse_chain(text, "chains/hello.yaml").unwrap();
/// assert_eq!(chain.start(), Some("c1"));
/// assert_eq!(chain.to_workflow().tasks.len(), 2);
///
/// let bad = "chain:\n  - name: a\n    ref: core.noop\n    on-success: b\n";
/// let err = attune_core::workflow::parse_chain(bad, "bad.yaml").unwrap_err();
/// assert_eq!(err.problems[0].to_string(),
///     "bad.yaml:4:5: chain[0].on-success: 'on-success' of node 'a' names node 'b', which does not exist (missing node)");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionChain {
    /// The nodes, in the order written.
    pub nodes: Vec<ChainNode>,
    /// The node to start at, when given.
    pub default: Option<String>,
    /// Variables, rendered once at the start over the action's params, in order.
    pub vars: Vec<(String, Value)>,
}

/// One node of an [`ActionChain`]: an action to run and where to go after it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChainNode {
    /// Its name, unique in the chain; later templates see its result by this name.
    pub name: String,
    /// The action's ref (`ref` in the file).
    pub action: String,
    /// The action's params (values may be templates).
    pub params: Map<String, Value>,
    /// The node to run when it succeeded.
    pub on_success: Option<String>,
    /// The node to run when it failed (or timed out).
    pub on_failure: Option<String>,
    /// Values published after it ran, in order.
    pub publish: Vec<(String, Value)>,
    /// What it does (informative).
    pub description: Option<String>,
}

impl ActionChain {
    /// The node named `name`.
    pub fn get(&self, name: &str) -> Option<&ChainNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node a run starts at: `default`; else the first node no transition names; else
    /// the first node (`None` for a chain without nodes).
    pub fn start(&self) -> Option<&str> {
        if let Some(d) = &self.default {
            return Some(d);
        }
        let named = |n: &str| {
            self.nodes
                .iter()
                .any(|x| x.on_success.as_deref() == Some(n) || x.on_failure.as_deref() == Some(n))
        };
        self.nodes
            .iter()
            .find(|n| !named(&n.name))
            .or(self.nodes.first())
            .map(|n| n.name.as_str())
    }

    /// The actions its nodes run, each once, in the order first used.
    pub fn actions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if !out.contains(&n.action.as_str()) {
                out.push(&n.action);
            }
        }
        out
    }

    /// The names of the nodes a run can reach from its start, in the order written.
    pub fn reachable(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        let mut todo: Vec<&str> = self.start().into_iter().collect();
        while let Some(n) = todo.pop() {
            if seen.contains(&n) {
                continue;
            }
            let Some(node) = self.get(n) else { continue };
            seen.push(n);
            todo.extend(node.on_success.as_deref());
            todo.extend(node.on_failure.as_deref());
        }
        self.nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| seen.contains(n))
            .collect()
    }

    /// The names its nodes publish, each once, in the order written.
    pub fn published_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (k, _) in self.nodes.iter().flat_map(|n| &n.publish) {
            if !out.contains(&k.as_str()) {
                out.push(k);
            }
        }
        out
    }
}
