//! Installing packs: cross-checks against what the engine has, then an atomic swap in the
//! store and the catalog.

use super::Engine;
use super::catalog::{PackEntry, PackParts};
use super::trigger_schema::{CompiledSchema, RegisteredTrigger, check_schemas, parameter_problems};
use crate::model::{Action, Pack};
use crate::pack::{
    CORE_PACK, PackBundle, PackErrors, PackOptions, Partial, Problem, Source, read_partial,
};
use crate::rules::Criteria;
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What [`Engine::load_pack`] installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackSummary {
    /// The pack's ref.
    pub pack: String,
    /// Where it was read from.
    pub path: Option<PathBuf>,
    /// Number of actions.
    pub actions: usize,
    /// Number of trigger types.
    pub trigger_types: usize,
    /// Number of sensors.
    pub sensors: usize,
    /// Number of rules.
    pub rules: usize,
    /// Number of policies.
    pub policies: usize,
    /// Whether an earlier version was replaced.
    pub replaced: bool,
}

/// What [`Engine::load_packs`] did: the packs installed and the packs refused.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Installed packs, in ref order.
    pub loaded: Vec<PackSummary>,
    /// Refused packs with every problem of each; they registered nothing.
    pub failed: Vec<PackErrors>,
}

/// The packs being installed together: refs inside them resolve to them, not to the
/// catalog (whose versions they replace).
struct Loading<'a> {
    bundles: HashMap<&'a str, &'a PackBundle>,
}

impl Loading<'_> {
    fn pack_of(r: &str) -> &str {
        r.split_once('.').map_or("", |(p, _)| p)
    }
}

/// # Packs
///
/// Read pack directories, check them, install, unload and list them.
impl Engine {
    /// Reads the pack in `dir` and installs it (see [`Engine::install_pack`]).
    pub async fn load_pack(&self, dir: impl AsRef<Path>) -> Result<PackSummary> {
        self.load_pack_with(dir, &PackOptions::default()).await
    }

    /// [`Engine::load_pack`] with options (file size limit, config directory).
    pub async fn load_pack_with(
        &self,
        dir: impl AsRef<Path>,
        options: &PackOptions,
    ) -> Result<PackSummary> {
        let partial = read_on_thread(dir.as_ref().to_path_buf(), options.clone()).await?;
        // Checked and installed under one hold of the lock: nothing changes in between.
        let _changing = self.shared.definitions.lock().await;
        let bundle = self.verify(partial)?;
        self.install_checked(bundle).await
    }

    /// Reads and checks the pack in `dir` as [`Engine::load_pack`] would, registering nothing.
    /// Every problem is in the error ([`Error::Pack`]).
    pub async fn check_pack(
        &self,
        dir: impl AsRef<Path>,
        options: &PackOptions,
    ) -> Result<PackBundle> {
        let partial = read_on_thread(dir.as_ref().to_path_buf(), options.clone()).await?;
        self.verify(partial)
    }

    /// The bundle when reading and the engine's checks found no problem; else all of them.
    fn verify(&self, partial: Partial) -> Result<PackBundle> {
        let Partial { bundle, mut errors } = partial;
        match bundle {
            None => Err(Error::Pack(errors)),
            Some(b) => {
                let loading = Loading {
                    bundles: HashMap::from([(b.pack_ref(), &b)]),
                };
                let more = self.cross_check(&b, &loading, &errors.problems);
                errors.problems.extend(more);
                if errors.problems.is_empty() {
                    Ok(b)
                } else {
                    Err(Error::Pack(errors))
                }
            }
        }
    }

