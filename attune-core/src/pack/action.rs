//! Action files (`actions/*.yaml`) in the StackStorm and the earlier-Attune shape.

use super::files::PackDir;
use super::runners::{
    current_runner_name, runtime_for_runner, stackstorm_runner_parameters, unsupported_runner,
};
use super::schema;
use super::{Located, Unsupported, qualify};
use crate::document::fields::Fields;
use crate::document::problem::Report;
use crate::model::Action;
use serde_json::Value;

/// What one action file gives: an action, or one whose runner Attune does not run.
pub(crate) enum Read {
    Action(Box<Located<Action>>),
    Unsupported(Unsupported),
}

/// Reads one action file. An action whose StackStorm runner Attune does not run (SSH,
/// WinRM, ...) is left out with a warning naming the runner and why.
pub(crate) fn read(dir: &PackDir, pack: &str, file: &str, r: &mut Report) -> Option<Read> {
    let (src, doc) = dir.read_yaml(file, r)?;
    let mut f = Fields::new(&src, "", &doc.value, r)?;
    let name = f.name_in_pack(r, &["ref", "name"], pack);
    let runner = f.required_string(r, &["runner_type", "runner"]);
    // StackStorm packs write `entry_point: ''` for runners without a script: none.
    let entry = f
        .string(r, &["entry_point"])
        .filter(|e| !e.value.trim().is_empty());
    let description = f.string(r, &["description"]).map(|f| f.value);
    let params = f.any(&["parameters"]);
    let output_schema = f.any(&["output_schema", "output"]).map(|o| o.value.clone());
    let output_format = f.string(r, &["output_format"]);
    let timeout = f.number(r, &["timeout_seconds", "timeout"]);
    let enabled = f.boolean(r, &["enabled"]);
    let code = f.string(r, &["code"]);
    let notify = f
        .any(&["notify"])
        .and_then(|n| super::notify_of(&src, &n.path, n.value, r));
    f.accept(&["tags", "uid", "id", "metadata_file", "output_key", "label"]);
    f.finish(r);

    let name = name?;
    let action_ref = qualify(&src, &name, pack, r)?;
    let mut runner = runner?;
    runner.value = current_runner_name(&runner.value).to_string();
    if let Some(why) = unsupported_runner(&runner.value) {
        r.warn(src.problem(
            &runner.path,
            format!(
                "action '{action_ref}' is not loaded: runner '{}' is not supported ({why})",
                runner.value
            ),
        ));
        return Some(Read::Unsupported(Unsupported {
            action_ref,
            runner: runner.value,
            reason: why,
        }));
    }
    let mut action = Action::new(&action_ref, runtime_for_runner(&runner.value));
    if action.runner != runner.value {
        action.runner_type = Some(runner.value.clone());
    }
    action.description = description.unwrap_or_default();
    action.notify = notify.unwrap_or_default();
    // StackStorm's runners give every action their own parameters; the action's file
    // overrides them key by key (`sudo: {immutable: true}` keeps the runner's default).
    let runner_params = stackstorm_runner_parameters(&runner.value).unwrap_or_default();
    if let Some(p) = params {
        action.parameters = schema::read_over(&src, &p.path, p.value, &runner_params, r);
    }
    for (k, spec) in runner_params.iter() {
        action
            .parameters
            .0
            .entry(k.clone())
            .or_insert_with(|| spec.clone());
    }
    // As StackStorm's http-request runner: the runner's parameters are the action's too; the
    // file overrides (whole specs) or adds to them.
    #[cfg(feature = "http")]
    if action.runner == "http" {
        for (k, spec) in crate::runtime::http_request_action().parameters.iter() {
            action
                .parameters
                .0
                .entry(k.clone())
                .or_insert_with(|| spec.clone());
        }
    }
    action.output_schema = output_schema.unwrap_or(Value::Null);
    if let Some(of) = output_format {
        if !["text", "json", "jsonl"].contains(&of.value.as_str()) {
            let hint = crate::text::nearest(&of.value, ["text", "json", "jsonl"])
                .map(|h| format!("did you mean '{h}'?"));
            r.push(src.hinted(
                &of.path,
                format!("unknown output_format '{}' (text, json or jsonl)", of.value),
                hint,
            ));
        }
        action.output_format = Some(of.value);
    }
    // As in StackStorm runners, the default of a `timeout` parameter is the action timeout.
    let param_timeout = action
        .parameters
        .get("timeout")
        .and_then(|s| s.default.as_ref())
        .and_then(Value::as_f64);
    // (In the JSON-schema form the position falls back to `parameters`.)
    let param_path = "parameters.timeout.default".to_string();
    match timeout
        .map(|t| (t.path, t.value))
        .or_else(|| param_timeout.map(|t| (param_path.clone(), t)))
    {
        Some((path, t)) if !(t.is_finite() && t > 0.0) => {
            r.push(src.problem(
                &path,
                format!("timeout must be a positive number of seconds, got {t}"),
            ));
        }
        Some((_, t)) => action.timeout_secs = Some(t),
        None => {}
    }
    if let Some(e) = enabled {
        action.enabled = e;
    }
    action.code = code.map(|c| c.value);
    let mut paths = vec![("runner", runner.path.clone())];
    let has_entry = entry.is_some();
    if let Some(ep) = entry {
        paths.push(("entry_point", ep.path.clone()));
        match dir.entry_point("actions", &ep.value) {
            Ok(rel) => {
                if action.runner == "rhai" && action.code.is_none() {
                    match dir.read_text(&rel) {
                        Ok(text) => action.code = Some(text),
                        Err(p) => r.push(src.problem(&ep.path, p.message)),
                    }
                }
                if action.runner == crate::model::WORKFLOW_RUNNER {
                    // The workflow file: read and checked here, its problems located in it.
                    match dir.read_text(&rel) {
                        Ok(text) => {
                            // Charged to the pack's node budget first (a YAML error is
                            // reported by the workflow check, located in the file).
                            match dir.parse_charged(&rel, &text) {
                                Err(p) if dir.exhausted() => r.push(p),
                                _ => {
                                    // An action chain is checked as one (and runs as the
                                    // workflow it translates to).
                                    let checked = if runner.value == "action-chain" {
                                        crate::workflow::parse_chain(&text, &rel).map(|_| ())
                                    } else {
                                        crate::workflow::parse(&text, &rel).map(|_| ())
                                    };
                                    if let Err(e) = checked {
                                        r.problems.extend(e.problems);
                                    }
                                }
                            }
                            action.code = Some(text);
                        }
                        Err(p) => r.push(src.problem(&ep.path, p.message)),
                    }
                }
                action.entry_point = Some(rel);
            }
            Err(e) => r.push(src.problem(&ep.path, e)),
        }
    } else if needs_entry_point(&runner.value) {
        r.push(src.problem(
            "",
            format!(
                "runner '{}' needs an 'entry_point' (the script file)",
                runner.value
            ),
        ));
    }
    if action.runner == "rhai" && action.code.is_none() && !has_entry {
        r.push(src.problem(
            "",
            "a rhai action needs 'entry_point' (a .rhai file) or 'code'",
        ));
    }
    Some(Read::Action(Box::new(Located {
        def: action,
        src,
        paths,
    })))
}

fn needs_entry_point(runner: &str) -> bool {
    matches!(
        runner,
        "local-shell-script"
            | "python-script"
            | "python"
            | "orquesta"
            | "workflow"
            | "action-chain"
    )
}
