//! The engine's in-memory view of the definitions: what the hot path reads.

use crate::model::{Action, Pack, TriggerType};
use crate::rules::{CompiledRule, RuleIndex, TriggerRules};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Actions, trigger types, packs and the rule index, each behind its own lock so the matching
/// stage reads without contention with registration.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    actions: RwLock<HashMap<String, Arc<Action>>>,
    triggers: RwLock<HashMap<String, Arc<TriggerType>>>,
    packs: RwLock<HashMap<String, (Arc<Pack>, minijinja::Value)>>,
    rules: RwLock<RuleIndex>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub fn action(&self, r: &str) -> Option<Arc<Action>> {
        read(&self.actions).get(r).cloned()
    }

    pub fn put_action(&self, a: Action) {
        write(&self.actions).insert(a.action_ref.clone(), Arc::new(a));
    }

    pub fn remove_action(&self, r: &str) -> bool {
        write(&self.actions).remove(r).is_some()
    }

    pub fn trigger(&self, r: &str) -> Option<Arc<TriggerType>> {
        read(&self.triggers).get(r).cloned()
    }

    pub fn put_trigger(&self, t: TriggerType) {
        write(&self.triggers).insert(t.trigger_ref.clone(), Arc::new(t));
    }

    pub fn pack(&self, r: &str) -> Option<Arc<Pack>> {
        read(&self.packs).get(r).map(|(p, _)| p.clone())
    }

    /// The `pack` namespace of templates (`pack.ref`, `pack.config`), built once per pack.
    pub fn pack_context(&self, r: &str) -> minijinja::Value {
        if let Some((_, ctx)) = read(&self.packs).get(r) {
            return ctx.clone();
        }
        pack_ctx(r, &serde_json::Value::Null)
    }

    pub fn put_pack(&self, p: Pack) {
        let ctx = pack_ctx(&p.pack_ref, &p.config);
        write(&self.packs).insert(p.pack_ref.clone(), (Arc::new(p), ctx));
    }

    pub fn rules_for(&self, trigger: &str) -> Option<Arc<TriggerRules>> {
        read(&self.rules).for_trigger(trigger)
    }

    pub fn rule(&self, r: &str) -> Option<Arc<CompiledRule>> {
        read(&self.rules).get(r).cloned()
    }

    pub fn rules_using_action(&self, action: &str) -> Vec<String> {
        read(&self.rules)
            .all()
            .filter(|r| r.rule.action == action)
            .map(|r| r.rule.rule_ref.clone())
            .collect()
    }

    pub fn put_rule(&self, r: Arc<CompiledRule>) -> Option<Arc<CompiledRule>> {
        write(&self.rules).insert(r)
    }

    pub fn remove_rule(&self, r: &str) -> Option<Arc<CompiledRule>> {
        write(&self.rules).remove(r)
    }

    pub fn rule_count(&self) -> usize {
        read(&self.rules).len()
    }
}

fn pack_ctx(r: &str, config: &serde_json::Value) -> minijinja::Value {
    super::context::jmap([
        ("ref", minijinja::Value::from(r)),
        ("config", crate::template::to_jinja(config)),
    ])
}
