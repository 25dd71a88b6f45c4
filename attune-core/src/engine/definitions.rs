//! Registering definitions in code.

use super::Engine;
use super::catalog::PackEntry;
use super::trigger_schema::{RegisteredTrigger, parameter_problems};
use crate::model::{
    Action, Definition, DefinitionKind, Name, Pack, Rule, TriggerType, validate_ref,
};
use crate::params::ParamError;
use crate::rules::{CompiledRule, Criteria};
use crate::runtime::ActionContext;
use crate::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;

/// # Definitions
///
/// Register and remove packs' metadata, trigger types, actions (native handlers too) and
/// rules from code.
impl Engine {
    /// Registers (or replaces) a pack's metadata and config. The config is validated against
    /// `config_schema` (defaults applied); values of `secret: true` keys are kept in this
    /// process only: the store and [`Engine::pack`] see them as `********`, and they are
    /// masked in the outputs of the pack's actions.
    pub async fn register_pack(&self, pack: Pack) -> Result<()> {
        let _changing = self.shared.definitions.lock().await;
        self.put_pack(pack).await
    }

    /// [`Engine::register_pack`], the caller holding `Shared::definitions` (so that
    /// following the store's definitions cannot interleave with the write: it would swap
    /// the pack back to what was stored before it).
    async fn put_pack(&self, mut pack: Pack) -> Result<()> {
        if !crate::pack::valid_pack_ref(&pack.pack_ref) {
            return Err(Error::invalid(
                "pack ref",
                format!(
                    "'{}' must be non-empty and made of letters, digits, '_' and '-'",
                    pack.pack_ref
                ),
            ));
        }
        let what = format!("config of pack '{}'", pack.pack_ref);
        let schema = crate::pack::param_schema(&pack.config_schema)
            .map_err(|e| Error::invalid(&what, e.to_string()))?;
        if !schema.is_empty() || !pack.config.is_null() {
            let given = match &pack.config {
                serde_json::Value::Object(m) => m.clone(),
                serde_json::Value::Null => Default::default(),
                _ => return Err(Error::invalid(&what, "must be a mapping")),
            };
            let effective = schema
                .validate(&given)
                .map_err(|e| Error::invalid(&what, e.to_string()))?;
            if !effective.is_empty() {
                pack.config = serde_json::Value::Object(effective);
            }
        }
        self.shared
            .store
            .put_definition(Definition::Pack(crate::pack::redacted_pack(&pack, &schema)))
            .await?;
        self.shared.catalog.put_pack(PackEntry::new(pack, &schema));
        Ok(())
    }

    /// Registers pack `pack` bare unless it exists; the caller holds `Shared::definitions`.
    pub(super) async fn ensure_pack(&self, pack: &str) -> Result<()> {
        if self.shared.catalog.pack(pack).is_none() {
            self.put_pack(Pack::new(pack)).await?;
        }
        Ok(())
    }

    /// Registers (or replaces) a trigger type; its pack is created bare if missing. Its
    /// `payload_schema` and `parameters_schema` are JSON Schemas (the draft named by
    /// `$schema`, else Draft 4; no remote `$ref`), compiled now: one that does not compile is
    /// [`Error::Invalid`] naming the trigger type and the schema. From then on
    /// [`Engine::emit`] refuses payloads that do not fit the payload schema, and rules'
    /// `trigger_params` must fit the parameter schema.
    pub async fn register_trigger_type(&self, trigger: TriggerType) -> Result<()> {
        validate_ref("trigger type", &trigger.trigger_ref)?;
        let compiled = RegisteredTrigger::compile(trigger.clone())?;
        let _changing = self.shared.definitions.lock().await;
        self.ensure_pack(trigger.trigger_ref.split('.').next().unwrap_or_default())
            .await?;
        self.shared
            .store
            .put_definition(Definition::TriggerType(trigger.clone()))
            .await?;
        self.shared.catalog.put_trigger(compiled);
        Ok(())
    }

