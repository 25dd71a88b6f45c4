//! The checks of a pack that need the engine: runtimes, refs across packs (resolved in the
//! packs loaded together first, then in what the engine has), trigger schemas and
//! parameters, criteria, expressions, templates, rule params. Each returns problems located
//! in the pack's files; nothing is registered here.

use super::Engine;
use super::trigger_schema::{CompiledSchema, check_schemas, parameter_problems};
use crate::model::{Action, Rule};
use crate::pack::{Located, PackBundle, Problem, Source};
use crate::rules::Criteria;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The packs being installed together: refs inside them resolve to them, not to the
/// catalog (whose versions they replace).
pub(super) struct Loading<'a> {
    pub(super) bundles: HashMap<&'a str, &'a PackBundle>,
    /// Packs given in the same load that do not load: a ref into one of them is missing
    /// because of that pack's own problems, and the message says so.
    pub(super) failed: Vec<String>,
}

impl Loading<'_> {
    pub(super) fn pack_of(r: &str) -> &str {
        r.split_once('.').map_or("", |(p, _)| p)
    }
}

impl Engine {
    fn action_for(&self, r: &str, loading: &Loading<'_>) -> Option<Action> {
        match loading.bundles.get(Loading::pack_of(r)) {
            Some(b) => b.actions().find(|a| a.action_ref == r).cloned(),
            None => self.shared.catalog.action(r).map(|a| (*a).clone()),
        }
    }

    fn has_trigger(&self, r: &str, loading: &Loading<'_>) -> bool {
        match loading.bundles.get(Loading::pack_of(r)) {
            Some(b) => b.trigger_types().any(|t| t.trigger_ref == r),
            None => self.shared.catalog.trigger(r).is_some(),
        }
    }

    /// The problems of `params` (a rule's `trigger.parameters`) against the parameter schema
    /// of trigger type `r` (of a pack being loaded, or registered), and for a timer, once
    /// they fit, whether they make a schedule.
    fn trigger_param_problems(
        &self,
        r: &str,
        params: &Value,
        loading: &Loading<'_>,
    ) -> Vec<String> {
        let found = self.schema_problems(r, params, loading);
        // A timer's parameters that fit the schema must also make a schedule.
        match crate::timer::Schedule::of_trigger(r, params) {
            Err(e) if found.is_empty() => vec![e.to_string()],
            _ => found,
        }
    }

    /// `params` checked against the parameter schema of trigger type `r`.
    fn schema_problems(&self, r: &str, params: &Value, loading: &Loading<'_>) -> Vec<String> {
        if params.is_null() {
            return Vec::new();
        }
        match loading.bundles.get(Loading::pack_of(r)) {
            Some(b) => match b.trigger_types().find(|t| t.trigger_ref == r) {
                // A schema that does not compile is reported on its trigger type.
                Some(t) => match CompiledSchema::compile(&t.parameters_schema) {
                    Ok(schema) => parameter_problems(schema.as_ref(), params),
                    Err(_) => Vec::new(),
                },
                None => Vec::new(),
            },
            None => match self.shared.catalog.trigger(r) {
                Some(t) => parameter_problems(t.parameters.as_ref(), params),
                None => Vec::new(),
            },
        }
    }

