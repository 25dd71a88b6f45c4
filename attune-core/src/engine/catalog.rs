//! The engine's in-memory view of the definitions: what the hot path reads.

use super::trigger_schema::RegisteredTrigger;
use crate::model::{Action, Definition, Pack, Policy, PolicyKind, Sensor};
use crate::params::ParamSchema;
use crate::rules::{CompiledRule, RuleIndex, TriggerRules};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A registered pack: its definition with real config values (for templates and
/// expressions), the redacted copy (for anything shown or stored), and the secret config
/// values (masked in the outputs of its actions).
#[derive(Debug, Clone)]
pub(crate) struct PackEntry {
    pub real: Arc<Pack>,
    pub redacted: Arc<Pack>,
    pub ctx: minijinja::Value,
    pub secrets: Arc<[String]>,
    /// The real config values, shared by the run requests of its actions.
    pub config: Arc<serde_json::Value>,
    /// Its actions left out because Attune does not run their StackStorm runner.
    pub unsupported: Arc<[crate::pack::Unsupported]>,
}

/// What a run needs of the packs involved (see [`Catalog::run_info`]).
pub(crate) struct RunInfo {
    /// The secret config values of the action's pack and of the rule's pack, if any.
    pub secrets: Option<Arc<[String]>>,
    /// The action's pack's directory, when it was loaded from disk.
    pub dir: Option<std::path::PathBuf>,
    /// The action's pack's config, real values.
    pub config: Option<Arc<serde_json::Value>>,
}

impl PackEntry {
    pub(crate) fn new(pack: Pack, schema: &ParamSchema) -> Self {
        let redacted = crate::pack::redacted_pack(&pack, schema);
        let secrets: Vec<String> = match &pack.config {
            serde_json::Value::Object(m) => schema.secret_values(m),
            _ => Vec::new(),
        };
        let config = Arc::new(pack.config.clone());
        PackEntry {
            config,
            ctx: pack_ctx(&pack.pack_ref, &pack.config),
            real: Arc::new(pack),
            redacted: Arc::new(redacted),
            secrets: secrets.into(),
            unsupported: Arc::from([]),
        }
    }
}

/// Everything of one pack the catalog holds, swapped in one step by
/// [`Catalog::replace_pack`].
pub(crate) struct PackParts {
    pub entry: PackEntry,
    pub actions: Vec<Action>,
    pub triggers: Vec<RegisteredTrigger>,
    pub rules: Vec<Arc<CompiledRule>>,
    pub policies: Vec<Policy>,
    pub sensors: Vec<Sensor>,
}

/// Actions, trigger types, packs and the rule index, each behind its own lock so the matching
/// stage reads without contention with registration.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    actions: RwLock<HashMap<String, Arc<Action>>>,
    triggers: RwLock<HashMap<String, Arc<RegisteredTrigger>>>,
    packs: RwLock<HashMap<String, PackEntry>>,
    rules: RwLock<RuleIndex>,
    /// Policies by ref.
    policies: RwLock<HashMap<String, Arc<Policy>>>,
    /// Sensors by ref.
    sensors: RwLock<HashMap<String, Arc<Sensor>>>,
    /// Moves on whenever rules or sensors change (the timer and sensor tasks follow it).
    changes: Changes,
}