    /// Registers (or replaces) an action. Its runner must name a registered runtime, which
    /// checks the action (a Rhai script compiles, a native handler exists); its parameter
    /// schema must be consistent. Every problem is reported in one error.
    pub async fn register_action(&self, action: Action) -> Result<()> {
        validate_ref("action", &action.action_ref)?;
        let what = format!("action '{}'", action.action_ref);
        let runtime = self.shared.runtimes.get(&action.runner).ok_or_else(|| {
            let mut names: Vec<&str> = self.shared.runtimes.keys().map(String::as_str).collect();
            names.sort();
            Error::invalid(
                &what,
                format!(
                    "runner '{}' is not a registered runtime (have: {})",
                    action.runner,
                    names.join(", ")
                ),
            )
        })?;
        let schema_errors = action.parameters.validate_schema();
        if !schema_errors.is_empty() {
            let msgs: Vec<String> = schema_errors.iter().map(ToString::to_string).collect();
            return Err(Error::invalid(&what, msgs.join("; ")));
        }
        if let Some(t) = action.timeout_secs
            && !(t.is_finite() && t > 0.0)
        {
            {
                return Err(Error::invalid(
                    &what,
                    format!("timeout_secs must be positive, got {t}"),
                ));
            }
        }
        runtime.validate_action(&action)?;
        let _changing = self.shared.definitions.lock().await;
        self.ensure_pack(action.pack()).await?;
        self.shared
            .store
            .put_definition(Definition::Action(action.clone()))
            .await?;
        self.shared.catalog.put_action(action);
        Ok(())
    }

    /// Registers an async Rust closure as the action `action_ref` (runner `native`, no
    /// declared parameters: any params are accepted).
    ///
    /// The closure returns `Result<R>` with `R` any serializable type (the execution's
    /// result, as JSON). `Err(e)` fails the execution with `e`'s text as its error
    /// ([`Error::action_failed`] also sets its result). A closure that never returns `Ok`
    /// leaves `R` unknown to the compiler: name it, `R` comes first —
    /// `register_fn::<Value, _, _>`. The closure's future is first polled by the engine's
    /// task that starts the run ([`Runtime::starts_inline`](crate::runtime::Runtime::starts_inline)):
    /// do not block before an `.await` (blocking work belongs in `spawn_blocking`). A future
    /// that waits is polled again in a task of its own, with another waker: as the `Future`
    /// contract asks, it wakes the waker of its latest poll (tokio's and `futures`' types
    /// do; a hand-written future that keeps only its first waker is never woken).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> attune_core::Result<()> {
    /// use attune_core::{Engine, Error};
    /// use attune_core::model::ExecutionStatus;
    /// use serde_json::{Value, json};
    ///
    /// let engine = Engine::builder().build().await?;
    /// engine.register_fn::<Value, _, _>("demo.refuse", |ctx| async move {
    ///     Err(Error::action_failed("refused", json!({ "asked": ctx.param("what") })))
    /// }).await?;
    /// let x = engine.run("demo.refuse", json!({ "what": "reboot" })).await?;
    /// assert_eq!(x.status, ExecutionStatus::Failed);
    /// assert_eq!(x.result, Some(json!({ "asked": "reboot" })));
    /// # Ok(()) }
    /// ```
    pub async fn register_fn<R, F, Fut>(&self, action_ref: &str, f: F) -> Result<()>
    where
        F: Fn(ActionContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R>> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        self.register_native(Action::new(action_ref, "native"), f)
            .await
    }

    /// Registers an async Rust closure as the body of `action` (its runner is set to
    /// `native`); the action's parameter schema validates params before the closure runs.
    /// The closure is as [`Engine::register_fn`]'s (`R`, its result type, first).
    pub async fn register_native<R, F, Fut>(&self, mut action: Action, f: F) -> Result<()>
    where
        F: Fn(ActionContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R>> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        validate_ref("action", &action.action_ref)?;
        action.runner = "native".into();
        self.shared.native.register(action.action_ref.clone(), f);
        self.register_action(action).await
    }