    /// Reads and checks the packs in `dirs` together (they may refer to each other),
    /// registering nothing: the packs that would install, and every problem of the others
    /// (a pack that needs a refused pack is refused too).
    pub async fn check_packs(
        &self,
        dirs: &[PathBuf],
        options: &PackOptions,
    ) -> Result<(Vec<PackBundle>, Vec<PackErrors>)> {
        let mut failed = Vec::new();
        let mut partials = Vec::new();
        for d in dirs {
            partials.push(read_on_thread(d.clone(), options.clone()).await?);
        }
        // Two directories with one ref: neither can be the pack.
        let refs: Vec<Option<(String, Option<PathBuf>)>> = partials
            .iter()
            .map(|p| {
                p.bundle
                    .as_ref()
                    .map(|b| (b.pack_ref().to_string(), b.pack.path.clone()))
            })
            .collect();
        for (i, p) in partials.iter_mut().enumerate() {
            let Some((r, _)) = &refs[i] else { continue };
            let others: Vec<String> = refs
                .iter()
                .enumerate()
                .filter(|(j, o)| *j != i && o.as_ref().is_some_and(|(x, _)| x == r))
                .map(|(_, o)| {
                    o.as_ref()
                        .and_then(|(_, d)| d.as_ref())
                        .map_or_else(String::new, |d| d.display().to_string())
                })
                .collect();
            if !others.is_empty() {
                p.errors.problems.push(Problem::file(
                    "pack.yaml",
                    format!("pack ref '{r}' is also the ref of {}", others.join(", ")),
                ));
                p.bundle = None;
            }
        }
        // Packs that did not read cleanly fail; the engine's checks add their problems
        // (against every pack read, so references between packs are not reported twice).
        {
            let loading = Loading {
                bundles: partials
                    .iter()
                    .filter_map(|p| p.bundle.as_ref())
                    .map(|b| (b.pack_ref(), b))
                    .collect(),
            };
            let more: Vec<(usize, Vec<Problem>)> = partials
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.errors.problems.is_empty())
                .filter_map(|(i, p)| {
                    let b = p.bundle.as_ref()?;
                    Some((i, self.cross_check(b, &loading, &p.errors.problems)))
                })
                .collect();
            drop(loading);
            for (i, problems) in more {
                partials[i].errors.problems.extend(problems);
            }
        }
        let mut bundles = Vec::new();
        for p in partials {
            match p.bundle {
                Some(b) if p.errors.problems.is_empty() => bundles.push(b),
                _ => failed.push(p.errors),
            }
        }
        // Drop failing packs until the rest checks clean against itself and the catalog.
        loop {
            let loading = Loading {
                bundles: bundles.iter().map(|b| (b.pack_ref(), b)).collect(),
            };
            let failing: Vec<(usize, Vec<Problem>)> = bundles
                .iter()
                .enumerate()
                .map(|(i, b)| (i, self.cross_check(b, &loading, &[])))
                .filter(|(_, p)| !p.is_empty())
                .collect();
            if failing.is_empty() {
                break;
            }
            for (i, problems) in failing.into_iter().rev() {
                let b = bundles.remove(i);
                failed.push(PackErrors {
                    pack: b.pack_ref().to_string(),
                    dir: b.pack.path.clone(),
                    problems,
                });
            }
        }
        Ok((bundles, failed))
    }

    /// Loads every pack directory (a directory with a `pack.yaml`) under `root`. Packs may
    /// refer to each other. A pack with a problem — or that needs a pack with one — installs
    /// nothing and is listed in [`LoadReport::failed`]; the others are installed.
    pub async fn load_packs(
        &self,
        root: impl AsRef<Path>,
        options: &PackOptions,
    ) -> Result<LoadReport> {
        let root = root.as_ref().to_path_buf();
        let entries = std::fs::read_dir(&root).map_err(|e| {
            Error::invalid(format!("pack root '{}'", root.display()), e.to_string())
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            // Whatever `pack.yaml` is (a FIFO, a dangling link): reading the pack says what
            // is wrong with it, instead of the directory being skipped without a word.
            .filter(|p| std::fs::symlink_metadata(p.join("pack.yaml")).is_ok())
            .collect();
        dirs.sort();
        self.load_pack_dirs(&dirs, options).await
    }

    /// Loads the packs in `dirs` together, as [`Engine::load_packs`] does.
    pub async fn load_pack_dirs(
        &self,
        dirs: &[PathBuf],
        options: &PackOptions,
    ) -> Result<LoadReport> {
        let _changing = self.shared.definitions.lock().await;
        let (bundles, failed) = self.check_packs(dirs, options).await?;
        let mut report = LoadReport {
            loaded: Vec::new(),
            failed,
        };
        for b in bundles {
            let (pack, dir) = (b.pack_ref().to_string(), b.pack.path.clone());
            match self.install_checked(b).await {
                Ok(s) => report.loaded.push(s),
                Err(e) => report.failed.push(PackErrors {
                    pack,
                    dir,
                    problems: vec![Problem::file("pack.yaml", format!("not installed: {e}"))],
                }),
            }
        }
        report.loaded.sort_by(|a, b| a.pack.cmp(&b.pack));
        report.failed.sort_by(|a, b| a.pack.cmp(&b.pack));
        Ok(report)
    }

    /// Installs (or replaces) a pack read by [`crate::pack::read_pack`], after checking what
    /// depends on the engine: runners name registered runtimes (and the runtime accepts the
    /// action), rules name existing trigger types and actions, criteria, expressions and
    /// param templates compile, literal params satisfy the action's schema, policies and
    /// sensors name what exists, and rules of other packs keep what they use. Any problem
    /// → [`Error::Pack`] with all of them, and nothing changes.
    ///
    /// Replacing is atomic: the store swaps the pack's definitions in one step and matching
    /// sees either the old or the new pack. Executions already running finish on the
    /// version they started with.
    pub async fn install_pack(&self, bundle: PackBundle) -> Result<PackSummary> {
        let _changing = self.shared.definitions.lock().await;
        let loading = Loading {
            bundles: HashMap::from([(bundle.pack_ref(), &bundle)]),
        };
        let problems = self.cross_check(&bundle, &loading, &[]);
        if !problems.is_empty() {
            return Err(Error::Pack(PackErrors {
                pack: bundle.pack_ref().to_string(),
                dir: bundle.pack.path.clone(),
                problems,
            }));
        }
        self.install_checked(bundle).await
    }

    async fn install_checked(&self, bundle: PackBundle) -> Result<PackSummary> {
        let p = bundle.pack_ref().to_string();
        let mut rules = Vec::with_capacity(bundle.rules.len());
        for r in &bundle.rules {
            rules.push(Arc::new(self.compile_rule(r.def.clone())?));
        }
        // Schemas compile once here (checked before): the catalog keeps them.
        let triggers = bundle
            .triggers
            .iter()
            .map(|t| RegisteredTrigger::compile(t.def.clone()))
            .collect::<Result<Vec<_>>>()?;
        self.shared
            .store
            .replace_pack(&p, bundle.definitions())
            .await?;
        let replaced = self.shared.catalog.pack(&p).is_some();
        let summary = PackSummary {
            pack: p.clone(),
            path: bundle.pack.path.clone(),
            actions: bundle.actions.len(),
            trigger_types: bundle.triggers.len(),
            sensors: bundle.sensors.len(),
            rules: bundle.rules.len(),
            policies: bundle.policies.len(),
            replaced,
        };
        let parts = PackParts {
            entry: PackEntry::new(bundle.pack.clone(), &bundle.config_schema),
            actions: bundle.actions.iter().map(|a| a.def.clone()).collect(),
            triggers,
            rules,
        };
        self.shared.catalog.replace_pack(&p, Some(parts));
        tracing::info!(pack = %p, replaced, "pack installed");
        Ok(summary)
    }

    /// Removes a pack and everything it defines. Refused (Conflict) for the core pack and
    /// while rules of other packs use its actions or trigger types. Returns whether it was
    /// installed.
    pub async fn unload_pack(&self, pack_ref: &str) -> Result<bool> {
        if pack_ref == CORE_PACK {
            return Err(Error::Conflict(
                "the core pack is built in and cannot be unloaded".into(),
            ));
        }
        let _changing = self.shared.definitions.lock().await;
        let users = self.shared.catalog.users_of_pack(pack_ref);
        if !users.is_empty() {
            let list: Vec<String> = users
                .iter()
                .map(|(r, x)| format!("rule '{r}' uses '{x}'"))
                .collect();
            return Err(Error::Conflict(format!(
                "pack '{pack_ref}' is in use: {}",
                list.join(", ")
            )));
        }
        let existed = self.shared.catalog.pack(pack_ref).is_some();
        self.shared.store.replace_pack(pack_ref, Vec::new()).await?;
        self.shared.catalog.replace_pack(pack_ref, None);
        Ok(existed)
    }

    /// A registered pack, with secret config values shown as `********`.
    pub fn pack(&self, pack_ref: &str) -> Option<Pack> {
        self.shared
            .catalog
            .pack_entry(pack_ref)
            .map(|e| (*e.redacted).clone())
    }

    /// The refs of the registered packs, sorted.
    pub fn pack_refs(&self) -> Vec<String> {
        self.shared.catalog.pack_refs()
    }

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
    /// of trigger type `r` (of a pack being loaded, or registered).
    fn trigger_param_problems(
        &self,
        r: &str,
        params: &Value,
        loading: &Loading<'_>,
    ) -> Vec<String> {
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

    /// Every problem of `b` that depends on the engine and the packs loaded with it.
    /// `read_problems` are those found while reading it: a missing definition of this pack
    /// may be in a file listed there, and the message says so.
    fn cross_check(
        &self,
        b: &PackBundle,
        loading: &Loading<'_>,
        read_problems: &[Problem],
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        if b.pack_ref() == CORE_PACK && b.pack.path.is_some() {
            out.push(Problem::file(
                "pack.yaml",
                "the core pack is built in and cannot be replaced from disk",
            ));
        }
        let broken = |dir: &str, r: &str| {
            Loading::pack_of(r) == b.pack_ref()
                && read_problems.iter().any(|p| p.file.starts_with(dir))
        };
        let maybe = |dir: &str, r: &str| {
            if broken(dir, r) {
                format!(" (or it is in a file of {dir}/ with a problem listed here)")
            } else {
                String::new()
            }
        };
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
        let hint = |wanted: &str, known: &[String]| {
            crate::text::nearest(wanted, known.iter().map(String::as_str))
                .map(|h| format!("did you mean '{h}'?"))
        };
        let triggers = self.known_refs(loading, false);
        let actions = self.known_refs(loading, true);
        // The actions a pack's workflows run exist (in the engine, or in packs loaded with it).
        for a in &b.actions {
            let (Some(text), Some(file)) = (&a.def.code, &a.def.entry_point) else {
                continue;
            };
            if a.def.runner != crate::model::WORKFLOW_RUNNER {
                continue;
            }
            let Ok(wf) = crate::workflow::parse(text, file) else {
                continue; // its problems are listed already
            };
            let mut src: Option<Source> = None;
            for t in &wf.tasks {
                let Some(action) = &t.action else { continue };
                if actions.iter().any(|k| k == action) {
                    continue;
                }
                let src = src.get_or_insert_with(|| Source {
                    file: file.clone(),
                    locs: Arc::new(crate::workflow::locations(text)),
                });
                let path = crate::document::yaml::child(
                    &crate::document::yaml::child("tasks", &t.name),
                    "action",
                );
                let msg = format!("action '{action}' does not exist");
                out.push(src.hinted(&path, msg, hint(action, &actions)));
            }
        }
        for t in &b.triggers {
            for (key, message) in check_schemas(&t.def).0 {
                out.push(t.src.problem(
                    key,
                    format!("trigger type '{}': {key} is {message}", t.def.trigger_ref),
                ));
            }
        }
        for r in &b.rules {
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
                    format!(
                        "trigger type '{}' does not exist{}",
                        rule.trigger,
                        maybe("triggers", &rule.trigger)
                    ),
                );
                p.hint = hint(&rule.trigger, &triggers);
                out.push(p);
            }
            match self.action_for(&rule.action, loading) {
                None => {
                    let mut p = r.problem(
                        "action",
                        None,
                        format!(
                            "action '{}' does not exist{}",
                            rule.action,
                            maybe("actions", &rule.action)
                        ),
                    );
                    p.hint = hint(&rule.action, &actions);
                    out.push(p);
                }
                Some(action) => check_rule_params(r, &action, &mut out),
            }
            if let Err(errors) = Criteria::compile(&rule.criteria) {
                for e in errors.errors {
                    let key = e.key.split('/').next().unwrap_or_default().to_string();
                    out.push(r.problem("criteria", Some(&key), e.message));
                }
            }
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
        for p in &b.policies {
            if self.action_for(&p.def.action, loading).is_none() {
                let mut pr = p.problem(
                    "action",
                    None,
                    format!("action '{}' does not exist", p.def.action),
                );
                pr.hint = hint(&p.def.action, &actions);
                out.push(pr);
            }
        }
        for sensor in &b.sensors {
            for t in &sensor.def.trigger_types {
                if !self.has_trigger(t, loading) {
                    out.push(sensor.problem(
                        "trigger_types",
                        None,
                        format!("trigger type '{t}' does not exist"),
                    ));
                }
            }
        }
        // Rules of packs not being loaded must keep what they use.
        for (rule, used) in s.catalog.users_of_pack(b.pack_ref()) {
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
        out
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
    for e in super::definitions::rule_param_problems(action, &r.def.action_params) {
        let name = e.param.split(['.', '[']).next().unwrap_or_default();
        let mut p = r.problem(
            "params",
            Some(name),
            format!("params of action '{}': {}", action.action_ref, e.message),
        );
        p.hint = e.hint.map(|h| format!("did you mean '{h}'?"));
        out.push(p);
    }
}

async fn read_on_thread(dir: PathBuf, options: PackOptions) -> Result<Partial> {
    tokio::task::spawn_blocking(move || read_partial(&dir, &options))
        .await
        .map_err(|e| Error::invalid("pack", format!("the reading thread failed: {e}")))
}
