//! Following definitions changed by other processes sharing the store.
//!
//! Each engine matches, schedules and runs against its catalog, an in-memory copy of the
//! definitions. On a shared store another process may register a rule or install a pack at
//! any time; the store then reports a new [`definitions_generation`]. Before each batch the
//! matching, scheduling and running stages call [`follow`]: when the generation moved since
//! the catalog was last brought in line, every pack whose stored definitions differ from
//! the catalog's is swapped in one step, as installing it would. A rule registered anywhere
//! (its write committed) therefore applies to every event claimed afterwards, in every
//! process.
//!
//! A pack's secret config values are never stored: a pack whose stored (redacted) entry is
//! the one this process holds keeps its entry, secrets included; a pack first seen in the
//! store, or changed elsewhere, gets the stored entry, without secrets (load the pack in
//! each process for them). Stored rules or trigger types that no longer compile are left
//! out with a warning, as at start.
//!
//! [`definitions_generation`]: crate::store::Store::definitions_generation

use super::Shared;
use super::catalog::{PackEntry, PackParts};
use super::trigger_schema::RegisteredTrigger;
use crate::Result;
use crate::model::{Definition, Pack};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Value of `Shared::definitions_seen` before any generation was read.
pub(crate) const UNSEEN: u64 = u64::MAX;

/// Brings the catalog in line with the store when the definitions' generation moved; a
/// no-op (no query) on a store that is not shared.
pub(crate) async fn follow(shared: &Arc<Shared>) -> Result<()> {
    if !shared.store.capabilities().shared {
        return Ok(());
    }
    let Some(now) = shared.store.definitions_generation().await? else {
        return Ok(());
    };
    if seen(shared) == Some(now) {
        return Ok(());
    }
    let _changing = shared.definitions.lock().await;
    // Another stage may have caught up while this one waited.
    if seen(shared).is_some_and(|s| s >= now) {
        return Ok(());
    }
    reload(shared).await?;
    // What was read is at least generation `now`: a change after the read shows as a
    // newer generation next time.
    shared.definitions_seen.store(now, Ordering::Release);
    Ok(())
}

/// How often an engine on a shared store follows the definitions when no batch comes (its
/// timers and sensors, and its policies leadership, need them too).
const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Follows the definitions every [`EVERY`] until the engine stops; a no-op on a store
/// that is not shared.
pub(crate) async fn run(shared: Arc<Shared>) {
    if !shared.store.capabilities().shared {
        return;
    }
    loop {
        if !super::pause::pause(&shared.stop, EVERY).await {
            return;
        }
        if let Err(e) = follow(&shared).await {
            tracing::warn!(error = %e, "definitions could not be followed; next time");
        }
    }
}

/// [`follow`] for a stage about to handle a batch: false (logged) when the store could not
/// be asked, and the batch is left for the recovery sweep.
pub(crate) async fn follow_or_log(shared: &Arc<Shared>, stage: &str) -> bool {
    match follow(shared).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(stage, error = %e, "definitions could not be followed; batch left for the sweep");
            false
        }
    }
}

/// Records the generation the catalog is in line with, read before loading it.
pub(crate) fn mark_loaded(shared: &Shared, generation: Option<u64>) {
    if let Some(g) = generation {
        shared.definitions_seen.store(g, Ordering::Release);
    }
}

fn seen(shared: &Shared) -> Option<u64> {
    let s = shared.definitions_seen.load(Ordering::Acquire);
    (s != UNSEEN).then_some(s)
}

/// Swaps every pack whose stored definitions differ from the catalog's.
async fn reload(shared: &Arc<Shared>) -> Result<()> {
    let mut stored: BTreeMap<String, Vec<Definition>> = BTreeMap::new();
    for kind in super::builder::LOAD_ORDER {
        for def in shared.store.list_definitions(kind, None).await? {
            stored.entry(def.pack().to_string()).or_default().push(def);
        }
    }
    let packs: BTreeSet<String> = shared
        .catalog
        .pack_refs()
        .into_iter()
        .chain(stored.keys().cloned())
        .collect();
    let engine = super::Engine::internal(shared.clone());
    let mut touched = Vec::new();
    for p in packs {
        // The core pack is code: every engine installs its own (its actions are those of
        // the runtimes it has), and follows no other's.
        if p == "core" {
            continue;
        }
        let mut there = stored.remove(&p).unwrap_or_default();
        there.sort_by(|a, b| (a.kind(), a.def_ref()).cmp(&(b.kind(), b.def_ref())));
        if shared.catalog.pack_definitions(&p) == there {
            continue;
        }
        tracing::debug!(pack = %p, "definitions changed in the store; following");
        let parts = if there.is_empty() {
            None
        } else {
            Some(parts_of(&engine, &p, there))
        };
        touched.extend(shared.catalog.replace_pack(&p, parts));
    }
    touched.sort();
    touched.dedup();
    for action in touched {
        super::policy::configure(shared, &action).await?;
    }
    Ok(())
}

/// The catalog's parts of pack `p` from its stored definitions.
fn parts_of(engine: &super::Engine, p: &str, defs: Vec<Definition>) -> PackParts {
    let catalog = &engine.shared.catalog;
    let mut parts = PackParts {
        entry: PackEntry::new(Pack::new(p), &Default::default()),
        actions: Vec::new(),
        triggers: Vec::new(),
        rules: Vec::new(),
        policies: Vec::new(),
        sensors: Vec::new(),
    };
    for def in defs {
        match def {
            Definition::Pack(stored) => {
                parts.entry = match catalog.pack_entry(p) {
                    // The same pack as here: keep this process's entry (its secrets).
                    Some(here) if *here.redacted == stored => here,
                    _ => {
                        let schema =
                            crate::pack::param_schema(&stored.config_schema).unwrap_or_default();
                        PackEntry::new(stored, &schema)
                    }
                };
            }
            Definition::Action(a) => parts.actions.push(a),
            Definition::TriggerType(t) => {
                let trigger_ref = t.trigger_ref.clone();
                match RegisteredTrigger::compile(t) {
                    Ok(t) => parts.triggers.push(t),
                    Err(e) => {
                        tracing::warn!(trigger = %trigger_ref, error = %e, "stored trigger type skipped")
                    }
                }
            }
            Definition::Rule(r) => {
                let rule_ref = r.rule_ref.clone();
                match engine.compile_rule(r) {
                    Ok(c) => parts.rules.push(Arc::new(c)),
                    Err(e) => tracing::warn!(rule = %rule_ref, error = %e, "stored rule skipped"),
                }
            }
            Definition::Policy(x) => parts.policies.push(x),
            Definition::Sensor(x) => parts.sensors.push(x),
        }
    }
    parts
}
