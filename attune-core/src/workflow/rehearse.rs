//! Rehearsal: a workflow run with its actions mocked and a deterministic schedule, so that a
//! workflow can be tested without running anything. The schedule is the wave order of
//! Orquesta's own rehearsal driver: each wave takes the ready tasks ordered by (task name,
//! route), starts them all, then completes each with its mock; a with-items task completes
//! one item per wave; the next wave is what became ready. The run is the engine's own
//! conductor: rehearsal changes the order and mocks the actions, nothing else.

use super::conductor::{Conductor, RunStatus};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a mocked action ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MockStatus {
    /// It succeeds.
    #[default]
    Succeeded,
    /// It fails.
    Failed,
    /// It times out.
    Timeout,
    /// It is canceled.
    Canceled,
    /// It never ends (the run stays running).
    Running,
}

/// One mocked action outcome (the fields of Orquesta's `mock_action_executions`). Not an
/// ordered script: a lookup table. A task run with no entry succeeds with a null result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MockAction {
    /// The task it answers for.
    pub task_id: String,
    /// Only the task run at this position of the sequence (from 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_id: Option<usize>,
    /// The with-items item it completes (default: the next one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<usize>,
    /// How many task runs (or items) it answers (default 1).
    #[serde(default = "one")]
    pub num_iter: u64,
    /// How the action ends.
    #[serde(default)]
    pub status: MockStatus,
    /// Its result.
    #[serde(default)]
    pub result: Value,
}

fn one() -> u64 {
    1
}

/// The mock for a task run at `seq_id`: the first unused entry for the task pinned to that
/// position; else the first unused entry for the task, unless that one is pinned elsewhere.
fn pick(mocks: &[MockAction], used: &mut [u64], task: &str, seq_id: usize) -> Option<usize> {
    let open = |i: usize| mocks[i].task_id == task && used[i] < mocks[i].num_iter;
    let chosen = (0..mocks.len())
        .find(|i| open(*i) && mocks[*i].seq_id == Some(seq_id))
        .or_else(|| {
            (0..mocks.len())
                .find(|i| open(*i))
                .filter(|i| mocks[*i].seq_id.is_none())
        });
    if let Some(i) = chosen {
        used[i] += 1;
    }
    chosen
}

/// Most waves a rehearsal runs (a workflow looping for ever is stopped there).
pub const MAX_WAVES: usize = 100_000;

/// Drives `run` with mocked actions until no task is ready, or a wave changes nothing (the
/// tasks left are mocked as running);
/// the conductor holds the outcome (sequence, routes, status, output, errors). Errors: a
/// workflow still scheduling after [`MAX_WAVES`] waves.
pub fn rehearse(run: &mut Conductor, mocks: &[MockAction]) -> Result<()> {
    let mut used = vec![0u64; mocks.len()];
    // With-items tasks with items left, and how many of their items completed.
    let mut active: Vec<(String, usize)> = Vec::new();
    let mut completed: std::collections::HashMap<(String, usize), usize> = Default::default();
    for _ in 0..MAX_WAVES {
        let mut wave = run.next_tasks();
        for a in &active {
            if !wave.contains(a) {
                wave.push(a.clone());
            }
        }
        wave.sort();
        if wave.is_empty() {
            return Ok(());
        }
        // A wave in which nothing starts or ends (only mocks that keep running) is the end.
        let mut progressed = false;
        let mut started = Vec::new();
        for (task, route) in &wave {
            let key = (task.clone(), *route);
            if !active.contains(&key) {
                progressed = true;
                if run.start_task(task, *route).is_err() {
                    continue; // it failed to start (a rendering error): it ended failed
                }
                if !run.running_items(task, *route).is_empty() {
                    active.push(key.clone());
                }
            } else if run.next_tasks().contains(&key) {
                progressed = true;
                run.start_task(task, *route)?;
            }
            let seq_id = run
                .sequence()
                .iter()
                .rposition(|e| e.task == *task && e.route == *route)
                .unwrap_or(0);
            started.push((key, seq_id));
        }
        for ((task, route), seq_id) in started {
            if run.sequence()[seq_id].status != RunStatus::Running {
                continue;
            }
            let mock = pick(mocks, &mut used, &task, seq_id).map(|i| &mocks[i]);
            let status = match mock.map_or(MockStatus::Succeeded, |m| m.status) {
                MockStatus::Running => continue,
                MockStatus::Succeeded => RunStatus::Succeeded,
                MockStatus::Failed => RunStatus::Failed,
                MockStatus::Timeout => RunStatus::Timeout,
                MockStatus::Canceled => RunStatus::Canceled,
            };
            let result = mock.map_or(Value::Null, |m| m.result.clone());
            let key = (task.clone(), route);
            if active.contains(&key) {
                let running = run.running_items(&task, route);
                let done = completed.entry(key.clone()).or_default();
                let wanted = mock.and_then(|m| m.item_id).unwrap_or(*done);
                let idx = if running.contains(&wanted) {
                    wanted
                } else {
                    match running.first() {
                        Some(i) => *i,
                        None => continue,
                    }
                };
                *done += 1;
                progressed = true;
                run.finish_item(&task, route, idx, status, Some(result))?;
                if run.running_items(&task, route).is_empty() && !run.next_tasks().contains(&key) {
                    active.retain(|a| *a != key);
                }
            } else {
                progressed = true;
                run.finish_task(&task, route, status, Some(result))?;
            }
        }
        if !progressed {
            return Ok(());
        }
    }
    Err(Error::invalid(
        "workflow rehearsal",
        format!("still scheduling after {MAX_WAVES} waves (a cycle without an exit?)"),
    ))
}