    /// Registers the body of a native action that a pack declares (`runner_type: native`):
    /// call it before loading the pack. Unlike [`Engine::register_native`] it does not
    /// register the action itself; the pack's file gives its parameters and description.
    /// The closure is as [`Engine::register_fn`]'s (`R`, its result type, first).
    pub fn register_handler<R, F, Fut>(&self, action_ref: &str, f: F)
    where
        F: Fn(ActionContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R>> + Send + 'static,
        R: Serialize + Send + 'static,
    {
        self.shared.native.register(action_ref.to_string(), f);
    }

    /// Registers (or replaces) a rule. The trigger type and the action must be registered;
    /// criteria, expression and param templates are compiled now (every problem reported in
    /// one error); params are checked against the action's schema — a literal one entirely,
    /// a templated one for its name (its value is known per event), an undeclared name with
    /// the nearest declared one as a hint; an action that declares no parameters accepts
    /// any — and `trigger_params`, when given, against the trigger type's parameter schema
    /// (each failing path named).
    pub async fn register_rule(&self, rule: Rule) -> Result<()> {
        validate_ref("rule", &rule.rule_ref)?;
        let _changing = self.shared.definitions.lock().await;
        let compiled = self.compile_rule(rule)?;
        let what = format!("rule '{}'", compiled.rule.rule_ref);
        let mut problems = Vec::new();
        match self.shared.catalog.trigger(&compiled.rule.trigger) {
            None => problems.push(format!(
                "trigger type '{}' is not registered",
                compiled.rule.trigger
            )),
            Some(t) => {
                let params = &compiled.rule.trigger_params;
                let found = parameter_problems(t.parameters.as_ref(), params);
                // A timer's parameters that fit the schema must also make a schedule.
                if found.is_empty()
                    && let Err(e) = crate::timer::Schedule::of_trigger(&t.def.trigger_ref, params)
                {
                    problems.push(e.to_string());
                }
                for p in found {
                    problems.push(format!(
                        "trigger parameters of trigger type '{}': {p}",
                        t.def.trigger_ref
                    ));
                }
            }
        }
        match self.shared.catalog.action(&compiled.rule.action) {
            None => problems.push(format!(
                "action '{}' is not registered",
                compiled.rule.action
            )),
            Some(action) => {
                let errors = rule_param_problems(&action, &compiled.rule.action_params);
                if !errors.is_empty() {
                    let errors = crate::params::ParamErrors(errors);
                    problems.push(format!(
                        "params of action '{}': {errors}",
                        action.action_ref
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(what, problems.join("; ")));
        }
        self.ensure_pack(compiled.rule.pack()).await?;
        self.shared
            .store
            .put_definition(Definition::Rule(compiled.rule.clone()))
            .await?;
        // The replaced rule's templates go when the last holder (a matching in flight) drops it.
        self.shared.catalog.put_rule(Arc::new(compiled));
        Ok(())
    }

    /// Removes a rule; returns whether it existed.
    pub async fn remove_rule(&self, rule_ref: &str) -> Result<bool> {
        let _changing = self.shared.definitions.lock().await;
        let existed = self
            .shared
            .store
            .delete_definition(DefinitionKind::Rule, rule_ref)
            .await?;
        if self.shared.catalog.remove_rule(rule_ref).is_some() {
            return Ok(true);
        }
        Ok(existed)
    }

    /// Removes an action; refused (Conflict) while a rule refers to it.
    pub async fn remove_action(&self, action_ref: &str) -> Result<bool> {
        let _changing = self.shared.definitions.lock().await;
        let users = self.shared.catalog.rules_using_action(action_ref);
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "action '{action_ref}' is used by rules: {}",
                users.join(", ")
            )));
        }
        let existed = self
            .shared
            .store
            .delete_definition(DefinitionKind::Action, action_ref)
            .await?;
        self.shared.native.unregister(action_ref);
        Ok(self.shared.catalog.remove_action(action_ref) || existed)
    }

