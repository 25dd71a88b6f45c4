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
