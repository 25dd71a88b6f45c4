//! The environment of a shell action: minimal and explicit.

use crate::config::ShellConfig;
use serde_json::{Map, Value};
use std::ffi::OsString;

/// `ATTUNE_PARAM_<NAME>` for a param name: upper case, anything not a letter, digit or `_`
/// becomes `_`.
pub(crate) fn param_var(name: &str) -> String {
    let mut out = String::from("ATTUNE_PARAM_");
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    out
}

/// A param value as an environment value: strings raw, other values as JSON.
pub(crate) fn env_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `text` holds any secret value (such a text never goes to the environment or the
/// command line, which other local users can read in /proc).
pub(crate) fn holds_secret(text: &str, secrets: &[String]) -> bool {
    secrets
        .iter()
        .any(|s| !s.is_empty() && text.contains(s.as_str()))
}

/// What the environment is made of, besides the config.
pub(crate) struct EnvInput<'a> {
    pub execution_id: String,
    pub action: &'a str,
    pub pack: &'a str,
    pub pack_dir: Option<&'a std::path::Path>,
    pub params: &'a Map<String, Value>,
    pub secret_names: &'a [&'a str],
    pub secrets: &'a [String],
}

/// The whole environment of one run. `env` (the `env` param) entries are added last and win;
/// values holding a secret are left out (the params stay on stdin).
pub(crate) fn build(config: &ShellConfig, input: &EnvInput<'_>) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(String, String)> = vec![
        ("PATH".into(), config.path.clone()),
        ("HOME".into(), config.home.clone()),
        ("LANG".into(), config.lang.clone()),
        ("ATTUNE_EXECUTION_ID".into(), input.execution_id.clone()),
        ("ATTUNE_ACTION".into(), input.action.to_string()),
        ("ATTUNE_PACK".into(), input.pack.to_string()),
    ];
    if let Some(d) = input.pack_dir {
        vars.push(("ATTUNE_PACK_DIR".into(), d.display().to_string()));
    }
    for name in &config.env_allow {
        if let Ok(v) = std::env::var(name) {
            vars.push((name.clone(), v));
        }
    }
    for (k, v) in input.params {
        if input.secret_names.contains(&k.as_str()) {
            continue;
        }
        let text = env_text(v);
        if text.contains('\0') || holds_secret(&text, input.secrets) {
            continue;
        }
        vars.push((param_var(k), text));
    }
    if let Some(Value::Object(extra)) = input.params.get("env") {
        for (k, v) in extra {
            let text = env_text(v);
            let bad_name = k.is_empty() || k.contains(['=', '\0']);
            if bad_name || text.contains('\0') || holds_secret(&text, input.secrets) {
                continue;
            }
            vars.retain(|(n, _)| n != k);
            vars.push((k.clone(), text));
        }
    }
    vars.into_iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert_eq!(param_var("host"), "ATTUNE_PARAM_HOST");
        assert_eq!(param_var("dry-run.x"), "ATTUNE_PARAM_DRY_RUN_X");
    }

    #[test]
    fn secrets_and_host_variables_stay_out() {
        let params = json!({"name": "ada", "n": 3, "token": "t0p", "leak": "x-t0p-y",
                            "env": {"EXTRA": "1", "BAD=": "2"}});
        let params = params.as_object().unwrap().clone();
        let config = ShellConfig::default();
        let env = build(
            &config,
            &EnvInput {
                execution_id: "e".into(),
                action: "p.a",
                pack: "p",
                pack_dir: None,
                params: &params,
                secret_names: &["token"],
                secrets: &["t0p".to_string()],
            },
        );
        let names: Vec<String> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"ATTUNE_PARAM_NAME".to_string()));
        assert!(names.contains(&"ATTUNE_PARAM_N".to_string()));
        assert!(names.contains(&"EXTRA".to_string()));
        assert!(
            !names
                .iter()
                .any(|n| n.contains("TOKEN") || n.contains("LEAK") || n.contains("BAD"))
        );
        assert!(!env.iter().any(|(_, v)| v.to_string_lossy().contains("t0p")));
    }
}