    /// Compiles a rule's criteria, expression and params.
    pub(crate) fn compile_rule(&self, mut rule: Rule) -> Result<CompiledRule> {
        rule.trigger = crate::pack::canonical_trigger(&rule.trigger).to_string();
        let what = format!("rule '{}'", rule.rule_ref);
        let mut problems = Vec::new();
        let criteria = match Criteria::compile(&rule.criteria) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(format!("criteria: {e}"));
                None
            }
        };
        let expression = match &rule.expression {
            None => None,
            Some(src) => match self
                .shared
                .sandbox
                .compile_expression(&format!("{what} expression"), src)
            {
                Ok(ast) => Some(Arc::new(ast)),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
        };
        let params = match self
            .shared
            .templates
            .compile_map(&format!("{what} param"), &rule.action_params)
        {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let mut patterns = std::collections::HashMap::new();
        for (key, source) in criteria
            .as_ref()
            .map(Criteria::templates)
            .unwrap_or_default()
        {
            if patterns.contains_key(source) {
                continue;
            }
            let location = format!("{what} criterion '{key}' pattern");
            match self.shared.templates.compile_pattern(&location, source) {
                Ok(c) => {
                    patterns.insert(source.to_string(), c);
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        match (criteria, params) {
            (Some(criteria), Some(params)) if problems.is_empty() => {
                let mut sources = Vec::new();
                for v in rule.action_params.values() {
                    crate::template::template_strings(v, &mut sources);
                }
                crate::template::template_strings(&rule.criteria, &mut sources);
                let decrypts = sources.iter().any(|s| s.contains("decrypt_kv"));
                let kv = crate::template::kv_refs::KvRefs::of(
                    sources,
                    rule.expression.as_deref().is_some_and(|e| e.contains("kv")),
                );
                let context = super::context::jmap([
                    ("ref", minijinja::Value::from(rule.rule_ref.as_str())),
                    ("action", minijinja::Value::from(rule.action.as_str())),
                    ("trigger", minijinja::Value::from(rule.trigger.as_str())),
                ]);
                Ok(CompiledRule {
                    context,
                    name: Name::from(&rule.rule_ref),
                    rule,
                    criteria,
                    expression,
                    params,
                    patterns,
                    kv,
                    decrypts,
                })
            }
            _ => Err(Error::invalid(what, problems.join("; "))),
        }
    }
}

/// The problems of a rule's `params` against `action`'s schema, as far as they are known
/// before an event: literal params are validated (types, enums, bounds, unknown names,
/// required params missing); a templated one (a template anywhere in its value) stands for a
/// value of the right type, so only its name is checked. Unknown names carry the nearest
/// declared name as their hint. An action that declares no parameters accepts any: none.
/// Shared by [`Engine::register_rule`] and the checks of pack install.
pub(super) fn rule_param_problems(action: &Action, params: &Map<String, Value>) -> Vec<ParamError> {
    let schema = &action.parameters;
    if schema.is_empty() {
        return Vec::new();
    }
    let templated = |name: &str| {
        params
            .get(name)
            .is_some_and(|v| crate::template::any_template(v, &|_| true))
    };
    let mut checked = Map::new();
    for (name, value) in params {
        if !templated(name) {
            checked.insert(name.clone(), value.clone());
            continue;
        }
        // A declared name stands in with its default (or is left out, so that a required
        // one is not reported missing); an undeclared one with any value, reported unknown.
        match schema.get(name) {
            Some(spec) => {
                if let Some(d) = &spec.default {
                    checked.insert(name.clone(), d.clone());
                }
            }
            None => {
                checked.insert(name.clone(), Value::Bool(true));
            }
        }
    }
    match schema.validate(&checked) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .0
            .into_iter()
            .filter(|e| {
                let name = e.param.split(['.', '[']).next().unwrap_or_default();
                !(templated(name) && schema.get(name).is_some())
            })
            .collect(),
    }
}

/// # Definitions: reading them back
impl Engine {
    /// A registered rule's definition.
    pub fn rule(&self, rule_ref: &str) -> Option<Rule> {
        self.shared.catalog.rule(rule_ref).map(|r| r.rule.clone())
    }

    /// A registered action's definition.
    pub fn action(&self, action_ref: &str) -> Option<Action> {
        self.shared.catalog.action(action_ref).map(|a| (*a).clone())
    }

    /// The refs of the registered actions, sorted.
    pub fn action_refs(&self) -> Vec<String> {
        let mut refs = self.shared.catalog.action_refs();
        refs.sort();
        refs
    }

    /// A registered trigger type's definition.
    pub fn trigger_type(&self, trigger_ref: &str) -> Option<crate::model::TriggerType> {
        self.shared
            .catalog
            .trigger(trigger_ref)
            .map(|t| t.def.clone())
    }

    /// The refs of the registered trigger types, sorted.
    pub fn trigger_type_refs(&self) -> Vec<String> {
        let mut refs = self.shared.catalog.trigger_refs();
        refs.sort();
        refs
    }

    /// The refs of the registered rules (enabled or not), sorted.
    pub fn rule_refs(&self) -> Vec<String> {
        let mut refs = self.shared.catalog.rule_refs();
        refs.sort();
        refs
    }

    /// Number of registered rules (enabled or not).
    pub fn rule_count(&self) -> usize {
        self.shared.catalog.rule_count()
    }
}
