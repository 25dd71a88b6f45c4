//! Installing packs: cross-checks against what the engine has, then an atomic swap in the
//! store and the catalog.

use super::Engine;
use super::catalog::{PackEntry, PackParts};
use super::pack_checks::Loading;
use super::trigger_schema::RegisteredTrigger;
use crate::model::Pack;
use crate::pack::{CORE_PACK, PackBundle, PackErrors, PackOptions, Partial, Problem, read_partial};
use crate::{Error, Result};
use serde::Serialize;
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
    /// What loaded with a word to say ([`PackBundle::warnings`]): actions left out for
    /// their runner, required config values not given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
    /// What partial loading ([`PackOptions::partial`]) left out, with every problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<Problem>,
}

/// What [`Engine::load_packs`] did: the packs installed and the packs refused.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Installed packs, in ref order.
    pub loaded: Vec<PackSummary>,
    /// Refused packs with every problem of each; they registered nothing.
    pub failed: Vec<PackErrors>,
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
        let bundle = self.verify(partial, options)?;
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
        self.verify(partial, options)
    }

    /// The bundle when reading and the engine's checks found no problem; else all of them.
    /// In partial mode, what has problems is left out of the bundle, unless a problem is of
    /// the pack itself.
    fn verify(&self, partial: Partial, options: &PackOptions) -> Result<PackBundle> {
        let Partial { bundle, mut errors } = self.onto_builtin_core(partial);
        let Some(mut b) = bundle else {
            return Err(Error::Pack(errors));
        };
        if options.partial && !errors.problems.is_empty() {
            // Every problem of what did not read cleanly is listed, the checks' too.
            let loading = Loading {
                bundles: HashMap::from([(b.pack_ref(), &b)]),
                failed: Vec::new(),
            };
            let more = self.cross_check(&b, &loading, &errors.problems);
            drop(loading);
            let mut all = std::mem::take(&mut errors.problems);
            all.extend(more.problems);
            if let Err(p) = b.leave_out(all, false) {
                errors.problems = p;
                return Err(Error::Pack(errors));
            }
        }
        loop {
            let loading = Loading {
                bundles: HashMap::from([(b.pack_ref(), &b)]),
                failed: Vec::new(),
            };
            let read = if options.partial {
                &b.left_out
            } else {
                &errors.problems
            };
            let more = self.cross_check(&b, &loading, read);
            drop(loading);
            if errors.problems.is_empty() && more.problems.is_empty() {
                b.warnings.extend(more.warnings);
                return Ok(b);
            }
            if options.partial && errors.problems.is_empty() {
                match b.leave_out(more.problems, true) {
                    Ok(()) => continue, // what needed it is checked again
                    Err(p) => errors.problems = p,
                }
            } else {
                errors.problems.extend(more.problems);
            }
            return Err(Error::Pack(errors));
        }
    }

    /// StackStorm's `core` pack read from disk, laid onto the built-in one: each action the
    /// built-in pack has stays the built-in (`core.local`, `core.http`, `core.echo`, ...:
    /// same names and parameters, Attune's runtimes), the pack's other actions are added,
    /// and actions whose runtime this engine lacks are left out with a warning.
    fn onto_builtin_core(&self, mut partial: Partial) -> Partial {
        let Some(disk) = partial.bundle.take() else {
            return partial;
        };
        if disk.pack_ref() != CORE_PACK || disk.pack.path.is_none() {
            partial.bundle = Some(disk);
            return partial;
        }
        let builtin = self.builtin_core();
        let runtimes = &self.shared.runtimes;
        let mut merged = disk.clone();
        merged.actions = builtin.actions.clone();
        for a in disk.actions {
            if builtin.actions().any(|b| b.action_ref == a.def.action_ref) {
                continue;
            }
            if runtimes.contains_key(&a.def.runner) {
                merged.actions.push(a);
            } else {
                merged.warnings.push(a.problem(
                    "runner",
                    None,
                    format!(
                        "action '{}' is not loaded: it needs the runtime '{}', which this \
                         engine does not have",
                        a.def.action_ref, a.def.runner
                    ),
                ));
            }
        }
        merged.triggers = builtin.triggers;
        for t in disk.triggers {
            if !merged
                .trigger_types()
                .any(|b| b.trigger_ref == t.def.trigger_ref)
            {
                merged.triggers.push(t);
            }
        }
        partial.bundle = Some(merged);
        partial
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
            let partial = read_on_thread(d.clone(), options.clone()).await?;
            partials.push(self.onto_builtin_core(partial));
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
                failed: Vec::new(),
            };
            let more: Vec<(usize, Vec<Problem>)> = partials
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.errors.problems.is_empty())
                .filter_map(|(i, p)| {
                    let b = p.bundle.as_ref()?;
                    Some((
                        i,
                        self.cross_check(b, &loading, &p.errors.problems).problems,
                    ))
                })
                .collect();
            drop(loading);
            for (i, problems) in more {
                partials[i].errors.problems.extend(problems);
            }
        }
        // In partial mode, what did not read cleanly is left out (unless it is the pack).
        if options.partial {
            for p in &mut partials {
                if let Some(b) = &mut p.bundle
                    && let Err(kept) = b.leave_out(std::mem::take(&mut p.errors.problems), false)
                {
                    p.errors.problems = kept;
                }
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
                failed: failed.iter().map(|f: &PackErrors| f.pack.clone()).collect(),
            };
            let checked: Vec<(usize, super::pack_checks::Checked)> = bundles
                .iter()
                .enumerate()
                .map(|(i, b)| (i, self.cross_check(b, &loading, &b.left_out)))
                .collect();
            drop(loading);
            if checked.iter().all(|(_, c)| c.problems.is_empty()) {
                for (i, c) in checked {
                    bundles[i].warnings.extend(c.warnings);
                }
                break;
            }
            let failing = checked
                .into_iter()
                .filter(|(_, c)| !c.problems.is_empty())
                .map(|(i, c)| (i, c.problems));
            for (i, problems) in failing.rev() {
                // In partial mode what has the problems is left out, and the rest checked
                // again; a pack is dropped only for problems of its own.
                let problems = match options.partial {
                    true => match bundles[i].leave_out(problems, true) {
                        Ok(()) => continue,
                        Err(p) => p,
                    },
                    false => problems,
                };
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
            failed: Vec::new(),
        };
        let checked = self.cross_check(&bundle, &loading, &[]);
        drop(loading);
        if !checked.problems.is_empty() {
            return Err(Error::Pack(PackErrors {
                pack: bundle.pack_ref().to_string(),
                dir: bundle.pack.path.clone(),
                problems: checked.problems,
            }));
        }
        let mut bundle = bundle;
        bundle.warnings.extend(checked.warnings);
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
            warnings: bundle.warnings.clone(),
            left_out: bundle.left_out.clone(),
        };
        let parts = PackParts {
            entry: PackEntry {
                unsupported: bundle.unsupported.clone().into(),
                ..PackEntry::new(bundle.pack.clone(), &bundle.config_schema)
            },
            actions: bundle.actions.iter().map(|a| a.def.clone()).collect(),
            triggers,
            rules,
            policies: bundle.policies.iter().map(|x| x.def.clone()).collect(),
            sensors: bundle.sensors.iter().map(|x| x.def.clone()).collect(),
        };
        let touched = self.shared.catalog.replace_pack(&p, Some(parts));
        for action in touched {
            super::policy::configure(&self.shared, &action).await?;
        }
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
        let touched = self.shared.catalog.replace_pack(pack_ref, None);
        for action in touched {
            super::policy::configure(&self.shared, &action).await?;
        }
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
}

async fn read_on_thread(dir: PathBuf, options: PackOptions) -> Result<Partial> {
    tokio::task::spawn_blocking(move || read_partial(&dir, &options))
        .await
        .map_err(|e| Error::invalid("pack", format!("the reading thread failed: {e}")))
}
