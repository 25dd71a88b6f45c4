//! Plan compilation: a workflow definition with its templates compiled once, and what the
//! conductor needs of its graph (the id of each edge, which tasks are splits, how many tasks
//! lead to each join), shared by every run of it.

use crate::Result;
use crate::template::{CompiledValue, Templates};
use crate::workflow::ActionChain;
use crate::workflow::model::{Command, Target, Task, Workflow};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A workflow definition with its templates compiled, shared by its runs.
#[derive(Debug)]
pub struct Plan {
    pub(super) wf: Workflow,
    pub(super) templates: Templates,
    pub(super) input: Vec<(String, Option<CompiledValue>)>,
    pub(super) vars: Vec<(String, CompiledValue)>,
    pub(super) output: Vec<(String, CompiledValue)>,
    pub(super) tasks: HashMap<String, TaskPlan>,
    /// Commands that more than one transition leads to.
    pub(super) command_splits: Vec<Command>,
    /// Whether any template calls `task(…)` (else its table of task results is not built).
    pub(super) uses_task_fn: bool,
    /// Whether any template calls `st2kv(…)` (the engine then reads the key-value store).
    pub(super) uses_st2kv: bool,
    /// For the plan of an action chain: what its template context needs.
    pub(super) chain: Option<ChainScope>,
}

/// What runs of an action chain need beyond the workflow it translates to.
#[derive(Debug)]
pub(super) struct ChainScope {
    /// The nodes' names: each is published with the node's result (`__results` gathers them).
    pub(super) nodes: Vec<String>,
    /// The names its nodes publish (the `published` part of its result).
    pub(super) published: Vec<String>,
}

/// One task of a [`Plan`].
#[derive(Debug)]
pub(super) struct TaskPlan {
    pub(super) input: CompiledValue,
    pub(super) items: Option<CompiledValue>,
    pub(super) concurrency: Option<CompiledValue>,
    /// `retry.when`, compiled.
    pub(super) retry_when: Option<CompiledValue>,
    /// A templated `delay`, compiled.
    pub(super) delay: Option<CompiledValue>,
    /// Per transition: its condition, its publish entries, and its targets with the id of
    /// each edge (`<task>__t<K>`).
    pub(super) next: Vec<TransitionPlan>,
    /// How many tasks lead here (join: all waits for each of them).
    pub(super) inbound_tasks: usize,
    /// Whether more than one transition leads here and the task is in no cycle (a non-join
    /// task is then a split).
    pub(super) split: bool,
}

/// One transition of a [`TaskPlan`].
#[derive(Debug)]
pub(super) struct TransitionPlan {
    pub(super) when: Option<CompiledValue>,
    pub(super) publish: Vec<(String, CompiledValue)>,
    pub(super) targets: Vec<(Target, String)>,
}

/// Inbound transitions per target (task or command name): how many, and their distinct
/// source tasks in the order first seen.
type Inbound<'a> = HashMap<String, (usize, Vec<&'a str>)>;

impl Plan {
    /// Compiles `wf` (check it first: [`Workflow::validate`]).
    pub fn new(wf: Workflow) -> Result<Arc<Plan>> {
        Plan::build(wf, Templates::for_workflows()).map(Arc::new)
    }

    /// Compiles an action chain (check it first:
    /// [`ActionChain::validate`](crate::workflow::ActionChain::validate)) as the workflow it
    /// translates to; its templates see the run's values as bare names (see
    /// [`ActionChain`](crate::workflow::ActionChain)).
    pub fn for_chain(chain: &ActionChain) -> Result<Arc<Plan>> {
        // Action chains are Jinja only: `<% %>` in them is text.
        let mut plan = Plan::build(chain.to_workflow(), Templates::new())?;
        // Chains read the datastore as a namespace (`{{ st2kv.system.x }}`).
        plan.uses_st2kv = mentions(&plan.wf, "st2kv");
        plan.chain = Some(ChainScope {
            nodes: chain.nodes.iter().map(|n| n.name.clone()).collect(),
            published: chain
                .published_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
        });
        Ok(Arc::new(plan))
    }

    /// Whether it is the plan of an action chain.
    pub fn is_chain(&self) -> bool {
        self.chain.is_some()
    }

    fn build(wf: Workflow, templates: Templates) -> Result<Plan> {
        let input = compile_input(&templates, &wf)?;
        let vars = compile_named(&templates, "var", &wf.vars)?;
        let output = compile_named(&templates, "output", &wf.output)?;
        let inbound = inbound(&wf);
        let cyclic = cyclic_tasks(&wf);
        let mut tasks = HashMap::new();
        for t in &wf.tasks {
            let (edges, sources) = inbound.get(&t.name).cloned().unwrap_or_default();
            // Tasks on a cycle are never splits: going round again is not a new path.
            let split = edges > 1 && !cyclic.contains(t.name.as_str());
            let plan = compile_task(&templates, t, sources.len(), split)?;
            tasks.insert(t.name.clone(), plan);
        }
        let command_splits = inbound
            .iter()
            .filter(|(_, (edges, _))| *edges > 1)
            .filter_map(|(k, _)| Command::parse(k))
            .collect();
        let uses_task_fn = mentions(&wf, "task(") || mentions(&wf, "task_status(");
        let uses_st2kv = mentions(&wf, "st2kv(");
        Ok(Plan {
            uses_task_fn,
            uses_st2kv,
            wf,
            templates,
            input,
            vars,
            output,
            tasks,
            command_splits,
            chain: None,
        })
    }

    /// The definition.
    pub fn workflow(&self) -> &Workflow {
        &self.wf
    }