/// A version number that moves on at every change, for tasks to wait on.
#[derive(Debug)]
pub(crate) struct Changes(tokio::sync::watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Changes(tokio::sync::watch::Sender::new(0))
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Catalog {
    /// Tells the tasks that follow the rules and sensors that they changed.
    pub(crate) fn touch(&self) {
        self.changes.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees every later [`Catalog::touch`].
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.0.subscribe()
    }

    /// The trigger instances the enabled rules ask of the trigger types `wanted` admits:
    /// one per distinct parameters (canonical form, `null` as `{}`), by trigger type, in a
    /// stable order. What the timer and sensor tasks follow.
    pub(crate) fn trigger_instances(
        &self,
        wanted: impl Fn(&str) -> bool,
    ) -> HashMap<String, Vec<crate::sensor::TriggerInstance>> {
        let mut out: HashMap<String, std::collections::BTreeMap<String, serde_json::Value>> =
            HashMap::new();
        for rule in self.enabled_rules() {
            let t = crate::pack::canonical_trigger(&rule.rule.trigger);
            if !wanted(t) {
                continue;
            }
            let params = match &rule.rule.trigger_params {
                serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                p => p.clone(),
            };
            out.entry(t.to_string())
                .or_default()
                .entry(crate::rules::canonical_params(&params))
                .or_insert(params);
        }
        out.into_iter()
            .map(|(t, by_key)| {
                let list = by_key
                    .into_values()
                    .map(|parameters| crate::sensor::TriggerInstance {
                        trigger_type: t.clone(),
                        parameters,
                    })
                    .collect();
                (t, list)
            })
            .collect()
    }

    /// Every sensor.
    pub(crate) fn sensors(&self) -> Vec<Arc<Sensor>> {
        let mut v: Vec<Arc<Sensor>> = read(&self.sensors).values().cloned().collect();
        v.sort_by(|a, b| a.sensor_ref.cmp(&b.sensor_ref));
        v
    }

    pub(crate) fn put_sensor(&self, sensor: Sensor) -> Option<Arc<Sensor>> {
        let old = write(&self.sensors).insert(sensor.sensor_ref.clone(), Arc::new(sensor));
        self.touch();
        old
    }

    pub(crate) fn remove_sensor(&self, r: &str) -> Option<Arc<Sensor>> {
        let old = write(&self.sensors).remove(r);
        self.touch();
        old
    }

    pub(crate) fn action(&self, r: &str) -> Option<Arc<Action>> {
        read(&self.actions).get(r).cloned()
    }

    pub(crate) fn put_action(&self, a: Action) {
        write(&self.actions).insert(a.action_ref.clone(), Arc::new(a));
    }

    pub(crate) fn remove_action(&self, r: &str) -> bool {
        write(&self.actions).remove(r).is_some()
    }

    /// A trigger type with its compiled schemas.
    pub(crate) fn trigger(&self, r: &str) -> Option<Arc<RegisteredTrigger>> {
        read(&self.triggers).get(r).cloned()
    }

    pub(crate) fn put_trigger(&self, t: RegisteredTrigger) {
        write(&self.triggers).insert(t.def.trigger_ref.clone(), Arc::new(t));
    }

    /// The pack with its real config values (never shown: see [`PackEntry`]).
    pub(crate) fn pack(&self, r: &str) -> Option<Arc<Pack>> {
        read(&self.packs).get(r).map(|e| e.real.clone())
    }

    pub(crate) fn pack_entry(&self, r: &str) -> Option<PackEntry> {
        read(&self.packs).get(r).cloned()
    }

    pub(crate) fn pack_refs(&self) -> Vec<String> {
        let mut v: Vec<String> = read(&self.packs).keys().cloned().collect();
        v.sort();
        v
    }

    /// Under one read lock: the secret config values of the action's pack and of the rule's
    /// pack (`None` when there are none), and the action pack's directory and config.
    pub(crate) fn run_info(&self, action_pack: &str, rule_pack: Option<&str>) -> RunInfo {
        let packs = read(&self.packs);
        let entry = packs.get(action_pack);
        let dir = entry.and_then(|e| e.real.path.clone());
        let config = entry.map(|e| e.config.clone());
        let a = entry
            .filter(|e| !e.secrets.is_empty())
            .map(|e| e.secrets.clone());
        let b = rule_pack
            .filter(|p| *p != action_pack)
            .and_then(|p| packs.get(p))
            .filter(|e| !e.secrets.is_empty())
            .map(|e| e.secrets.clone());
        let secrets = match (a, b) {
            (None, b) => b,
            (a, None) => a,
            (Some(a), Some(b)) => Some(a.iter().chain(b.iter()).cloned().collect()),
        };
        RunInfo {
            secrets,
            dir,
            config,
        }
    }

    /// The `pack` namespace of templates (`pack.ref`, `pack.config`) of pack `r`, built once
    /// per pack, when it is registered (see [`pack_ctx`] for one that is not).
    pub(crate) fn registered_pack_context(&self, r: &str) -> Option<minijinja::Value> {
        read(&self.packs).get(r).map(|e| e.ctx.clone())
    }

    pub(crate) fn put_pack(&self, e: PackEntry) {
        write(&self.packs).insert(e.real.pack_ref.clone(), e);
    }

    /// Replaces everything of pack `p` (its entry, actions, trigger types and rules) in one
    /// step: every lock is held until all are swapped, so no reader sees a mix of versions
    /// within one table, and a matching that started before keeps the `Arc`s it holds.
    /// `None` removes the pack. Returns the actions whose policies may have changed.
    pub(crate) fn replace_pack(&self, p: &str, parts: Option<PackParts>) -> Vec<String> {
        let prefix = format!("{p}.");
        let mut policies = write(&self.policies);
        let mut touched: Vec<String> = policies
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.action.clone())
            .collect();
        policies.retain(|k, _| !k.starts_with(&prefix));
        let mut actions = write(&self.actions);
        let mut triggers = write(&self.triggers);
        let mut packs = write(&self.packs);
        let mut rules = write(&self.rules);
        let mut sensors = write(&self.sensors);
        sensors.retain(|k, _| !k.starts_with(&prefix));
        actions.retain(|k, _| !k.starts_with(&prefix));
        triggers.retain(|k, _| !k.starts_with(&prefix));
        let old: Vec<String> = rules
            .all()
            .filter(|r| r.rule.rule_ref.starts_with(&prefix))
            .map(|r| r.rule.rule_ref.clone())
            .collect();
        for r in old {
            rules.remove(&r);
        }
        packs.remove(p);
        if let Some(parts) = parts {
            for a in parts.actions {
                actions.insert(a.action_ref.clone(), Arc::new(a));
            }
            for t in parts.triggers {
                triggers.insert(t.def.trigger_ref.clone(), Arc::new(t));
            }
            for r in parts.rules {
                rules.insert(r);
            }
            for x in parts.sensors {
                sensors.insert(x.sensor_ref.clone(), Arc::new(x));
            }
            for pol in parts.policies {
                touched.push(pol.action.clone());
                policies.insert(pol.policy_ref.clone(), Arc::new(pol));
            }
            packs.insert(p.to_string(), parts.entry);
        }
        drop((policies, actions, triggers, packs, rules, sensors));
        self.touch();
        touched.sort();
        touched.dedup();
        touched
    }

    /// Everything of pack `p` the catalog holds, as it would be stored (the pack redacted),
    /// ordered by kind then ref: what [`Catalog::replace_pack`] swaps. Empty when the
    /// catalog holds nothing of `p`.
    pub(crate) fn pack_definitions(&self, p: &str) -> Vec<Definition> {
        let prefix = format!("{p}.");
        let mut out: Vec<Definition> = Vec::new();
        if let Some(e) = read(&self.packs).get(p) {
            out.push(Definition::Pack((*e.redacted).clone()));
        }
        let mine = |k: &String| k.starts_with(&prefix);
        out.extend(
            read(&self.actions)
                .iter()
                .filter(|(k, _)| mine(k))
                .map(|(_, a)| Definition::Action((**a).clone())),
        );
        out.extend(
            read(&self.triggers)
                .iter()
                .filter(|(k, _)| mine(k))
                .map(|(_, t)| Definition::TriggerType(t.def.clone())),
        );
        out.extend(
            read(&self.sensors)
                .iter()
                .filter(|(k, _)| mine(k))
                .map(|(_, x)| Definition::Sensor((**x).clone())),
        );
        out.extend(
            read(&self.policies)
                .iter()
                .filter(|(k, _)| mine(k))
                .map(|(_, x)| Definition::Policy((**x).clone())),
        );
        out.extend(
            read(&self.rules)
                .all()
                .filter(|r| mine(&r.rule.rule_ref))
                .map(|r| Definition::Rule(r.rule.clone())),
        );
        out.sort_by(|a, b| (a.kind(), a.def_ref()).cmp(&(b.kind(), b.def_ref())));
        out
    }

    /// Inserts or replaces a policy; returns the one it replaced.
    pub(crate) fn put_policy(&self, p: Policy) -> Option<Arc<Policy>> {
        write(&self.policies).insert(p.policy_ref.clone(), Arc::new(p))
    }

    pub(crate) fn remove_policy(&self, r: &str) -> Option<Arc<Policy>> {
        write(&self.policies).remove(r)
    }

    pub(crate) fn policy(&self, r: &str) -> Option<Arc<Policy>> {
        read(&self.policies).get(r).cloned()
    }

    /// The policies of `action` (enabled or not), by ref.
    pub(crate) fn policies_for(&self, action: &str) -> Vec<Arc<Policy>> {
        let mut v: Vec<Arc<Policy>> = read(&self.policies)
            .values()
            .filter(|p| p.action == action)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.policy_ref.cmp(&b.policy_ref));
        v
    }

    /// Every policy, by ref.
    pub(crate) fn all_policies(&self) -> Vec<Arc<Policy>> {
        let mut v: Vec<Arc<Policy>> = read(&self.policies).values().cloned().collect();
        v.sort_by(|a, b| a.policy_ref.cmp(&b.policy_ref));
        v
    }

    /// The actions that have policies.
    pub(crate) fn policy_actions(&self) -> Vec<String> {
        let mut v: Vec<String> = read(&self.policies)
            .values()
            .map(|p| p.action.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The enabled retry policy of `action` (the first by ref when there are several).
    pub(crate) fn retry_policy(&self, action: &str) -> Option<Arc<Policy>> {
        self.policies_for(action)
            .into_iter()
            .find(|p| p.enabled && matches!(p.kind, PolicyKind::Retry { .. }))
    }

    /// Whether any enabled retry policy exists.
    pub(crate) fn has_retry_policies(&self) -> bool {
        read(&self.policies)
            .values()
            .any(|p| p.enabled && matches!(p.kind, PolicyKind::Retry { .. }))
    }

    /// The refs of the rules of other packs than `p` that use an action or trigger type of
    /// `p`, with what they use.
    pub(crate) fn users_of_pack(&self, p: &str) -> Vec<(String, String)> {
        let prefix = format!("{p}.");
        read(&self.rules)
            .all()
            .filter(|r| !r.rule.rule_ref.starts_with(&prefix))
            .flat_map(|r| {
                [&r.rule.action, &r.rule.trigger]
                    .into_iter()
                    .filter(|x| x.starts_with(&prefix))
                    .map(|x| (r.rule.rule_ref.clone(), x.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Refs of the trigger types that are registered (for hints).
    pub(crate) fn trigger_refs(&self) -> Vec<String> {
        read(&self.triggers).keys().cloned().collect()
    }

    /// The actions of registered packs that were left out for their runner.
    pub(crate) fn unsupported_actions(&self) -> Vec<crate::pack::Unsupported> {
        read(&self.packs)
            .values()
            .flat_map(|e| e.unsupported.iter().cloned())
            .collect()
    }

    /// Why action `r` is not registered, when its pack left it out for its runner.
    pub(crate) fn unsupported_action(&self, r: &str) -> Option<crate::pack::Unsupported> {
        let pack = r.split_once('.').map_or("", |(p, _)| p);
        read(&self.packs)
            .get(pack)?
            .unsupported
            .iter()
            .find(|u| u.action_ref == r)
            .cloned()
    }

    /// Refs of the actions that are registered (for hints).
    pub(crate) fn action_refs(&self) -> Vec<String> {
        read(&self.actions).keys().cloned().collect()
    }

    pub(crate) fn rules_for(&self, trigger: &str) -> Option<Arc<TriggerRules>> {
        read(&self.rules).for_trigger(trigger)
    }

    /// Every rule of a trigger, enabled or not.
    pub(crate) fn rules_of_trigger(&self, trigger: &str) -> Vec<Arc<CompiledRule>> {
        read(&self.rules)
            .all()
            .filter(|r| r.rule.trigger == trigger)
            .cloned()
            .collect()
    }

    pub(crate) fn rule(&self, r: &str) -> Option<Arc<CompiledRule>> {
        read(&self.rules).get(r).cloned()
    }

    pub(crate) fn rules_using_action(&self, action: &str) -> Vec<String> {
        read(&self.rules)
            .all()
            .filter(|r| r.rule.action == action)
            .map(|r| r.rule.rule_ref.clone())
            .collect()
    }

    pub(crate) fn put_rule(&self, r: Arc<CompiledRule>) -> Option<Arc<CompiledRule>> {
        let old = write(&self.rules).insert(r);
        self.touch();
        old
    }

    pub(crate) fn remove_rule(&self, r: &str) -> Option<Arc<CompiledRule>> {
        let old = write(&self.rules).remove(r);
        self.touch();
        old
    }

    /// Every enabled rule, unordered.
    pub(crate) fn enabled_rules(&self) -> Vec<Arc<CompiledRule>> {
        read(&self.rules)
            .all()
            .filter(|r| r.rule.enabled)
            .cloned()
            .collect()
    }

    /// The refs of every rule, enabled or not, unordered.
    pub(crate) fn rule_refs(&self) -> Vec<String> {
        read(&self.rules)
            .all()
            .map(|r| r.rule.rule_ref.clone())
            .collect()
    }

    pub(crate) fn rule_count(&self) -> usize {
        read(&self.rules).len()
    }
}

/// The `pack` namespace of templates: `pack.ref`, `pack.config`.
pub(crate) fn pack_ctx(r: &str, config: &serde_json::Value) -> minijinja::Value {
    super::context::jmap([
        ("ref", minijinja::Value::from(r)),
        ("config", crate::template::to_jinja(config)),
    ])
}
