//! The key-value store for Python actions (`action_service.get_value` and friends): the
//! requests the child sends, answered over [`KeyAccess`] with
//! [`answer_key_request`](attune_core::runtime::answer_key_request) (the request and answer
//! lines are described there).
//!
//! In persistent mode requests travel on the worker's protocol (`k <JSON>` lines, see
//! [`crate::protocol`]) and answers on its stdin; in one-shot mode on a Unix socket in the
//! run's private scratch directory ([`serve`]), whose first line must be the run's token.

use attune_core::runtime::{
    KeyAccess, MAX_KEY_REQUEST_BYTES as MAX_REQUEST_BYTES, answer_key_request as answer,
};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

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
    use serde_json::Value;

    fn access() -> Arc<dyn KeyAccess> {
        Arc::new(StoreKeyAccess::new(
            Arc::new(MemoryStore::new()),
            Arc::new(SystemClock),
            "p",
            None,
            "execution 'x'",
        ))
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
