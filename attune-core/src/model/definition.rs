//! One enum over the definitions a store keeps by ref.

use super::{Action, Pack, Policy, Rule, Sensor, TriggerType};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a [`Definition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionKind {
    /// [`Pack`].
    Pack,
    /// [`Action`].
    Action,
    /// [`TriggerType`].
    TriggerType,
    /// [`Sensor`].
    Sensor,
    /// [`Rule`].
    Rule,
    /// [`Policy`].
    Policy,
}

impl DefinitionKind {
    /// Every kind.
    pub const ALL: [DefinitionKind; 6] = [
        Self::Pack,
        Self::Action,
        Self::TriggerType,
        Self::Sensor,
        Self::Rule,
        Self::Policy,
    ];

    /// The lower-case name used in errors (`action`, `trigger type`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pack => "pack",
            Self::Action => "action",
            Self::TriggerType => "trigger type",
            Self::Sensor => "sensor",
            Self::Rule => "rule",
            Self::Policy => "policy",
        }
    }
}

impl fmt::Display for DefinitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A definition kept by ref: what packs and code register.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "spec", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Definition {
    /// A pack.
    Pack(Pack),
    /// An action.
    Action(Action),
    /// A trigger type.
    TriggerType(TriggerType),
    /// A sensor.
    Sensor(Sensor),
    /// A rule.
    Rule(Rule),
    /// A policy.
    Policy(Policy),
}

impl Definition {
    /// Its kind.
    pub fn kind(&self) -> DefinitionKind {
        match self {
            Definition::Pack(_) => DefinitionKind::Pack,
            Definition::Action(_) => DefinitionKind::Action,
            Definition::TriggerType(_) => DefinitionKind::TriggerType,
            Definition::Sensor(_) => DefinitionKind::Sensor,
            Definition::Rule(_) => DefinitionKind::Rule,
            Definition::Policy(_) => DefinitionKind::Policy,
        }
    }

    /// Its ref (a pack's ref has no dot).
    pub fn def_ref(&self) -> &str {
        match self {
            Definition::Pack(p) => &p.pack_ref,
            Definition::Action(a) => &a.action_ref,
            Definition::TriggerType(t) => &t.trigger_ref,
            Definition::Sensor(s) => &s.sensor_ref,
            Definition::Rule(r) => &r.rule_ref,
            Definition::Policy(p) => &p.policy_ref,
        }
    }

    /// The pack it belongs to.
    pub fn pack(&self) -> &str {
        match self {
            Definition::Pack(p) => &p.pack_ref,
            other => other.def_ref().split_once('.').map_or("", |(p, _)| p),
        }
    }
}

macro_rules! from_def {
    ($($t:ident),*) => {$(
        impl From<$t> for Definition {
            fn from(v: $t) -> Self {
                Definition::$t(v)
            }
        }
    )*};
}
from_def!(Pack, Action, TriggerType, Sensor, Rule, Policy);
