//! Packs on disk: reading a pack directory into definitions, with every problem
//! reported at once (file, line, column, key path, hint).
//!
//! [`read_pack`] only reads and checks what a pack says about itself; references to other
//! packs, runtimes, templates and expressions are checked when an engine installs it
//! ([`Engine::load_pack`](crate::Engine::load_pack)), since they depend on what that engine
//! has. Both the StackStorm and the earlier-Attune file shapes load.

mod action;
mod core_pack;
mod errors;
pub(crate) mod files;
mod left_out;
mod manifest;
mod policy;
mod rule;
mod runners;
mod schema;
mod trigger;

pub(crate) use crate::document::fields::Source;
pub use crate::document::{Pos, Problem};
pub use crate::document::{YAML_MAX_DEPTH, YAML_MAX_NODES, YAML_PARSE_STACK_BYTES};

pub(crate) use core_pack::NOT_EMITTED;
pub(crate) use core_pack::{CORE_PACK, install_core_handlers};
pub use core_pack::{canonical_trigger, core_pack};
pub use errors::PackErrors;
pub(crate) use manifest::valid_pack_ref;
pub use runners::stackstorm_runner_parameters;
pub use schema::param_schema;

use crate::document::Report;
use crate::document::fields::Field;
use crate::model::{Action, Definition, Pack, Policy, Rule, Sensor, TriggerType, validate_ref};
use crate::params::ParamSchema;
use files::PackDir;
use std::fmt;
use std::path::{Path, PathBuf};

/// How packs are read, and the budgets that bound the work of reading one (each checked
/// before the file that would exceed it is read; one that runs out is a problem naming the
/// pack, what ran out and the option, and nothing more of the pack is read).
#[derive(Clone, Debug)]
pub struct PackOptions {
    /// Files larger than this are refused before they are read (default 4 MiB).
    pub max_file_bytes: u64,
    /// A directory of config files, `<dir>/<pack>.yaml`, as StackStorm keeps them in
    /// `/opt/stackstorm/configs`; their values override `config` in pack.yaml.
    pub config_dir: Option<PathBuf>,
    /// The bytes one pack may read in all: its YAML files, the rhai and workflow files its
    /// actions name, its config file (default 32 MiB; real packs read well under 10 MiB).
    pub max_pack_bytes: u64,
    /// The YAML nodes (mappings, lists, scalars) one pack's files may hold in all (default
    /// 2,000,000; a real action file holds tens to hundreds, a workflow a few thousand). Each
    /// file is also limited on its own ([`YAML_MAX_NODES`], [`YAML_MAX_DEPTH`]).
    pub max_pack_yaml_nodes: u64,
    /// The files one pack may read, and the YAML files one of its directories (`actions/`,
    /// `rules/`, ...) may hold (default 5,000; the largest real packs have a few thousand).
    pub max_pack_files: u64,
    /// Load what checks clean, as StackStorm registers a pack file by file (default false:
    /// a pack with a problem loads nothing). The definitions of a file with a problem are
    /// left out, and so is what needs them (a rule whose action was left out, a workflow
    /// that runs it), each problem kept in [`PackBundle::left_out`] and
    /// [`PackSummary::left_out`](crate::PackSummary::left_out). A problem of the
    /// pack itself (pack.yaml, its config) or a budget that ran out still refuses the pack.
    pub partial: bool,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            max_file_bytes: 4 * 1024 * 1024,
            config_dir: None,
            max_pack_bytes: 32 * 1024 * 1024,
            max_pack_yaml_nodes: 2_000_000,
            max_pack_files: 5_000,
            partial: false,
        }
    }
}