    fn known_refs(&self, loading: &Loading<'_>, actions: bool) -> Vec<String> {
        let mut out: Vec<String> = if actions {
            self.shared.catalog.action_refs()
        } else {
            self.shared.catalog.trigger_refs()
        };
        for b in loading.bundles.values() {
            if actions {
                out.extend(b.actions().map(|a| a.action_ref.clone()));
            } else {
                out.extend(b.trigger_types().map(|t| t.trigger_ref.clone()));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Every problem of `b` that depends on the engine and the packs loaded with it, and
    /// the warnings found. `read_problems` are those found while reading it: a missing
    /// definition of this pack may be in a file listed there, and the message says so.
    pub(super) fn cross_check(
        &self,
        b: &PackBundle,
        loading: &Loading<'_>,
        read_problems: &[Problem],
    ) -> Checked {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let mut unsupported = self.shared.catalog.unsupported_actions();
        for l in loading.bundles.values() {
            unsupported.extend(l.unsupported.iter().cloned());
        }
        let known = Known {
            triggers: self.known_refs(loading, false),
            actions: self.known_refs(loading, true),
            unsupported,
        };
        self.check_runtimes(b, read_problems, &mut out);
        let action_for = |r: &str| self.action_for(r, loading);
        check_workflow_actions(b, loading, &known, &action_for, &mut out, &mut warnings);
        check_trigger_schemas(b, &mut out);
        for r in &b.rules {
            self.check_rule(b, r, loading, read_problems, &known, &mut out);
        }
        self.check_policies_and_sensors(b, loading, &known, &mut out);
        self.check_users_elsewhere(b, loading, &mut out);
        Checked {
            problems: out,
            warnings,
        }
    }

    /// Each action's runtime exists here and accepts the action.
    fn check_runtimes(&self, b: &PackBundle, read_problems: &[Problem], out: &mut Vec<Problem>) {
        let s = &self.shared;
        for a in &b.actions {
            match s.runtimes.get(&a.def.runner) {
                None => {
                    let mut have: Vec<&str> = s.runtimes.keys().map(String::as_str).collect();
                    have.sort_unstable();
                    out.push(a.problem(
                        "runner",
                        None,
                        format!(
                            "runner needs the runtime '{}', which this engine does not have (it has: {})",
                            a.def.runner,
                            have.join(", ")
                        ),
                    ));
                }
                // An action whose file (or entry point) has problems is not complete
                // enough to check.
                Some(_)
                    if read_problems.iter().any(|p| {
                        p.file == a.src.file || a.def.entry_point.as_deref() == Some(&p.file)
                    }) => {}
                Some(rt) => {
                    if let Err(e) = rt.validate_action(&a.def) {
                        let part = if a.def.entry_point.is_some() {
                            "entry_point"
                        } else {
                            "runner"
                        };
                        out.push(a.problem(part, None, e.to_string()));
                    }
                }
            }
        }
    }

    /// A rule's trigger (and its parameters), action and params, criteria, expression and
    /// templates.
    fn check_rule(
        &self,
        b: &PackBundle,
        r: &Located<Rule>,
        loading: &Loading<'_>,
        read_problems: &[Problem],
        known: &Known,
        out: &mut Vec<Problem>,
    ) {
        let rule = &r.def;
        let params_path = match r.paths.iter().find(|(p, _)| *p == "trigger") {
            Some((_, path)) if path.starts_with("trigger.") => "trigger.parameters",
            _ => "trigger_params",
        };
        for p in self.trigger_param_problems(&rule.trigger, &rule.trigger_params, loading) {
            out.push(r.src.problem(
                params_path,
                format!("trigger parameters of trigger type '{}': {p}", rule.trigger),
            ));
        }
        if !self.has_trigger(&rule.trigger, loading) {
            let mut p = r.problem(
                "trigger",
                None,
                missing(b, loading, read_problems, "trigger type", &rule.trigger),
            );
            p.hint = hint(&rule.trigger, &known.triggers);
            out.push(p);
        }
        match self.action_for(&rule.action, loading) {
            // Disabled because its action was left out for its runner (a warning says so).
            None if !rule.enabled
                && known
                    .unsupported
                    .iter()
                    .any(|u| u.action_ref == rule.action) => {}
            None => {
                let (message, h) = known.missing_action(b, loading, read_problems, &rule.action);
                let mut p = r.problem("action", None, message);
                p.hint = h;
                out.push(p);
            }
            Some(action) => check_rule_params(r, &action, out),
        }
        if let Err(errors) = Criteria::compile(&rule.criteria) {
            for e in errors.errors {
                let key = e.key.split('/').next().unwrap_or_default().to_string();
                out.push(r.problem("criteria", Some(&key), e.message));
            }
        }
        let s = &self.shared;
        if let Some(src) = &rule.expression
            && let Err(e) = s
                .sandbox
                .compile_expression(&format!("rule '{}' expression", rule.rule_ref), src)
        {
            out.push(r.problem("expression", None, e.to_string()));
        }
        for (k, v) in &rule.action_params {
            let loc = format!("rule '{}' param '{k}'", rule.rule_ref);
            if let Err(e) = s.templates.compile(&loc, v) {
                out.push(r.problem("params", Some(k), e.to_string()));
            }
        }
    }

    /// Policies name an action that exists; sensors, trigger types that exist.
    fn check_policies_and_sensors(
        &self,
        b: &PackBundle,
        loading: &Loading<'_>,
        known: &Known,
        out: &mut Vec<Problem>,
    ) {
        for p in &b.policies {
            if self.action_for(&p.def.action, loading).is_none() {
                let (message, h) = known.missing_action(b, loading, &[], &p.def.action);
                let mut pr = p.problem("action", None, message);
                pr.hint = h;
                out.push(pr);
            }
        }
        for sensor in &b.sensors {
            for t in &sensor.def.trigger_types {
                if !self.has_trigger(t, loading) {
                    out.push(sensor.problem(
                        "trigger_types",
                        None,
                        missing(b, loading, &[], "trigger type", t),
                    ));
                }
            }
        }
    }

    /// Rules of packs not being loaded keep what they use of this one.
    fn check_users_elsewhere(&self, b: &PackBundle, loading: &Loading<'_>, out: &mut Vec<Problem>) {
        for (rule, used) in self.shared.catalog.users_of_pack(b.pack_ref()) {
            if loading.bundles.contains_key(Loading::pack_of(&rule)) {
                continue;
            }
            let still =
                self.action_for(&used, loading).is_some() || self.has_trigger(&used, loading);
            if !still {
                out.push(Problem::file(
                    "pack.yaml",
                    format!("'{used}' is used by rule '{rule}' of another pack, but this version of the pack no longer defines it"),
                ));
            }
        }
    }
}

/// The trigger and action refs a pack may name: the engine's and those of the packs loaded
/// with it.
pub(super) struct Known {
    triggers: Vec<String>,
    actions: Vec<String>,
    /// Actions left out of their packs because Attune does not run their runner.
    unsupported: Vec<crate::pack::Unsupported>,
}

impl Known {
    /// The problem text and hint for a reference to action `r`, which is not there: why
    /// when it is an action left out for its runner, else [`missing`] with the nearest ref.
    fn missing_action(
        &self,
        b: &PackBundle,
        loading: &Loading<'_>,
        read_problems: &[Problem],
        r: &str,
    ) -> (String, Option<String>) {
        match self.unsupported.iter().find(|u| u.action_ref == r) {
            Some(u) => (u.message(), None),
            None if left_out(b, loading, r) => {
                (missing(b, loading, read_problems, "action", r), None)
            }
            None => (
                missing(b, loading, read_problems, "action", r),
                hint(r, &self.actions),
            ),
        }
    }
}

/// "did you mean" the nearest of `known`.
fn hint(wanted: &str, known: &[String]) -> Option<String> {
    crate::text::nearest(wanted, known.iter().map(String::as_str))
        .map(|h| format!("did you mean '{h}'?"))
}

/// "`<kind>` '`r`' does not exist" (`kind`: "action" or "trigger type"), with why when it is
/// known: `r` is of a pack given in the same load that does not load, or of pack `b` and a
/// file of its `actions/` (`triggers/`) had a problem, so the definition may be in it.
fn missing(
    b: &PackBundle,
    loading: &Loading<'_>,
    read_problems: &[Problem],
    kind: &str,
    r: &str,
) -> String {
    let pack = Loading::pack_of(r);
    let dir = if kind == "action" {
        "actions"
    } else {
        "triggers"
    };
    let why = if left_out(b, loading, r) {
        " (it was left out for the problems listed with it)".to_string()
    } else if loading.failed.iter().any(|f| f == pack) {
        format!(" (pack '{pack}' was given too, but it does not load: see its problems)")
    } else if pack == b.pack_ref() && read_problems.iter().any(|p| p.file.starts_with(dir)) {
        format!(" (or it is in a file of {dir}/ with a problem listed here)")
    } else {
        String::new()
    };
    format!("{kind} '{r}' does not exist{why}")
}

/// Whether `r` (an action or trigger type) was left out of its pack in partial loading.
fn left_out(b: &PackBundle, loading: &Loading<'_>, r: &str) -> bool {
    let pack = Loading::pack_of(r);
    match loading.bundles.get(pack) {
        Some(other) => other.left_out_ref(r),
        None => pack == b.pack_ref() && b.left_out_ref(r),
    }
}

/// What the checks of a pack found: problems (it does not load) and warnings (it does).
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
}

/// The actions a pack's workflows run exist (in the engine, or in packs loaded with it). A
/// task or node that runs an action left out for its runner is a warning, not a problem:
/// the workflow loads, and a run that reaches it fails naming the runner (as StackStorm's
/// would, with no runner for it).
fn check_workflow_actions(
    b: &PackBundle,
    loading: &Loading<'_>,
    known: &Known,
    action_for: &dyn Fn(&str) -> Option<Action>,
    out: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    for a in &b.actions {
        let (Some(text), Some(file)) = (&a.def.code, &a.def.entry_point) else {
            continue;
        };
        if a.def.runner != crate::model::WORKFLOW_RUNNER {
            continue;
        }
        // Each task's action (a chain: each node's ref), with its key path.
        use crate::document::yaml::{child, item};
        let src = std::cell::OnceCell::new();
        let src = || {
            src.get_or_init(|| Source {
                file: file.clone(),
                locs: Arc::new(crate::workflow::locations(text)),
            })
            .clone()
        };
        // A chain's refs are checked also when it has other problems (they are listed
        // together); a workflow's once it reads cleanly.
        let refs: Vec<(String, String)> = if crate::workflow::is_chain(text) {
            crate::workflow::read_chain(text, file)
                .into_iter()
                .map(|(i, n)| (n.action, child(&item("chain", i), "ref")))
                .collect()
        } else {
            let Ok(wf) = crate::workflow::parse(text, file) else {
                continue; // its problems are listed already
            };
            // A task's input against its action's parameters, as Orquesta inspects it:
            // required ones missing, unknown ones.
            for t in &wf.tasks {
                let Some(action) = t.action.as_deref().and_then(action_for) else {
                    continue;
                };
                let input: serde_json::Map<String, serde_json::Value> = t
                    .input
                    .iter()
                    .map(|(k, v)| (k.clone(), yaql_as_template(v)))
                    .collect();
                let base = child(&child("tasks", &t.name), "input");
                for (given, message, hint) in param_findings(&action, &input) {
                    let path = given.map_or_else(|| base.clone(), |name| child(&base, &name));
                    let msg = format!("input of action '{}': {message}", action.action_ref);
                    out.push(src().hinted(&path, msg, hint));
                }
            }
            wf.tasks
                .into_iter()
                .filter_map(|t| {
                    let path = child(&child("tasks", &t.name), "action");
                    Some((t.action?, path))
                })
                .collect()
        };
        for (action, path) in refs {
            if known.actions.contains(&action) {
                continue;
            }
            let src = src();
            if let Some(u) = known.unsupported.iter().find(|u| u.action_ref == action) {
                let msg = format!("{}: a run that reaches it fails", u.message());
                warnings.push(src.problem(&path, msg));
                continue;
            }
            let (msg, h) = known.missing_action(b, loading, &[], &action);
            out.push(src.hinted(&path, msg, h));
        }
    }
}

/// `v` with each string holding YAQL (`<% %>`) written as a Jinja template, so that the
/// param checks take it for a value known only when the workflow runs.
fn yaql_as_template(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains("<%") => Value::String("{{ yaql }}".into()),
        Value::Array(a) => Value::Array(a.iter().map(yaql_as_template).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), yaql_as_template(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Trigger types' payload and parameter schemas compile.
fn check_trigger_schemas(b: &PackBundle, out: &mut Vec<Problem>) {
    for t in &b.triggers {
        for (key, message) in check_schemas(&t.def).0 {
            out.push(t.src.problem(
                key,
                format!("trigger type '{}': {key} is {message}", t.def.trigger_ref),
            ));
        }
    }
}

/// A rule's params checked against the action's schema as far as they are known before an
/// event (see [`super::definitions::rule_param_problems`]): literal ones entirely, templated
/// ones for their names; unknown names with the nearest declared one as a hint.
fn check_rule_params(
    r: &crate::pack::Located<crate::model::Rule>,
    action: &Action,
    out: &mut Vec<Problem>,
) {
    for (given, message, hint) in param_findings(action, &r.def.action_params) {
        let mut p = r.problem(
            "params",
            given.as_deref(),
            format!("params of action '{}': {message}", action.action_ref),
        );
        p.hint = hint;
        out.push(p);
    }
}

/// The problems of `params` against `action`'s parameters, as far as they are known before a
/// run ([`super::definitions::rule_param_problems`]): each with the top-level param it is
/// under when `params` gives it (else the message names the param), the message, and the
/// nearest declared name as a hint.
fn param_findings(
    action: &Action,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(Option<String>, String, Option<String>)> {
    super::definitions::rule_param_problems(action, params)
        .into_iter()
        .map(|e| {
            let name = e.param.split(['.', '[']).next().unwrap_or_default();
            let given = (!name.is_empty() && params.contains_key(name)).then(|| name.to_string());
            let message = match given {
                Some(_) => e.message,
                None => format!("'{}' {}", e.param, e.message),
            };
            (
                given,
                message,
                e.hint.map(|h| format!("did you mean '{h}'?")),
            )
        })
        .collect()
}