/// A rehearsal file: the workflow's input, its mocked actions, and what the run must give —
/// the keys of Orquesta's own test cases, so that one of those is a rehearsal file as it is.
/// Every `expected_*` is optional; what is given is compared. The descriptive keys of those
/// cases (`id`, `note`, …) are allowed and ignored; any other key is an error.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RehearsalSpec {
    /// The workflow's input.
    #[serde(default)]
    pub inputs: serde_json::Map<String, Value>,
    /// The mocked actions (a task run without an entry succeeds with a null result).
    #[serde(default)]
    pub mock_action_executions: Vec<MockAction>,
    /// The task runs, in order, as `name` or `name__rN` (`name__r0` is `name`).
    #[serde(default)]
    pub expected_task_sequence: Option<Vec<String>>,
    /// The routes (route 0 is `[]`).
    #[serde(default)]
    pub expected_routes: Option<Vec<Vec<String>>>,
    /// The workflow's status at the end (when not given: `succeeded`).
    #[serde(default)]
    pub expected_workflow_status: Option<RunStatus>,
    /// The output.
    #[serde(default)]
    pub expected_output: Option<Value>,
    /// The errors: each one's `message`, `task_id` and `route` are compared.
    #[serde(default)]
    pub expected_errors: Option<Vec<Value>>,
    /// The tasks that ended the run (no transition of theirs fired), in order.
    #[serde(default)]
    pub expected_term_tasks: Option<Vec<String>>,
    /// Keys not above (checked by [`RehearsalSpec::parse`]).
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

/// The keys of a rehearsal file.
const KEYS: &[&str] = &[
    "inputs",
    "mock_action_executions",
    "expected_task_sequence",
    "expected_routes",
    "expected_workflow_status",
    "expected_output",
    "expected_errors",
    "expected_term_tasks",
];

/// Descriptive keys of Orquesta's cases, ignored.
const IGNORED: &[&str] = &[
    "id",
    "kind",
    "note",
    "fixture",
    "fixture_upstream_path",
    "workflow_jinja",
    "workflow_yaql_original",
    "upstream_test",
    "also_upstream_tests",
    "asserted_upstream",
    "reference_observed",
    "replay_on_reference",
    "upstream_expects_rehearsal_to_fail",
    "upstream_failure_message",
    "rerun_of",
    "rerun_tasks",
];

/// What a rehearsal gave.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rehearsed {
    /// The task runs in order (`name`, `name__rN` off route 0).
    pub tasks: Vec<String>,
    /// The routes.
    pub routes: Vec<Vec<String>>,
    /// The workflow's status.
    pub status: RunStatus,
    /// The output, when the workflow has one.
    pub output: Option<serde_json::Map<String, Value>>,
    /// The errors.
    pub errors: Vec<super::conductor::RunError>,
    /// The tasks that ended the run: task runs none of whose transitions led anywhere (no
    /// task was staged from them), in sequence order.
    pub terminal: Vec<String>,
}