/// A definition read from a file, with where its parts are.
#[derive(Clone, Debug)]
pub(crate) struct Located<T> {
    pub def: T,
    pub src: Source,
    /// Logical part (`trigger`, `action`, `params`, `criteria`, `expression`, `runner`,
    /// `entry_point`) → its key path in the file.
    pub paths: Vec<(&'static str, String)>,
}

impl<T> Located<T> {
    /// A problem at the logical part `part`, under `sub` (a key inside it), or at the
    /// file's root when the part has no path.
    pub(crate) fn problem(
        &self,
        part: &str,
        sub: Option<&str>,
        message: impl Into<String>,
    ) -> Problem {
        let base = self
            .paths
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, path)| path.as_str())
            .unwrap_or("");
        let path = match sub {
            Some(s) => crate::document::yaml::child(base, s),
            None => base.to_string(),
        };
        self.src.problem(&path, message)
    }
}

/// Everything one pack directory defines, read and checked on its own.
#[derive(Clone)]
pub struct PackBundle {
    /// The pack, with its config values (secret ones included: see [`PackBundle::pack`]'s
    /// schema; they are redacted when the engine stores or prints the pack).
    pub pack: Pack,
    pub(crate) config_schema: ParamSchema,
    pub(crate) actions: Vec<Located<Action>>,
    pub(crate) triggers: Vec<Located<TriggerType>>,
    pub(crate) sensors: Vec<Located<Sensor>>,
    pub(crate) rules: Vec<Located<Rule>>,
    pub(crate) policies: Vec<Located<Policy>>,
    /// Actions left out because Attune does not run their StackStorm runner.
    pub(crate) unsupported: Vec<Unsupported>,
    /// What loads but deserves a word (see [`PackBundle::warnings`]).
    pub(crate) warnings: Vec<Problem>,
    /// What partial loading left out, with its problems (see [`PackBundle::left_out`]).
    pub(crate) left_out: Vec<Problem>,
    /// The refs of the actions and trigger types left out.
    pub(crate) left_out_refs: Vec<String>,
    /// A budget of the pack ran out while it was read: not all of it was read.
    pub(crate) exhausted: bool,
}

/// An action of a pack that is not loaded: its StackStorm runner is one Attune does not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unsupported {
    pub action_ref: String,
    pub runner: String,
    pub reason: &'static str,
}

impl Unsupported {
    /// The message for a reference to it.
    pub(crate) fn message(&self) -> String {
        format!(
            "action '{}' is not loaded: its runner '{}' is not supported ({})",
            self.action_ref, self.runner, self.reason
        )
    }
}

impl fmt::Debug for PackBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackBundle")
            .field("pack", &self.pack.pack_ref)
            .field("path", &self.pack.path)
            .field("actions", &self.action_refs())
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|r| &r.def.rule_ref)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PackBundle {
    /// The pack's ref.
    pub fn pack_ref(&self) -> &str {
        &self.pack.pack_ref
    }

    /// What loads but deserves a word, located like problems: each action left out because
    /// Attune does not run its StackStorm runner (SSH, WinRM, ...), each required config
    /// value no config gave (an action that reads it fails at run time, naming it).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The refs of its actions.
    pub fn action_refs(&self) -> Vec<&str> {
        self.actions
            .iter()
            .map(|a| a.def.action_ref.as_str())
            .collect()
    }

    /// Its actions.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().map(|a| &a.def)
    }

    /// Its trigger types (from `triggers/` and from sensors' `trigger_types`).
    pub fn trigger_types(&self) -> impl Iterator<Item = &TriggerType> {
        self.triggers.iter().map(|t| &t.def)
    }

    /// Its sensors.
    pub fn sensors(&self) -> impl Iterator<Item = &Sensor> {
        self.sensors.iter().map(|s| &s.def)
    }

    /// Its rules.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|r| &r.def)
    }

    /// Its policies.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter().map(|p| &p.def)
    }

    /// Every definition with the pack first and its config's secret values redacted: what
    /// a store keeps.
    pub fn definitions(&self) -> Vec<Definition> {
        let mut out = vec![Definition::Pack(redacted_pack(
            &self.pack,
            &self.config_schema,
        ))];
        out.extend(
            self.triggers
                .iter()
                .map(|t| Definition::TriggerType(t.def.clone())),
        );
        out.extend(
            self.actions
                .iter()
                .map(|a| Definition::Action(a.def.clone())),
        );
        out.extend(
            self.sensors
                .iter()
                .map(|s| Definition::Sensor(s.def.clone())),
        );
        out.extend(self.rules.iter().map(|r| Definition::Rule(r.def.clone())));
        out.extend(
            self.policies
                .iter()
                .map(|p| Definition::Policy(p.def.clone())),
        );
        out
    }
}

