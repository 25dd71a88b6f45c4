//! Packs: named bundles of definitions with a config.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A named bundle of actions, trigger types, sensors, rules and policies, with a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    /// The pack's ref (`core`, `my_pack`): the first part of every ref in it.
    #[serde(rename = "ref")]
    pub pack_ref: String,
    /// Human-readable name.
    #[serde(default)]
    pub label: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Version string.
    #[serde(default)]
    pub version: String,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// JSON-schema-like description of the config (`name: {type, secret, default, ...}`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config_schema: Value,
    /// Config values, reachable from templates as `pack.config`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
    /// The directory it was loaded from (`None` for packs made in code); runtimes that run
    /// files (shell, python) resolve entry points and the working directory against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
}

impl Pack {
    /// A pack with only a ref (label = ref).
    pub fn new(pack_ref: impl Into<String>) -> Self {
        let pack_ref = pack_ref.into();
        Pack {
            label: pack_ref.clone(),
            pack_ref,
            description: String::new(),
            version: "0.1.0".into(),
            author: None,
            config_schema: Value::Null,
            config: Value::Null,
            path: None,
        }
    }

    /// Sets the config values.
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }
}
