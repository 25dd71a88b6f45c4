//! Commands on the state of a `--db` file: `attune key set|get|list|delete`,
//! `attune inquiry list|get|respond`, `attune execution list|get|cancel`,
//! `attune policy stats`.

use super::{Failure, Setup, cli_value, engine, engine_with, read_json_arg};
use crate::Report;
use crate::cli::{ExecutionCommand, InquiryCommand, KeyCommand, PolicyCommand};
use crate::output::{Style, count, json_text};
use attune_core::keystore::KeyOptions;
use attune_core::model::{Execution, ExecutionId, ExecutionStatus, Key, KeyScope};
use attune_core::store::{ExecutionFilter, Page};
use attune_core::{Engine, Inquiry, Responder};
use serde_json::{Value, json};

/// A failure naming `what` when there is no `--db` file to work on.
pub(super) fn need_db(setup: &Setup, what: &str) -> Result<(), Failure> {
    match setup.db {
        Some(_) => Ok(()),
        None => Err(Failure::Other(format!(
            "{what} works on a store file: give --db FILE (or ATTUNE_DB)"
        ))),
    }
}

/// The engine of a command that works on the `--db` file: refused without one.
async fn db_engine(setup: &Setup, what: &str) -> Result<Engine, Failure> {
    need_db(setup, what)?;
    engine(setup).await
}

/// `system`, `user:NAME` or `pack:NAME`.
fn scope(text: &str) -> Result<KeyScope, Failure> {
    match text.split_once(':') {
        None if text == "system" => Ok(KeyScope::System),
        Some(("user", u)) if !u.is_empty() => Ok(KeyScope::User(u.to_string())),
        Some(("pack", p)) if !p.is_empty() => Ok(KeyScope::Pack(p.to_string())),
        _ => Err(Failure::Other(format!(
            "--scope '{text}': one of system, user:NAME, pack:NAME"
        ))),
    }
}

/// An execution id given on the command line.
pub(super) fn id(text: &str) -> Result<ExecutionId, Failure> {
    text.parse::<ExecutionId>()
        .map_err(|e| Failure::Other(format!("'{text}' is not an execution id: {e}")))
}

fn key_json(k: &Key) -> Value {
    json!({
        "name": k.name,
        "scope": k.scope.to_string(),
        "value": k.value,
        "encrypted": k.encrypted,
        "expires": k.expires.map(|t| t.to_rfc3339()),
        "updated": k.updated.to_rfc3339(),
    })
}

fn key_line(k: &Key) -> String {
    let mut line = format!("{} {} = {}", k.scope, k.name, k.value);
    if k.encrypted {
        line.push_str(" (encrypted)");
    }
    if let Some(t) = k.expires {
        line.push_str(&format!(" (expires {})", t.to_rfc3339()));
    }
    line.push('\n');
    line
}

/// `attune key ...`
pub(super) async fn key(cmd: KeyCommand, setup: &Setup, style: Style) -> Result<Report, Failure> {
    let engine = db_engine(setup, "attune key").await?;
    let r = key_on(&engine, cmd, style).await;
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    r.map_err(|f| match f {
        // Said in the terms of this command.
        Failure::Other(m) if m.contains("this engine has none") => Failure::Other(format!(
            "{m}: give --key-file FILE (64 hex digits) or set ATTUNE_ENCRYPTION_KEY"
        )),
        other => other,
    })
}

async fn key_on(engine: &Engine, cmd: KeyCommand, style: Style) -> Result<Report, Failure> {
    let report = match cmd {
        KeyCommand::Set {
            name,
            value,
            scope: s,
            encrypt,
            ttl,
        } => {
            let ttl = ttl
                .map(std::time::Duration::try_from_secs_f64)
                .transpose()
                .map_err(|e| Failure::Other(format!("--ttl: {e}")))?;
            let k = engine
                .set_key(
                    scope(&s)?,
                    &name,
                    cli_value(&value),
                    KeyOptions { encrypt, ttl },
                )
                .await?;
            Report {
                json: json!({"key": key_json(&k)}),
                text: format!("{} {}", style.good("set"), key_line(&k)),
                code: 0,
            }
        }
        KeyCommand::Get {
            name,
            scope: s,
            decrypt,
        } => match engine.get_key(&scope(&s)?, &name, decrypt).await? {
            Some(k) => Report {
                json: json!({"key": key_json(&k)}),
                text: key_line(&k),
                code: 0,
            },
            None => Report {
                json: json!({"key": null}),
                text: format!("{} no key '{name}' in {s}\n", style.bad("missing:")),
                code: 1,
            },
        },
        KeyCommand::List {
            scope: s,
            prefix,
            decrypt,
        } => {
            let sc = s.as_deref().map(scope).transpose()?;
            let keys = engine.list_keys(sc.as_ref(), &prefix, decrypt).await?;
            let mut text: String = keys.iter().map(key_line).collect();
            text.push_str(&format!("{}\n", count(keys.len(), "key")));
            Report {
                json: json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
                text,
                code: 0,
            }
        }
        KeyCommand::Delete { name, scope: s } => {
            let existed = engine.delete_key(&scope(&s)?, &name).await?;
            Report {
                json: json!({"deleted": existed}),
                text: if existed {
                    format!("{} {s} {name}\n", style.good("deleted"))
                } else {
                    format!("{} no key '{name}' in {s}\n", style.bad("missing:"))
                },
                code: if existed { 0 } else { 1 },
            }
        }
    };
    Ok(report)
}