/// `pack` with the values of secret config keys replaced by `********`, in `config` and as
/// defaults in `config_schema`.
pub(crate) fn redacted_pack(pack: &Pack, schema: &ParamSchema) -> Pack {
    let mut p = pack.clone();
    if let serde_json::Value::Object(m) = &pack.config {
        p.config = serde_json::Value::Object(schema.redact(m));
    }
    for name in schema.secret_names() {
        let spec = match &mut p.config_schema {
            serde_json::Value::Object(m) => m.get_mut(name),
            _ => None,
        };
        if let Some(serde_json::Value::Object(spec)) = spec
            && let Some(d) = spec.get_mut("default")
            && !d.is_null()
        {
            *d = serde_json::Value::String(crate::params::REDACTED.into());
        }
    }
    p
}

/// An action's or rule's `notify` at `path`: StackStorm's `on-complete` / `on-success` /
/// `on-failure`, each with `message`, `data` and `routes` (or `channels`). Unknown keys and
/// templates that do not compile are problems naming them.
pub(crate) fn notify_of(
    src: &crate::document::fields::Source,
    path: &str,
    value: &serde_json::Value,
    r: &mut Report,
) -> Option<crate::model::Notify> {
    let notify: crate::model::Notify = match serde_json::from_value(value.clone()) {
        Ok(n) => n,
        Err(e) => {
            r.push(src.problem(
                path,
                format!(
                    "notify: {e} (expected on-complete, on-success or on-failure, each with \
                     message, data and routes)"
                ),
            ));
            return None;
        }
    };
    for (key, on) in [
        ("on-complete", &notify.on_complete),
        ("on-success", &notify.on_success),
        ("on-failure", &notify.on_failure),
    ] {
        let Some(on) = on else { continue };
        if on.routes.is_empty() {
            r.push(src.problem(
                &format!("{path}.{key}"),
                "notify: no routes (a notification goes to its routes)",
            ));
        }
        if let Some(m) = &on.message
            && let Err(e) = crate::template::check_syntax(m)
        {
            r.push(src.problem(&format!("{path}.{key}.message"), e));
        }
    }
    Some(notify)
}

/// `pack.name` from a `name` or `ref` field: a `name` (dots included) gets the pack's
/// prefix; a `ref` must start with it.
pub(crate) fn qualify(
    src: &Source,
    name: &Field<String>,
    pack: &str,
    r: &mut Report,
) -> Option<String> {
    // As in StackStorm, `name` is the name within the pack, dots included
    // (`name: galaxy.install` in pack `ansible` is `ansible.galaxy.install`); `ref` is
    // the full ref and must be of this pack.
    let is_ref = name.path == "ref";
    let full = match name.value.split_once('.') {
        _ if !is_ref => format!("{pack}.{}", name.value),
        Some((p, _)) if p == pack => name.value.clone(),
        Some((p, _)) => {
            r.push(src.problem(
                &name.path,
                format!(
                    "'{}' belongs to pack '{p}', but the file is in pack '{pack}'",
                    name.value
                ),
            ));
            return None;
        }
        None => format!("{pack}.{}", name.value),
    };
    match validate_ref("definition", &full) {
        Ok(()) => Some(full),
        Err(e) => {
            r.push(src.problem(&name.path, e.to_string()));
            None
        }
    }
}

