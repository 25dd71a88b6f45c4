//! `st2kv(key, decrypt=false)` in workflow templates: the keys of the engine's key-value
//! store, read by the engine before the conductor renders (the conductor does no I/O).
//!
//! `key` is `system.NAME` (a system key), `pack.NAME` (a key of the workflow's pack), or, as
//! in StackStorm, `user.NAME` or a bare `NAME` (a key of the run's user: an error naming the
//! key when the run has no user). A missing key is an error naming it. An encrypted key is read with
//! `decrypt=true` only (without it, an error saying so: never the ciphertext); when the
//! engine could not decrypt it (no encryption key, another key), reading it is that error.

use minijinja::value::{Kwargs, Rest, ValueOrKwargs};
use minijinja::{Error, ErrorKind, Value as JValue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The keys a workflow run's templates may read with `st2kv`, by scope (`system`, `pack`)
/// and name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KvSnapshot {
    keys: BTreeMap<(String, String), KvValue>,
    /// The run's user, whose keys are the `user` scope; `None`: the run has none.
    user: Option<String>,
}

/// A key of a [`KvSnapshot`].
#[derive(Clone, PartialEq)]
enum KvValue {
    Plain(Value),
    /// An encrypted key: its value, or why it could not be decrypted.
    Encrypted(Result<Value, String>),
}

impl std::fmt::Debug for KvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvValue::Plain(v) => write!(f, "Plain({v})"),
            KvValue::Encrypted(_) => f.write_str("Encrypted(..)"),
        }
    }
}

impl KvSnapshot {
    /// An empty snapshot (every `st2kv` look-up fails).
    pub fn new() -> Self {
        Self::default()
    }

    /// Says whose keys the `user` scope holds (add them with scope `"user"`). Without a
    /// user, reading a user-scope key is an error saying the run has none.
    pub fn set_user(&mut self, user: &str) {
        self.user = Some(user.to_string());
    }

    /// Adds a plain key of `scope` (`"system"`, `"pack"` or `"user"`).
    pub fn insert(&mut self, scope: &str, name: &str, value: Value) {
        self.keys
            .insert((scope.to_string(), name.to_string()), KvValue::Plain(value));
    }

    /// Adds an encrypted key of `scope`, decrypted (`Ok`), or with why it could not be
    /// (`Err`, said when a template reads it). Its value is read with `decrypt=true` only.
    pub fn insert_encrypted(&mut self, scope: &str, name: &str, value: Result<Value, String>) {
        self.keys.insert(
            (scope.to_string(), name.to_string()),
            KvValue::Encrypted(value),
        );
    }

    /// The keys as a namespace, `st2kv.system.NAME` / `st2kv.pack.NAME`, as action chain
    /// templates read them (StackStorm's `{{ st2kv.system.x }}`). Encrypted keys are left
    /// out, so reading one is an undefined-variable error naming it.
    pub(super) fn namespace(&self) -> JValue {
        let mut scopes = serde_json::Map::new();
        scopes.insert("system".into(), Value::Object(serde_json::Map::new()));
        scopes.insert("pack".into(), Value::Object(serde_json::Map::new()));
        for ((scope, name), value) in &self.keys {
            if let KvValue::Plain(v) = value
                && let Value::Object(m) = scopes
                    .entry(scope.clone())
                    .or_insert_with(|| Value::Object(serde_json::Map::new()))
            {
                m.insert(name.clone(), v.clone());
            }
        }
        crate::template::to_jinja(&scopes)
    }

    /// The `st2kv` function over this snapshot.
    pub(super) fn function(self: &Arc<Self>) -> JValue {
        let kv = self.clone();
        JValue::from_function(move |args: Rest<ValueOrKwargs>| kv.lookup(args.into_values()))
    }

