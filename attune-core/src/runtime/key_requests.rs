//! The key-value requests of actions and sensors that run in other processes, as lines of
//! JSON: the one copy of the protocol every process runtime answers over [`KeyAccess`].
//!
//! A request is one line of JSON, at most [`MAX_KEY_REQUEST_BYTES`] bytes:
//! `{"op": "get"|"set"|"delete"|"list", "scope": "system"|"pack"|"user", "name": …,
//! "value": …, "ttl": seconds|null, "prefix": …, "decrypt": bool (get), "encrypt": bool
//! (set)}`. The answer is one line of JSON:
//! `{"ok": …}` (`get`: the key `{"name", "value", "scope", "encrypted", "expires"}` or
//! `null`; `set`: `true`; `delete`: whether it was there; `list`: the keys) or
//! `{"error": "…"}`. Every request gets exactly one answer, a malformed one an error, so
//! that the child never waits for an answer that does not come.

use super::{KeyAccess, KeyAccessScope};
use crate::model::Key;
use serde_json::{Value, json};
use std::time::Duration;

/// The longest request, in bytes (a child checks it before sending).
pub const MAX_KEY_REQUEST_BYTES: usize = 512 << 10;

/// The answer line (with its newline) to the request `line`; `keys` is `None` when the
/// host offers no key store to the run.
pub async fn answer_key_request(keys: Option<&dyn KeyAccess>, line: &[u8]) -> Vec<u8> {
    let reply = match handle(keys, line).await {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": e }),
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"error\": \"?\"}".to_vec());
    out.push(b'\n');
    out
}

async fn handle(keys: Option<&dyn KeyAccess>, line: &[u8]) -> Result<Value, String> {
    if line.len() > MAX_KEY_REQUEST_BYTES {
        return Err(format!(
            "the key-value request is {} bytes, more than the {MAX_KEY_REQUEST_BYTES} allowed",
            line.len()
        ));
    }
    let req: Value = serde_json::from_slice(line)
        .map_err(|e| format!("malformed key-value request (not JSON: {e})"))?;
    let Value::Object(req) = req else {
        return Err("malformed key-value request (not a JSON object)".into());
    };
    let text = |field: &str| -> Result<&str, String> {
        match req.get(field) {
            Some(Value::String(s)) => Ok(s),
            None => Err(format!("malformed key-value request: no '{field}'")),
            Some(other) => Err(format!(
                "malformed key-value request: '{field}' must be a string, got {other}"
            )),
        }
    };
    let op = text("op")?;
    let scope = match text("scope")? {
        "system" => KeyAccessScope::System,
        "pack" => KeyAccessScope::Pack,
        "user" => KeyAccessScope::User,
        other => {
            return Err(format!(
                "unknown key-value scope '{other}' (expected 'system', 'pack' or 'user')"
            ));
        }
    };
    let keys = keys.ok_or("no key-value store is available to this run (the host gave none)")?;
    let err = |e: crate::Error| e.to_string();
    match op {
        "get" => {
            let name = text("name")?;
            let key = if req.get("decrypt") == Some(&Value::Bool(true)) {
                keys.get_decrypted(scope, name).await
            } else {
                keys.get(scope, name).await
            };
            Ok(key.map_err(err)?.map_or(Value::Null, |k| key_json(&k)))
        }
        "set" => {
            let ttl = match req.get("ttl") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_f64()
                        .filter(|s| *s > 0.0)
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .ok_or_else(|| {
                            format!("ttl must be a positive number of seconds, got {v}")
                        })?,
                ),
            };
            let value = req.get("value").cloned().unwrap_or(Value::Null);
            if req.get("encrypt") == Some(&Value::Bool(true)) {
                keys.set_encrypted(scope, text("name")?, value, ttl).await
            } else {
                keys.set(scope, text("name")?, value, ttl).await
            }
            .map_err(err)?;
            Ok(Value::Bool(true))
        }
        "delete" => Ok(Value::Bool(
            keys.delete(scope, text("name")?).await.map_err(err)?,
        )),
        "list" => {
            let prefix = match req.get("prefix") {
                None | Some(Value::Null) => "",
                Some(_) => text("prefix")?,
            };
            let list = keys.list(scope, prefix).await.map_err(err)?;
            Ok(Value::Array(list.iter().map(key_json).collect()))
        }
        other => Err(format!(
            "unknown key-value operation '{other}' (expected get, set, delete or list)"
        )),
    }
}