    /// Whether a template calls `st2kv(…)`: a run then needs the keys it may read
    /// ([`Conductor::start_with_kv`](super::Conductor::start_with_kv)).
    pub fn uses_st2kv(&self) -> bool {
        self.uses_st2kv
    }
}

/// The inputs' defaults, compiled (`None`: a required input).
fn compile_input(
    templates: &Templates,
    wf: &Workflow,
) -> Result<Vec<(String, Option<CompiledValue>)>> {
    wf.input
        .iter()
        .map(|(k, v)| {
            let default = v
                .as_ref()
                .map(|v| templates.compile(&format!("input '{k}'"), v))
                .transpose()?;
            Ok((k.clone(), default))
        })
        .collect()
}

/// Named values (vars, output or publish entries), compiled in order; each is located as
/// `<at> '<name>'`.
fn compile_named(
    templates: &Templates,
    at: &str,
    values: &[(String, Value)],
) -> Result<Vec<(String, CompiledValue)>> {
    values
        .iter()
        .map(|(k, v)| Ok((k.clone(), templates.compile(&format!("{at} '{k}'"), v)?)))
        .collect()
}

/// How many transitions lead to each task and command, and from which tasks.
fn inbound(wf: &Workflow) -> Inbound<'_> {
    let mut inbound = Inbound::new();
    for t in &wf.tasks {
        for tr in &t.next {
            for x in &implicit_targets(&tr.targets) {
                let e = inbound.entry(target_name(x).to_string()).or_default();
                e.0 += 1;
                if !e.1.contains(&t.name.as_str()) {
                    e.1.push(&t.name);
                }
            }
        }
    }
    inbound
}

/// The tasks on a cycle of the graph (a self-loop included).
fn cyclic_tasks(wf: &Workflow) -> HashSet<&str> {
    let (g, _) = crate::workflow::validate::graph(wf);
    petgraph::algo::tarjan_scc(&g)
        .into_iter()
        .filter(|scc| scc.len() > 1 || g.contains_edge(scc[0], scc[0]))
        .flatten()
        .map(|n| g[n])
        .collect()
}

/// Compiles task `t`: its transitions first, then its params, items, concurrency and
/// `retry.when` (the first template that does not compile is the error).
fn compile_task(
    templates: &Templates,
    t: &Task,
    inbound_tasks: usize,
    split: bool,
) -> Result<TaskPlan> {
    let c = |loc: &str, v: &Value| templates.compile(loc, v);
    let loc = format!("task '{}'", t.name);
    let next = compile_transitions(templates, t, &loc)?;
    Ok(TaskPlan {
        input: templates.compile_map(&format!("{loc} input"), &t.input)?,
        items: t
            .with
            .as_ref()
            .map(|w| {
                c(
                    &format!("{loc} with items"),
                    &Value::String(w.items.clone()),
                )
            })
            .transpose()?,
        concurrency: t
            .with
            .as_ref()
            .and_then(|w| w.concurrency.as_ref())
            .map(|v| c(&format!("{loc} with concurrency"), v))
            .transpose()?,
        delay: t
            .delay_expr
            .as_ref()
            .map(|d| c(&format!("{loc} delay"), &Value::String(d.clone())))
            .transpose()?,
        retry_when: t
            .retry
            .as_ref()
            .and_then(|r| r.when.as_ref())
            .map(|w| c(&format!("{loc} retry when"), &Value::String(w.clone())))
            .transpose()?,
        next,
        inbound_tasks,
        split,
    })
}

/// Compiles the transitions of task `t` (`loc` names it), giving each target its edge id:
/// `<task>__t<K>`, K counting the edges from `t` to that target.
fn compile_transitions(templates: &Templates, t: &Task, loc: &str) -> Result<Vec<TransitionPlan>> {
    let mut ordinals: HashMap<String, usize> = HashMap::new();
    let mut next = Vec::new();
    for (i, tr) in t.next.iter().enumerate() {
        let tl = format!("{loc} next[{i}]");
        let targets = implicit_targets(&tr.targets)
            .into_iter()
            .map(|x| {
                let k = ordinals.entry(target_name(&x).to_string()).or_insert(0);
                let id = format!("{}__t{k}", t.name);
                *k += 1;
                (x, id)
            })
            .collect();
        next.push(TransitionPlan {
            when: tr
                .when
                .as_ref()
                .map(|w| templates.compile(&format!("{tl} when"), &Value::String(w.clone())))
                .transpose()?,
            publish: compile_named(templates, &format!("{tl} publish"), &tr.publish)?,
            targets,
        });
    }
    Ok(next)
}

/// Whether a template anywhere in `wf` contains `needle`.
fn mentions(wf: &Workflow, needle: &str) -> bool {
    let has = |v: &Value| crate::template::any_workflow_template(v, &|s| s.contains(needle));
    let text = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(needle));
    wf.input.iter().any(|(_, v)| v.as_ref().is_some_and(has))
        || wf.vars.iter().any(|(_, v)| has(v))
        || wf.output.iter().any(|(_, v)| has(v))
        || wf.tasks.iter().any(|t| {
            t.input.values().any(has)
                || t.with.as_ref().is_some_and(|w| w.items.contains(needle))
                || t.next
                    .iter()
                    .any(|tr| text(&tr.when) || tr.publish.iter().any(|(_, v)| has(v)))
        })
}

/// `do` targets, with the implicit `continue` of a transition that names none.
fn implicit_targets(targets: &[Target]) -> Vec<Target> {
    if targets.is_empty() {
        vec![Target::Command(Command::Continue)]
    } else {
        targets.to_vec()
    }
}

/// The task's or command's name.
fn target_name(t: &Target) -> &str {
    match t {
        Target::Task(n) => n,
        Target::Command(c) => c.as_str(),
    }
}