impl Rehearsed {
    /// What `run` holds now.
    pub fn of(run: &Conductor) -> Rehearsed {
        Rehearsed {
            tasks: run.sequence().iter().map(|e| e.label()).collect(),
            routes: run.routes().to_vec(),
            status: run.status(),
            output: run.output().cloned(),
            errors: run.errors().to_vec(),
            terminal: run.terminal_tasks(),
        }
    }
}

impl RehearsalSpec {
    /// Reads a rehearsal file (YAML, or JSON), naming `file` in errors; an unknown key is
    /// an error naming the nearest known one.
    pub fn parse(text: &str, file: &str) -> Result<RehearsalSpec> {
        let what = format!("rehearsal file '{file}'");
        let spec: RehearsalSpec =
            crate::document::yaml::from_str(text).map_err(|e| Error::invalid(&what, e))?;
        let unknown: Vec<String> = spec
            .other
            .keys()
            .filter(|k| !IGNORED.contains(&k.as_str()))
            .map(|k| match crate::text::nearest(k, KEYS.iter().copied()) {
                Some(near) => format!("unknown key '{k}' (did you mean '{near}'?)"),
                None => format!("unknown key '{k}'"),
            })
            .collect();
        if !unknown.is_empty() {
            return Err(Error::invalid(&what, unknown.join("; ")));
        }
        Ok(spec)
    }

    /// Rehearses `plan` with this file's input and mocks.
    pub fn run(&self, plan: std::sync::Arc<super::conductor::Plan>) -> Result<Rehearsed> {
        let mut run = Conductor::start(plan, self.inputs.clone());
        rehearse(&mut run, &self.mock_action_executions)?;
        Ok(Rehearsed::of(&run))
    }

    /// The first way `got` differs from what this file expects, if any.
    pub fn first_difference(&self, got: &Rehearsed) -> Option<String> {
        if let Some(want) = &self.expected_task_sequence {
            let want: Vec<String> = want
                .iter()
                .map(|s| s.strip_suffix("__r0").unwrap_or(s).to_string())
                .collect();
            if got.tasks != want {
                let at = got
                    .tasks
                    .iter()
                    .zip(&want)
                    .take_while(|(a, b)| a == b)
                    .count();
                return Some(format!(
                    "task sequence differs at position {at}: got {:?}, expected {:?} \
                     (whole: got {:?}, expected {:?})",
                    got.tasks.get(at),
                    want.get(at),
                    got.tasks,
                    want
                ));
            }
        }
        if let Some(want) = &self.expected_routes
            && got.routes != *want
        {
            return Some(format!("routes: got {:?}, expected {want:?}", got.routes));
        }
        // A rehearsal expects success unless it says otherwise (as Orquesta's tests do).
        let want = self
            .expected_workflow_status
            .unwrap_or(RunStatus::Succeeded);
        if got.status != want {
            return Some(format!(
                "workflow status: got {:?}, expected {want:?}",
                got.status
            ));
        }
        if let Some(want) = &self.expected_errors {
            let pick = |e: &Value| serde_json::json!({"message": e["message"], "task_id": e["task_id"], "route": e["route"]});
            let got_errors: Vec<Value> = got
                .errors
                .iter()
                .map(|e| pick(&serde_json::to_value(e).unwrap_or(Value::Null)))
                .collect();
            let want: Vec<Value> = want.iter().map(pick).collect();
            if got_errors != want {
                return Some(format!("errors: got {got_errors:?}, expected {want:?}"));
            }
        }
        if let Some(want) = &self.expected_term_tasks {
            let mut want: Vec<String> = want
                .iter()
                .map(|s| s.strip_suffix("__r0").unwrap_or(s).to_string())
                .collect();
            want.sort();
            want.dedup();
            if got.terminal != want {
                return Some(format!(
                    "terminal tasks: got {:?}, expected {want:?}",
                    got.terminal
                ));
            }
        }
        if let Some(want) = &self.expected_output {
            let out = got.output.clone().map_or(Value::Null, Value::Object);
            if out != *want {
                return Some(format!("output: got {out}, expected {want}"));
            }
        }
        None
    }
}
