//! `attune workflow validate FILE`, `attune workflow graph FILE [--format dot|mermaid]` and
//! `attune workflow rehearse FILE --mocks FILE`.

use super::Failure;
use crate::Report;
use crate::cli::GraphFormat;
use crate::output::{Style, count, problems_text, shown};
use attune_core::pack::{PackErrors, PackOptions};
use attune_core::workflow::{
    Plan, RehearsalSpec, Workflow, WorkflowErrors, read_file, to_dot, to_mermaid,
};
use serde_json::json;
use std::path::Path;

/// Reads the workflow file; its problems as a report (exit 1), or the workflow.
fn read(file: &Path, style: Style) -> Result<Workflow, Report> {
    read_file(file, PackOptions::default().max_file_bytes).map_err(|e| problems(file, &e, style))
}

fn problems(file: &Path, e: &WorkflowErrors, style: Style) -> Report {
    let as_pack = PackErrors {
        pack: e.workflow.clone(),
        dir: file.parent().map(Path::to_path_buf),
        problems: e.problems.clone(),
    };
    let n = e.problems.len();
    let mut text = format!(
        "{} {}: {}\n",
        style.bad("FAILED"),
        style.bold(&shown(file)),
        count(n, "problem")
    );
    text.push_str(&problems_text(style, &as_pack));
    Report {
        json: json!({"ok": false, "file": shown(file), "problems": e.problems}),
        text,
        code: 1,
    }
}

/// Checks one workflow file; exit 1 when it has a problem.
pub(super) fn validate(file: &Path, style: Style) -> Result<Report, Failure> {
    let wf = match read(file, style) {
        Ok(wf) => wf,
        Err(r) => return Ok(r),
    };
    let starts = wf.start_tasks();
    let text = format!(
        "{} {}: {}, starting at {}\n",
        style.good("ok"),
        style.bold(&shown(file)),
        count(wf.tasks.len(), "task"),
        starts.join(", ")
    );
    Ok(Report {
        json: json!({
            "ok": true,
            "file": shown(file),
            "tasks": wf.tasks.len(),
            "start_tasks": starts,
            "actions": wf.actions(),
        }),
        text,
        code: 0,
    })
}

/// Draws a workflow file, or the run of a workflow execution (with `--db`), as DOT or
/// Mermaid.
pub(super) async fn graph(
    target: &str,
    format: GraphFormat,
    setup: &super::Setup,
    style: Style,
) -> Result<Report, Failure> {
    let file = Path::new(target);
    let run_id = (!file.exists())
        .then(|| target.parse::<attune_core::model::ExecutionId>().ok())
        .flatten();
    let (wf, name, statuses, shown_as) = match run_id {
        Some(id) => {
            let engine = super::engine(setup).await?;
            let (wf, statuses) = engine.workflow_run(id).await?;
            (wf, format!("run {id}"), Some(statuses), target.to_string())
        }
        None => {
            let wf = match read(file, style) {
                Ok(wf) => wf,
                Err(r) => return Ok(r),
            };
            let name = file
                .file_stem()
                .map_or_else(|| "workflow".into(), |s| s.to_string_lossy().into_owned());
            (wf, name, None, shown(file))
        }
    };
    let (graph, format) = match format {
        GraphFormat::Dot => (to_dot(&wf, &name, statuses.as_ref()), "dot"),
        GraphFormat::Mermaid => (to_mermaid(&wf, statuses.as_ref()), "mermaid"),
    };
    Ok(Report {
        json: json!({"ok": true, "file": shown_as, "format": format, "graph": graph, "tasks": statuses}),
        text: graph,
        code: 0,
    })
}

/// Rehearses a workflow file with the mocks of a rehearsal file and compares the outcome with
/// its expectations: exit 0 when it matches, 1 at the first difference (or when the workflow
/// file has problems), 2 when the rehearsal file is unreadable.
pub(super) fn rehearse(file: &Path, mocks: &Path, style: Style) -> Result<Report, Failure> {
    let wf = match read(file, style) {
        Ok(wf) => wf,
        Err(r) => return Ok(r),
    };
    // A YAML file like the workflow's: the same size limit, checked before reading.
    let what = format!("rehearsal file '{}'", shown(mocks));
    let limit = usize::try_from(PackOptions::default().max_file_bytes).unwrap_or(usize::MAX);
    let bytes = attune_core::input::read_file(mocks, &what, limit).map_err(|e| match e {
        attune_core::Error::Invalid { what, message } => {
            Failure::Other(format!("cannot read the {what}: {message}"))
        }
        other => other.into(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure::Other(format!(
            "cannot read the {what}: it is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let spec = RehearsalSpec::parse(&text, &shown(mocks))?;
    let got = spec.run(Plan::new(wf)?)?;
    let difference = spec.first_difference(&got);
    let mut text = format!(
        "{} {} with {}\n  tasks: {}\n  status: {}\n",
        match difference {
            None => style.good("ok"),
            Some(_) => style.bad("MISMATCH"),
        },
        style.bold(&shown(file)),
        shown(mocks),
        got.tasks.join(", "),
        serde_json::to_value(got.status)
            .unwrap_or_default()
            .as_str()
            .unwrap_or("?"),
    );
    if let Some(out) = &got.output {
        text.push_str(&format!(
            "  output: {}\n",
            serde_json::Value::Object(out.clone())
        ));
    }
    for e in &got.errors {
        let task = e.task_id.as_deref().unwrap_or("-");
        text.push_str(&format!("  error ({task}): {}\n", e.message));
    }
    if let Some(d) = &difference {
        text.push_str(&format!("  {}: {d}\n", style.bad("first difference")));
    }
    Ok(Report {
        json: json!({
            "ok": difference.is_none(),
            "file": shown(file),
            "mocks": shown(mocks),
            "outcome": got,
            "difference": difference,
        }),
        text,
        code: if difference.is_none() { 0 } else { 1 },
    })
}