/// Reads the pack in `dir`: pack.yaml, config, actions, triggers, sensors, rules and
/// policies. Every problem is returned at once; on any problem nothing is returned.
pub fn read_pack(dir: &Path, options: &PackOptions) -> Result<PackBundle, PackErrors> {
    let partial = read_partial(dir, options);
    match partial.bundle {
        Some(b) if partial.errors.problems.is_empty() => Ok(b),
        _ => Err(partial.errors),
    }
}

/// What [`read_partial`] could read, and the problems it found.
#[derive(Debug)]
pub(crate) struct Partial {
    /// The definitions that read cleanly (`None` when pack.yaml did not).
    pub bundle: Option<PackBundle>,
    pub errors: PackErrors,
}

/// Reads one rule from the text of a rule file — YAML or JSON, StackStorm's shape or the
/// earlier Attune's, checked as a pack's `rules/*.yaml` is — as a rule of pack `pack` (a
/// `pack` key in the text must name it). `file` names the text in problems. What an
/// engine checks when the rule is registered (its trigger type, action, params and
/// criteria) is left to [`Engine::register_rule`](crate::Engine::register_rule).
///
/// ```
/// let text = "name: on_tick\npack: demo\ntrigger: {type: core.st2.IntervalTimer}\n\
///             action: {ref: core.noop}\nenabled: true\n";
/// let rule = attune_core::pack::read_rule("rule.yaml", text, "demo").unwrap();
/// assert_eq!(rule.rule_ref, "demo.on_tick");
/// let bad = attune_core::pack::read_rule("rule.yaml", "name: x\naction: {ref: a.b}\n", "demo");
/// assert!(bad.unwrap_err().to_string().contains("missing required key 'trigger'"));
/// ```
pub fn read_rule(file: &str, text: &str, pack: &str) -> Result<Rule, PackErrors> {
    let mut r = Report::default();
    let fail = |r: Report| PackErrors {
        pack: pack.to_string(),
        dir: None,
        problems: r.problems,
    };
    let (src, doc) = match files::parse_yaml(file, text) {
        Ok(parsed) => parsed,
        Err(p) => {
            r.push(p);
            return Err(fail(r));
        }
    };
    match rule::from_doc(src, &doc.value, pack, &mut r) {
        Some(located) if r.problems.is_empty() => Ok(located.def),
        _ => Err(fail(r)),
    }
}

/// Reads as much of a pack as it can, so that the engine's checks can add their problems to
/// those of reading (one pass reports everything).
pub(crate) fn read_partial(dir: &Path, options: &PackOptions) -> Partial {
    let mut r = Report::default();
    let fail = |pack: String, r: Report| Partial {
        bundle: None,
        errors: PackErrors {
            pack,
            dir: Some(dir.to_path_buf()),
            problems: r.problems,
        },
    };
    let pdir = match PackDir::open(dir, options) {
        Ok(d) => d,
        Err(p) => {
            r.push(p);
            return fail(dir.display().to_string(), r);
        }
    };
    let Some((pack, config_schema)) = manifest::read(&pdir, options.config_dir.as_deref(), &mut r)
    else {
        return fail(dir.display().to_string(), r);
    };
    let p = pack.pack_ref.clone();
    let mut bundle = PackBundle {
        pack,
        config_schema,
        actions: Vec::new(),
        triggers: Vec::new(),
        sensors: Vec::new(),
        rules: Vec::new(),
        policies: Vec::new(),
        unsupported: Vec::new(),
        warnings: Vec::new(),
        left_out: Vec::new(),
        left_out_refs: Vec::new(),
        exhausted: false,
    };
    for f in pdir.yaml_files("actions", &mut r) {
        if pdir.exhausted() {
            break;
        }
        match action::read(&pdir, &p, &f, &mut r) {
            Some(action::Read::Action(a)) => bundle.actions.push(*a),
            Some(action::Read::Unsupported(u)) => bundle.unsupported.push(u),
            None => {}
        }
    }
    for f in pdir.yaml_files("triggers", &mut r) {
        if pdir.exhausted() {
            break;
        }
        bundle
            .triggers
            .extend(trigger::read_trigger(&pdir, &p, &f, &mut r));
    }
    for f in pdir.yaml_files("sensors", &mut r) {
        if pdir.exhausted() {
            break;
        }
        if let Some((s, ts)) = trigger::read_sensor(&pdir, &p, &f, &mut r) {
            bundle.sensors.push(s);
            for t in ts {
                add_sensor_trigger(&mut bundle.triggers, t, &mut r);
            }
        }
    }
    for f in pdir.yaml_files("rules", &mut r) {
        if pdir.exhausted() {
            break;
        }
        bundle.rules.extend(rule::read(&pdir, &p, &f, &mut r));
    }
    for f in pdir.yaml_files("policies", &mut r) {
        if pdir.exhausted() {
            break;
        }
        bundle.policies.extend(policy::read(&pdir, &p, &f, &mut r));
    }
    disable_rules_of_unsupported(&mut bundle, &mut r);
    check_duplicates(&bundle, &mut r);
    bundle.warnings = std::mem::take(&mut r.warnings);
    bundle.exhausted = pdir.exhausted();
    Partial {
        bundle: Some(bundle),
        errors: PackErrors {
            pack: p,
            dir: Some(dir.to_path_buf()),
            problems: r.problems,
        },
    }
}