fn inquiry_line(q: &Inquiry) -> String {
    let mut who = Vec::new();
    if !q.users.is_empty() {
        who.push(format!("users {}", q.users.join(",")));
    }
    if !q.roles.is_empty() {
        who.push(format!("roles {}", q.roles.join(",")));
    }
    format!(
        "{} {} (expires {}{}{})\n  schema {}\n",
        q.id,
        q.action,
        q.expires.to_rfc3339(),
        if who.is_empty() { "" } else { "; " },
        who.join("; "),
        q.schema
    )
}

/// `attune inquiry ...`
pub(super) async fn inquiry(
    cmd: InquiryCommand,
    setup: &Setup,
    style: Style,
    json_out: bool,
) -> Result<Report, Failure> {
    let engine = db_engine(setup, "attune inquiry").await?;
    let report = match cmd {
        InquiryCommand::List => {
            let all = engine.inquiries().await?;
            let mut text: String = all.iter().map(inquiry_line).collect();
            text.push_str(&format!("{} waiting\n", count(all.len(), "inquiry")));
            Report {
                json: json!({"inquiries": all}),
                text,
                code: 0,
            }
        }
        InquiryCommand::Get { id: x } => {
            let q = engine.inquiry(id(&x)?).await?;
            Report {
                json: json!({"inquiry": q}),
                text: inquiry_line(&q),
                code: 0,
            }
        }
        InquiryCommand::Respond {
            id: x,
            response,
            user,
            roles,
        } => {
            let response = match response.strip_prefix('@') {
                Some(file) => read_json_arg(file, "response", &setup.interrupt).await?,
                None if response == "-" => read_json_arg("-", "response", &setup.interrupt).await?,
                None => serde_json::from_str(&response)
                    .map_err(|e| Failure::Other(format!("the response is not JSON: {e}")))?,
            };
            let who = Responder { user, roles };
            let logs = engine.subscribe_logs();
            let done = engine.respond(id(&x)?, response, &who).await?;
            if let Some(parent) = resumed_here(&engine, done.parent, setup).await? {
                // The answer resumed a workflow no other process drove: this process took
                // it over, and follows it to its end as `attune run` does.
                let wait = std::time::Duration::from_secs(600);
                let deadline = tokio::time::Instant::now() + wait;
                let work = super::work::Work {
                    engine,
                    recovery: Default::default(),
                };
                let secs = wait.as_secs_f64();
                return super::run::follow(work, logs, parent, secs, deadline, setup, json_out)
                    .await;
            }
            Report {
                json: json!({"execution": done}),
                text: format!(
                    "{} inquiry {}: {}\n",
                    style.good("answered"),
                    done.id,
                    done.status
                ),
                code: 0,
            }
        }
    };
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(report)
}

/// `parent` (the workflow of an answered inquiry) when this process drives it now.
async fn resumed_here(
    engine: &Engine,
    parent: Option<ExecutionId>,
    setup: &Setup,
) -> Result<Option<ExecutionId>, Failure> {
    let Some(p) = parent else { return Ok(None) };
    let wf = engine.execution(p).await?;
    let here = !wf.status.is_terminal() && !super::control::driven_elsewhere(&wf, setup);
    Ok(here.then_some(p))
}

fn execution_line(e: &Execution) -> String {
    let mut line = format!("{} {} {}", e.id, e.action, e.status);
    if e.attempt > 1 {
        line.push_str(&format!(" (attempt {})", e.attempt));
    }
    if let Some(err) = &e.error {
        line.push_str(&format!(": {err}"));
    }
    line.push('\n');
    line
}