    fn lookup(&self, args: Vec<JValue>) -> Result<JValue, Error> {
        let bad = |m: String| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("st2kv: {m} (expects st2kv(key, decrypt=false, default=...))"),
            )
        };
        let mut positional = Vec::new();
        let mut decrypt = None;
        let mut default = None;
        for a in args {
            if a.is_kwargs() {
                let kw = Kwargs::try_from(a)?;
                for k in kw.args() {
                    match k {
                        "decrypt" => decrypt = Some(kw.peek::<JValue>(k)?),
                        "default" => default = Some(kw.peek::<JValue>(k)?),
                        _ => return Err(bad(format!("has no argument '{k}'"))),
                    }
                }
            } else {
                positional.push(a);
            }
        }
        if positional.len() == 3 && default.is_none() {
            default = positional.pop();
        }
        if positional.len() == 2 && decrypt.is_none() {
            decrypt = positional.pop();
        }
        let [key] = positional.as_slice() else {
            return Err(bad(format!(
                "takes a key, decrypt and default, got {} arguments",
                positional.len()
            )));
        };
        let Some(key) = key.as_str() else {
            return Err(bad(format!("the key must be a string, got {}", key.kind())));
        };
        if let Some(d) = &decrypt
            && d.kind() != minijinja::value::ValueKind::Bool
        {
            return Err(bad(format!("decrypt must be a boolean, got {}", d.kind())));
        }
        // As StackStorm: a key without a scope prefix is the user's.
        let (scope, name) = match key.split_once('.') {
            Some((s @ ("system" | "pack" | "user"), name)) if !name.is_empty() => (s, name),
            Some((_, "")) | Some(("", _)) => {
                return Err(bad(format!(
                    "'{key}' is not a key name: write 'system.NAME', 'pack.NAME', \
                     'user.NAME' or 'NAME' (the user's)"
                )));
            }
            _ => ("user", key),
        };
        if scope == "user" && self.user.is_none() {
            return Err(bad(format!(
                "'{key}' is a key of the run's user, and this run has none (run it with \
                 Engine::execute_as, or read 'system.NAME' / 'pack.NAME')"
            )));
        }
        let decrypt = decrypt.is_some_and(|d| d.is_true());
        match self.keys.get(&(scope.to_string(), name.to_string())) {
            Some(KvValue::Plain(v)) => Ok(crate::template::to_jinja(v)),
            Some(KvValue::Encrypted(_)) if !decrypt => Err(bad(format!(
                "key {key} is encrypted: read it with decrypt=true"
            ))),
            Some(KvValue::Encrypted(Ok(v))) => Ok(crate::template::to_jinja(v)),
            Some(KvValue::Encrypted(Err(why))) => Err(bad(format!("key {key}: {why}"))),
            // A default given (null included) is the value of a key that is not there.
            None => default.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("st2kv: key {key} does not exist in the key-value store"),
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KvSnapshot;
    use crate::workflow::{Conductor, Plan, RunStatus, parse};
    use serde_json::json;

    fn start(yaml: &str, kv: KvSnapshot) -> Conductor {
        let wf = parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
        wf.validate().expect("a valid workflow");
        let plan = Plan::new(wf).expect("templates compile");
        assert!(plan.uses_st2kv() == yaml.contains("st2kv("));
        Conductor::start_with_kv(plan, serde_json::Map::new(), kv)
    }

    fn keys() -> KvSnapshot {
        let mut kv = KvSnapshot::new();
        kv.insert("system", "api.url", json!("https://x"));
        kv.insert("pack", "retries", json!(3));
        kv.insert_encrypted("system", "token", Ok(json!("s3cret")));
        kv.insert_encrypted(
            "system",
            "foreign",
            Err("was encrypted under another key".into()),
        );
        kv
    }

    #[test]
    fn st2kv_reads_system_and_pack_keys_and_refuses_the_rest() {
        let yaml = r#"
vars:
  - url: '{{ st2kv("system.api.url") }}'
  - n: '{{ st2kv("pack.retries", decrypt=true) + 1 }}'
  - token: <% st2kv("system.token", decrypt => true) %>
tasks:
  a:
    action: core.noop
    next:
      - publish:
          - later: '{{ st2kv("system.added") }}'
output:
  - url: '{{ ctx("url") }}'
  - n: '{{ ctx("n") }}'
  - later: '{{ ctx("later") }}'
  - token: '{{ ctx("token") }}'
"#;
        let mut c = start(yaml, keys());
        assert!(c.errors().is_empty(), "{:?}", c.errors());
        c.start_task("a", 0).unwrap();
        // Keys read again before a round of task ends see a key added meanwhile.
        let mut kv = keys();
        kv.insert("system", "added", json!("yes"));
        c.set_kv(kv);
        c.finish_task("a", 0, RunStatus::Succeeded, None).unwrap();
        assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
        assert_eq!(
            c.output(),
            json!({"url": "https://x", "n": 4, "later": "yes", "token": "s3cret"}).as_object()
        );

        for (expr, want) in [
            ("st2kv('system.nope')", "key system.nope does not exist"),
            (
                "st2kv('system.token')",
                "key system.token is encrypted: read it with decrypt=true",
            ),
            (
                "st2kv('system.foreign', decrypt=true)",
                "key system.foreign: was encrypted under another key",
            ),
            (
                "st2kv('nope')",
                "'nope' is a key of the run's user, and this run has none",
            ),
            (
                "st2kv('user.nope')",
                "'user.nope' is a key of the run's user",
            ),
            ("st2kv('other.x')", "'other.x' is a key of the run's user"),
            ("st2kv('system.')", "'system.' is not a key name"),
            ("st2kv(5)", "the key must be a string"),
            (
                "st2kv('system.api.url', decrypt='yes')",
                "decrypt must be a boolean",
            ),
            (
                "st2kv('system.api.url', secret=true)",
                "has no argument 'secret'",
            ),
        ] {
            let yaml = format!(
                "vars:\n  - x: \"{{{{ {expr} }}}}\"\ntasks:\n  a:\n    action: core.noop\n"
            );
            let c = start(&yaml, keys());
            let errors: Vec<&str> = c.errors().iter().map(|e| e.message.as_str()).collect();
            assert_eq!(c.status(), RunStatus::Failed, "{expr}");
            assert!(
                errors
                    .iter()
                    .any(|m| m.contains(want) && m.contains("var 'x'")),
                "{expr}: {errors:?}"
            );
        }
    }

    /// With a user, `user.NAME` and a bare `NAME` (dots included) read the user's keys, as
    /// StackStorm's `st2kv` does; `system.` and `pack.` still name their scopes.
    #[test]
    fn st2kv_reads_the_run_users_keys() {
        let yaml = r#"
output:
  - bare: '{{ st2kv("token") }}'
  - dotted: <% st2kv("api.host") %>
  - prefixed: '{{ st2kv("user.token") }}'
  - secret: '{{ st2kv("sealed", decrypt=true) }}'
  - system: '{{ st2kv("system.api.url") }}'
  - missing: '{{ st2kv("nope", default="d") }}'
tasks:
  a:
    action: core.noop
"#;
        let mut kv = keys();
        kv.set_user("ann");
        kv.insert("user", "token", json!("ann-token"));
        kv.insert("user", "api.host", json!("h1"));
        kv.insert_encrypted("user", "sealed", Ok(json!("opened")));
        let mut c = start(yaml, kv);
        c.start_task("a", 0).unwrap();
        c.finish_task("a", 0, RunStatus::Succeeded, None).unwrap();
        assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
        assert_eq!(
            c.output(),
            json!({"bare": "ann-token", "dotted": "h1", "prefixed": "ann-token",
                   "secret": "opened", "system": "https://x", "missing": "d"})
            .as_object()
        );
    }

    /// `default` (by keyword, by position, null included) is the value of a key that does not
    /// exist, in Jinja and in YAQL (`default => x`); an existing key ignores it.
    #[test]
    fn st2kv_default_stands_for_a_missing_key() {
        let yaml = r#"
vars:
  - none: null
output:
  - kw: '{{ st2kv("system.nope", decrypt=false, default="d") }}'
  - pos: '{{ st2kv("system.nope", false, "p") }}'
  - null: '{{ st2kv("system.nope", default=ctx("none")) }}'
  - yaql: <% st2kv("system.nope", decrypt => true, default => "y") %>
  - there: <% st2kv("system.api.url", default => "unused") %>
tasks:
  a:
    action: core.noop
"#;
        let mut c = start(yaml, keys());
        c.start_task("a", 0).unwrap();
        c.finish_task("a", 0, RunStatus::Succeeded, None).unwrap();
        assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
        assert_eq!(
            c.output(),
            json!({"kw": "d", "pos": "p", "null": null, "yaql": "y", "there": "https://x"})
                .as_object()
        );
    }

    #[test]
    fn task_without_a_name_is_the_current_task() {
        let yaml = r#"
tasks:
  probe:
    action: core.noop
    next:
      - when: '{{ task().status == "succeeded" }}'
        publish:
          - me: '{{ task().task_id }}'
          - route: '{{ task().route }}'
          - up: '{{ task().result.up }}'
          - same: '{{ task("probe").result == task().result }}'
        do: after
  after:
    action: core.noop
    input:
      prev: '{{ task("probe").task_name }}'
output:
  - me: '{{ ctx("me") }}'
  - route: '{{ ctx("route") }}'
  - up: '{{ ctx("up") }}'
  - same: '{{ ctx("same") }}'
"#;
        let mut c = start(yaml, KvSnapshot::new());
        c.start_task("probe", 0).unwrap();
        c.finish_task("probe", 0, RunStatus::Succeeded, Some(json!({"up": true})))
            .unwrap();
        let after = c.start_task("after", 0).unwrap();
        assert_eq!(after.params[0]["prev"], json!("probe"));
        c.finish_task("after", 0, RunStatus::Succeeded, None)
            .unwrap();
        assert_eq!(c.status(), RunStatus::Succeeded, "{:?}", c.errors());
        assert_eq!(
            c.output(),
            json!({"me": "probe", "route": 0, "up": true, "same": true}).as_object()
        );

        // Outside a task, task() is an error saying so.
        let yaml = "vars:\n  - x: '{{ task().task_id }}'\ntasks:\n  a:\n    action: core.noop\n";
        let c = start(yaml, KvSnapshot::new());
        let errors: Vec<&str> = c.errors().iter().map(|e| e.message.as_str()).collect();
        assert!(
            errors.iter().any(|m| m.contains("belongs to no task")),
            "{errors:?}"
        );
    }
}
