//! The key-value store for Python actions (`action_service.get_value` and friends): the
//! requests the child sends and the runtime answers over [`KeyAccess`].
//!
//! A request is one line of JSON, at most [`MAX_REQUEST_BYTES`] bytes:
//! `{"op": "get"|"set"|"delete"|"list", "scope": "system"|"pack"|"user", "name": …,
//! "value": …, "ttl": seconds|null, "prefix": …, "decrypt": bool (get), "encrypt": bool
//! (set)}`. The answer is one line of JSON:
//! `{"ok": …}` (`get`: the key `{"name", "value", "scope", "encrypted", "expires"}` or
//! `null`; `set`: `true`; `delete`: whether it was there; `list`: the keys) or
//! `{"error": "…"}`. Every request gets exactly one answer, a malformed one an error: the
//! child raises it in the action, it never waits for an answer that does not come.
//!
//! In persistent mode requests travel on the worker's protocol (`k <JSON>` lines, see
//! [`crate::protocol`]) and answers on its stdin; in one-shot mode on a Unix socket in the
//! run's private scratch directory ([`serve`]), whose first line must be the run's token.

use attune_core::model::Key;
use attune_core::runtime::{KeyAccess, KeyAccessScope};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// The longest request, in bytes (the child checks it before sending; kept below the
/// protocol's line cap, [`crate::protocol::MAX_LINE`]).
pub(crate) const MAX_REQUEST_BYTES: usize = 512 << 10;

/// The answer line (with its newline) to the request `line`.
pub(crate) async fn answer(keys: Option<&dyn KeyAccess>, line: &[u8]) -> Vec<u8> {
    let reply = match handle(keys, line).await {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": e }),
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"error\": \"?\"}".to_vec());
    out.push(b'\n');
    out
}

async fn handle(keys: Option<&dyn KeyAccess>, line: &[u8]) -> Result<Value, String> {
    if line.len() > MAX_REQUEST_BYTES {
        return Err(format!(
            "the key-value request is {} bytes, more than the {MAX_REQUEST_BYTES} allowed",
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
    let err = |e: attune_core::Error| e.to_string();
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
            attune_core::model::KeyScope::System => "system",
            attune_core::model::KeyScope::Pack(_) => "pack",
            attune_core::model::KeyScope::User(_) => "user",
        },
        "encrypted": k.encrypted,
        "expires": k.expires,
    })
}

/// A Unix socket for the key requests of one one-shot run, bound at `path` (in the run's
/// private scratch directory).
pub(crate) fn bind(path: &Path) -> std::io::Result<UnixListener> {
    UnixListener::bind(path)
}

/// Answers the key requests of the connections to `listener`, each of which must first send
/// `token` as a line (else it is closed). Runs until dropped (at the run's end), which ends
/// every connection too.
pub(crate) async fn serve(listener: UnixListener, keys: Option<Arc<dyn KeyAccess>>, token: String) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, keys.clone(), token.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a key-value connection was not accepted");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One connection: the token line, then requests answered in order.
async fn connection(stream: UnixStream, keys: Option<Arc<dyn KeyAccess>>, token: String) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    match read_line(&mut read, &mut line, token.len() + 1).await {
        Some(Ok(())) if line == token.as_bytes() => {}
        _ => return,
    }
    loop {
        let reply = match read_line(&mut read, &mut line, MAX_REQUEST_BYTES).await {
            None => return,
            Some(Ok(())) => answer(keys.as_deref(), &line).await,
            Some(Err(())) => {
                let mut r = serde_json::to_vec(&json!({ "error": format!(
                    "the key-value request is more than the {MAX_REQUEST_BYTES} bytes allowed"
                )}))
                .unwrap_or_default();
                r.push(b'\n');
                let _ = write.write_all(&r).await;
                return;
            }
        };
        if write.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// Reads one line (without its newline) of at most `max` bytes into `line`: `None` at the
/// end of the stream, `Some(Err)` for a longer line.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    read: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> Option<Result<(), ()>> {
    line.clear();
    let n = (&mut *read)
        .take(max as u64 + 1)
        .read_until(b'\n', line)
        .await
        .ok()?;
    if n == 0 {
        return None;
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        Some(Ok(()))
    } else if line.len() > max {
        Some(Err(()))
    } else {
        None // the stream ended within a line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_core::clock::SystemClock;
    use attune_core::runtime::StoreKeyAccess;
    use attune_core::store::MemoryStore;

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
        let line = answer(Some(keys.as_ref()), req.as_bytes()).await;
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
            "v".repeat(MAX_REQUEST_BYTES)
        );
        let got = ask(&k, &big).await;
        assert!(
            got["error"].as_str().unwrap().contains("more than"),
            "{got}"
        );
        let none = answer(None, br#"{"op":"get","scope":"system","name":"a"}"#).await;
        assert!(String::from_utf8_lossy(&none).contains("no key-value store"));
    }

    #[tokio::test]
    async fn the_socket_wants_the_token_first_and_answers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sock");
        let listener = bind(&path).unwrap();
        let server = tokio::spawn(serve(listener, Some(access()), "tok".into()));
        // The wrong token: closed without an answer.
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"nope\n{\"op\":\"get\",\"scope\":\"system\",\"name\":\"a\"}\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty());
        // The right one.
        let s = UnixStream::connect(&path).await.unwrap();
        let (r, mut w) = s.into_split();
        w.write_all(b"tok\n{\"op\":\"set\",\"scope\":\"system\",\"name\":\"a\",\"value\":1}\n{\"op\":\"get\",\"scope\":\"system\",\"name\":\"a\"}\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(r).lines();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), r#"{"ok":true}"#);
        let got: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(got["ok"]["value"], 1);
        server.abort();
    }
}