/// `attune execution ...`
pub(super) async fn execution(
    cmd: ExecutionCommand,
    setup: &Setup,
    style: Style,
    json_out: bool,
) -> Result<Report, Failure> {
    let cmd = match cmd {
        ExecutionCommand::Pause { packs, id } => {
            return super::control::pause(&packs.packs, &id, setup).await;
        }
        ExecutionCommand::Resume { packs, wait, id } => {
            return super::control::resume(&packs.packs, &id, wait, setup, json_out).await;
        }
        ExecutionCommand::Rerun {
            packs,
            wait,
            tasks,
            id,
            params,
            params_from,
        } => {
            let r = super::control::Rerun {
                packs: &packs.packs,
                id: &id,
                wait,
                tasks: &tasks,
                params: &params,
                params_from: &params_from,
            };
            return super::control::rerun(r, setup, json_out).await;
        }
        other => other,
    };
    let engine = db_engine(setup, "attune execution").await?;
    let report = match cmd {
        ExecutionCommand::List {
            action,
            statuses,
            limit,
        } => {
            let mut filter = ExecutionFilter::new();
            if let Some(a) = action {
                filter = filter.action(a);
            }
            for s in &statuses {
                filter = filter.status(ExecutionStatus::parse(s)?);
            }
            let rows = engine.executions(&filter, Page::first(limit)).await?;
            let total = engine.count_executions(&filter).await?;
            let mut text: String = rows.iter().map(execution_line).collect();
            text.push_str(&format!(
                "{} shown of {total}\n",
                count(rows.len(), "execution")
            ));
            Report {
                json: json!({"executions": rows, "total": total}),
                text,
                code: 0,
            }
        }
        ExecutionCommand::Get { id: x } => {
            let e = engine.execution(id(&x)?).await?;
            Report {
                text: json_text(&serde_json::to_value(&e).unwrap_or(Value::Null)),
                json: json!({"execution": e}),
                code: 0,
            }
        }
        ExecutionCommand::Cancel { id: x } => {
            let e = engine.cancel(id(&x)?).await?;
            Report {
                text: format!("{} {}", style.good("canceled"), execution_line(&e)),
                json: json!({"execution": e}),
                code: 0,
            }
        }
        ExecutionCommand::Pause { .. }
        | ExecutionCommand::Resume { .. }
        | ExecutionCommand::Rerun { .. } => {
            return Err(Failure::Other(
                "execution control is dispatched before the store is opened".into(),
            ));
        }
    };
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(report)
}

/// `attune policy stats`
pub(super) async fn policy(cmd: PolicyCommand, setup: &Setup) -> Result<Report, Failure> {
    let PolicyCommand::Stats { packs, action } = cmd;
    let engine = engine_with(&packs.packs, setup).await?;
    let s = engine.queue_stats(&action).await?;
    let policies = engine.policies(Some(&action));
    engine.shutdown(std::time::Duration::from_secs(1)).await;
    let limit = s.limit.map_or("none".to_string(), |l| l.to_string());
    let oldest = s
        .oldest_wait_secs
        .map_or(String::new(), |w| format!(", oldest waiting {w:.1} s"));
    Ok(Report {
        text: format!(
            "{action}: {} queued, {} running, limit {limit}{oldest}; {} {}\n",
            s.queued,
            s.running,
            policies.len(),
            if policies.len() == 1 {
                "policy"
            } else {
                "policies"
            }
        ),
        json: json!({"stats": s, "policies": policies}),
        code: 0,
    })
}

/// `attune worker list`: the engines of the database other than this command's own.
pub(super) async fn workers(setup: &Setup, style: Style) -> Result<Report, Failure> {
    let engine = db_engine(setup, "attune worker list").await?;
    let now = chrono::Utc::now();
    let all: Vec<attune_core::model::Worker> = engine
        .workers()
        .await?
        .into_iter()
        .filter(|w| w.id != setup.worker_id)
        .collect();
    let mut text = String::new();
    for w in &all {
        let age = (now - w.heartbeat).num_milliseconds() as f64 / 1000.0;
        text.push_str(&format!(
            "{}  roles {}  slots {}  running {}  heartbeat {age:.0} s ago{}\n  runtimes {}\n",
            style.bold(&w.id),
            w.roles.join(","),
            w.slots,
            w.running,
            if age > 30.0 {
                " (silent: stopped or cut off?)"
            } else {
                ""
            },
            w.runtimes.join(","),
        ));
    }
    text.push_str(&format!("{}\n", count(all.len(), "worker")));
    engine.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(Report {
        json: json!({"workers": all}),
        text,
        code: 0,
    })
}