/// A trigger type declared by a sensor. As StackStorm registers each sensor's trigger types
/// with create-or-update, several sensors (or a sensor and `triggers/`) may declare one
/// type: the first declaration is kept, and a later one that says something else is a warning naming both files.
fn add_sensor_trigger(
    triggers: &mut Vec<Located<TriggerType>>,
    t: Located<TriggerType>,
    r: &mut Report,
) {
    let Some(first) = triggers
        .iter()
        .find(|x| x.def.trigger_ref == t.def.trigger_ref)
    else {
        triggers.push(t);
        return;
    };
    if first.def != t.def {
        r.warn(t.src.problem(
            "",
            format!(
                "trigger type '{}' is declared by another sensor too ({}), differently: \
                 that declaration is the one used",
                t.def.trigger_ref, first.src.file
            ),
        ));
    }
}

/// A rule of the pack whose action was left out for its runner loads disabled, with a
/// warning: StackStorm registers it (its enforcements would fail), and one such rule does
/// not keep the rest of the pack out.
fn disable_rules_of_unsupported(b: &mut PackBundle, r: &mut Report) {
    for rule in &mut b.rules {
        let Some(u) = b
            .unsupported
            .iter()
            .find(|u| u.action_ref == rule.def.action)
        else {
            continue;
        };
        rule.def.enabled = false;
        r.warn(rule.problem(
            "action",
            None,
            format!(
                "rule '{}' is loaded disabled: {}",
                rule.def.rule_ref,
                u.message()
            ),
        ));
    }
}

fn check_duplicates(b: &PackBundle, r: &mut Report) {
    fn dups<T>(items: &[Located<T>], key: impl Fn(&T) -> &str, kind: &str, r: &mut Report) {
        let mut seen: std::collections::HashMap<&str, &Source> = std::collections::HashMap::new();
        for it in items {
            let k = key(&it.def);
            if let Some(first) = seen.insert(k, &it.src) {
                r.push(it.src.problem(
                    "",
                    format!(
                        "duplicate {kind} ref '{k}' (also defined in {})",
                        first.file
                    ),
                ));
            }
        }
    }
    dups(&b.actions, |a| &a.action_ref, "action", r);
    dups(&b.triggers, |t| &t.trigger_ref, "trigger type", r);
    dups(&b.sensors, |s| &s.sensor_ref, "sensor", r);
    dups(&b.rules, |x| &x.rule_ref, "rule", r);
    dups(&b.policies, |p| &p.policy_ref, "policy", r);
}