/// A key as the child sees it.
fn key_json(k: &Key) -> Value {
    json!({
        "name": k.name,
        "value": k.value,
        "scope": match &k.scope {
            crate::model::KeyScope::System => "system",
            crate::model::KeyScope::Pack(_) => "pack",
            crate::model::KeyScope::User(_) => "user",
        },
        "encrypted": k.encrypted,
        "expires": k.expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::runtime::StoreKeyAccess;
    use crate::store::MemoryStore;
    use std::sync::Arc;

    fn access() -> Arc<dyn KeyAccess> {
        Arc::new(StoreKeyAccess::new(
            Arc::new(MemoryStore::new()),
            Arc::new(SystemClock),
            "p",
            None,
            "execution 'x'",
        ))
    }

    async fn ask(keys: &Arc<dyn KeyAccess>, req: &str) -> Value {
        let line = answer_key_request(Some(keys.as_ref()), req.as_bytes()).await;
        assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice(&line).unwrap()
    }

    #[tokio::test]
    async fn requests_are_answered() {
        let k = access();
        let set = r#"{"op":"set","scope":"system","name":"a","value":{"x":1},"ttl":60}"#;
        assert_eq!(ask(&k, set).await, json!({"ok": true}));
        let got = ask(&k, r#"{"op":"get","scope":"system","name":"a"}"#).await;
        assert_eq!(got["ok"]["value"], json!({"x": 1}));
        assert!(got["ok"]["expires"].is_string());
        let listed = ask(&k, r#"{"op":"list","scope":"system","prefix":"a"}"#).await;
        assert_eq!(listed["ok"][0]["name"], "a");
        let deleted = ask(&k, r#"{"op":"delete","scope":"system","name":"a"}"#).await;
        assert_eq!(deleted, json!({"ok": true}));
        let got = ask(&k, r#"{"op":"get","scope":"system","name":"a"}"#).await;
        assert_eq!(got, json!({"ok": null}));
    }

    #[tokio::test]
    async fn malformed_requests_get_an_error_naming_the_problem() {
        let k = access();
        for (req, says) in [
            ("not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"scope":"system"}"#, "no 'op'"),
            (
                r#"{"op":"get","scope":"galaxy","name":"a"}"#,
                "scope 'galaxy'",
            ),
            (
                r#"{"op":"fly","scope":"system","name":"a"}"#,
                "operation 'fly'",
            ),
            (
                r#"{"op":"get","scope":"system","name":7}"#,
                "'name' must be a string",
            ),
            (
                r#"{"op":"set","scope":"system","name":"a","ttl":-1}"#,
                "ttl must be",
            ),
            (
                r#"{"op":"get","scope":"user","name":"a"}"#,
                "no user is known",
            ),
        ] {
            let got = ask(&k, req).await;
            let err = got["error"].as_str().unwrap_or_default();
            assert!(err.contains(says), "{req}: {got}");
        }
        let big = format!(
            r#"{{"op":"set","scope":"system","name":"a","value":"{}"}}"#,
            "v".repeat(MAX_KEY_REQUEST_BYTES)
        );
        let got = ask(&k, &big).await;
        assert!(
            got["error"].as_str().unwrap().contains("more than"),
            "{got}"
        );
        let none = answer_key_request(None, br#"{"op":"get","scope":"system","name":"a"}"#).await;
        assert!(String::from_utf8_lossy(&none).contains("no key-value store"));
    }
}
