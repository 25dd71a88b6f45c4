//! Warm interpreters (persistent mode). A worker belongs to one pack and its interpreter
//! (the system's, or the pack's virtualenv): what one pack's action leaves in the process
//! never reaches another pack's. Each runs one execution at a time and is recycled after a
//! number of runs, after a crash, or after a timeout or cancel kill. Idle workers are bounded
//! in all, whatever their pack: at the bound the least recently used one is stopped.
//!
//! A run's output comes as `o`/`e` messages of the protocol ([`crate::protocol`]) and, for
//! what is written to file descriptor 2 directly, on the worker's stderr; both go through a
//! [`Capture`] as a one-shot run's streams do (kept up to the cap, the rest drained and
//! dropped), and neither is buffered without bound: protocol lines are capped and the
//! stderr reader holds a few chunks, then leaves the pipe full (the worker waits).

use crate::end_mark::EndMark;
use crate::outcome::Ended;
use crate::protocol::{self, Frame, LineReader, Message};
use attune_core::runtime::{KeyAccess, LogSink, LogStream};
use attune_core::{Error, Result};
use attune_process::{Capture, LongLived, ProcessSpec, StreamLimits};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdout;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Bytes of a worker's stderr read at once.
const STDERR_CHUNK: usize = 16 << 10;
/// Chunks of a worker's stderr read ahead of the run that takes them.
const STDERR_CHUNKS: usize = 8;
/// How long a run that reported its outcome waits for its end mark on stderr
/// ([`crate::end_mark`]) — the mark comes right away unless the action closed or moved
/// file descriptor 2, and then the worker is not reused.
const END_MARK_WAIT: Duration = Duration::from_secs(2);

/// One warm interpreter.
#[derive(Debug)]
struct Worker {
    proc: LongLived,
    protocol: LineReader<ChildStdout>,
    /// Chunks of its stderr, read by a task of their own (at most [`STDERR_CHUNKS`] ahead).
    stderr: mpsc::Receiver<Vec<u8>>,
    runs: u32,
}

/// What a worker serves: one pack, with one interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    pack: String,
    program: PathBuf,
}

/// The warm interpreters of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Idle workers, the least recently used first.
    idle: Mutex<VecDeque<(Key, Worker)>>,
    started: AtomicU64,
}

/// What a warm run needs besides its request.
pub(crate) struct WarmRun<'a> {
    /// The action's pack: workers are never shared between packs.
    pub pack: &'a str,
    pub spec: ProcessSpec,
    /// The request (a JSON object; the pool adds the run's token).
    pub request: Value,
    pub timeout: Option<Duration>,
    pub cancel: &'a CancellationToken,
    pub log: &'a LogSink,
    /// What answers the run's key-value requests (`k` messages).
    pub keys: Option<Arc<dyn KeyAccess>>,
    pub limits: StreamLimits,
    pub grace: Duration,
    pub recycle_after: u32,
    /// Idle workers kept, over all packs.
    pub max_idle: usize,
}

/// How a warm run ended, besides its outcome: canceled or not.
pub(crate) enum WarmEnd {
    Done(Ended),
    Canceled,
}

impl Pool {
    /// Interpreters started so far.
    pub(crate) fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// The most recently used idle worker of `key` that is still alive.
    fn take(&self, key: &Key) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(i) = idle.iter().rposition(|(k, _)| k == key) {
            let (_, mut w) = idle.remove(i)?;
            if w.proc.exited().is_none() {
                return Some(w);
            }
            // Dead: dropped here, which kills what is left of its group.
        }
        None
    }

    /// Keeps `w` idle; the worker to stop when that makes more than `max_idle` (the least
    /// recently used one, of any pack).
    fn give_back(&self, key: Key, w: Worker, max_idle: usize) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push_back((key, w));
        if idle.len() > max_idle {
            return idle.pop_front().map(|(_, w)| w);
        }
        None
    }

    fn start(&self, spec: &ProcessSpec) -> Result<Worker> {
        let mut proc = LongLived::spawn(spec)
            .map_err(|e| Error::Action(format!("the Python worker could not start: {e}")))?;
        self.started.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(STDERR_CHUNKS);
        let taken = || Error::Action("the Python worker's pipes were taken".into());
        let mut stderr = proc.stderr_take().ok_or_else(taken)?;
        let stdout = proc.stdout_take().ok_or_else(taken)?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; STDERR_CHUNK];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                    return;
                }
            }
        });
        Ok(Worker {
            proc,
            protocol: LineReader::new(stdout),
            stderr: rx,
            runs: 0,
        })
    }

    /// Runs one request on a warm worker of the run's pack and interpreter (started if none
    /// is idle).
    pub(crate) async fn run(&self, run: WarmRun<'_>) -> Result<WarmEnd> {
        let key = Key {
            pack: run.pack.to_string(),
            program: run.spec.program.clone(),
        };
        let token = protocol::token();
        let mut request = run.request;
        request["token"] = Value::String(token.clone());
        // What goes to the worker's stdin: the request, then the answers to its key-value
        // requests, in order.
        let mut to_send = serde_json::to_vec(&request)
            .map_err(|e| Error::Action(format!("params are not JSON: {e}")))?;
        to_send.push(b'\n');
        let mut sent = 0;
        let mut key_requests: Vec<Vec<u8>> = Vec::new();
        let mut w = match self.take(&key) {
            Some(w) => w,
            None => self.start(&run.spec)?,
        };
        let mut out = Capture::new(LogStream::Stdout, run.log.clone(), run.limits);
        let mut err = Capture::new(LogStream::Stderr, run.log.clone(), run.limits);
        let mut mark = EndMark::new(&token);
        // Left over from the previous run (a subprocess writing late): not this run's.
        while w.stderr.try_recv().is_ok() {}
        let deadline = async {
            match run.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        enum Next {
            Report(Value),
            Died,
            TimedOut,
            Canceled,
            Refused(std::io::Error),
        }
        // Until its `b <token>` line, nothing on the protocol is this run's.
        let mut begun = false;
        let mut stderr_open = true;
        // The request is written as the rest goes on: a worker still busy (with a run that
        // forged its own end) may not read it, and the deadline and a cancel still hold.
        let next = 'run: loop {
            while let Some(frame) = w.protocol.next_frame(begun) {
                let Frame::Line(line) = frame else {
                    tracing::debug!("an over-long line of a Python worker's protocol dropped");
                    continue;
                };
                match Message::parse(line) {
                    Message::Begin(t) if !begun => begun = t == token.as_bytes(),
                    _ if !begun => {} // the end of an earlier run, or forged by one
                    Message::Out(text) => feed_text(&mut out, text),
                    Message::Err(text) => feed_text(&mut err, text),
                    Message::Done(outcome) => match serde_json::from_slice(outcome) {
                        Ok(v) => break 'run Next::Report(v),
                        Err(_) => feed_line(&mut err, line),
                    },
                    Message::Key(request) => key_requests.push(request.to_vec()),
                    Message::Empty | Message::Begin(_) => {}
                    Message::Other(line) => feed_line(&mut err, line),
                }
            }
            for request in key_requests.drain(..) {
                tokio::select! {
                    reply = attune_core::runtime::answer_key_request(run.keys.as_deref(), &request) => {
                        if sent == to_send.len() {
                            to_send.clear();
                            sent = 0;
                        }
                        to_send.extend_from_slice(&reply);
                    }
                    () = &mut deadline => break 'run Next::TimedOut,
                    () = run.cancel.cancelled() => break 'run Next::Canceled,
                }
            }
            tokio::select! {
                wrote = w.proc.stdin.write(&to_send[sent..]), if sent < to_send.len() => match wrote {
                    Ok(0) => break Next::Refused(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => sent += n,
                    Err(e) => break Next::Refused(e),
                },
                more = w.protocol.fill() => if !matches!(more, Ok(true)) {
                    break Next::Died;
                },
                chunk = w.stderr.recv(), if stderr_open && !mark.found() => match chunk {
                    Some(c) => {
                        mark.feed(&c, |b| err.feed(b));
                    }
                    None => stderr_open = false, // it ended: the protocol tells why
                },
                () = &mut deadline => break Next::TimedOut,
                () = run.cancel.cancelled() => break Next::Canceled,
            }
        };
        // What the worker wrote to file descriptor 2 before its outcome: up to its end mark
        // after a report, what has arrived otherwise.
        let marked = match next {
            Next::Report(_) if stderr_open => {
                let _ = tokio::time::timeout(END_MARK_WAIT, async {
                    while !mark.found() {
                        match w.stderr.recv().await {
                            Some(c) => mark.feed(&c, |b| err.feed(b)),
                            None => break,
                        };
                    }
                })
                .await;
                mark.found()
            }
            _ => {
                while let Ok(c) = w.stderr.try_recv() {
                    if mark.feed(&c, |b| err.feed(b)) {
                        break;
                    }
                }
                mark.found()
            }
        };
        mark.flush(|b| err.feed(b));
        match next {
            Next::Report(report) => {
                w.runs += 1;
                let ended = Ended {
                    reported: Some(report),
                    timed_out: None,
                    exit_code: 0,
                    why_no_report: String::new(),
                    stdout: out.finish(),
                    stderr: err.finish(),
                };
                // Answers the worker did not take (requests an action forged without reading
                // their answers) would be read as the next request: not reused then.
                let unread = sent < to_send.len() || !key_requests.is_empty();
                // Without its mark, the next run could take this one's stderr.
                if w.runs >= run.recycle_after || unread || !marked {
                    w.proc.stop(run.grace).await;
                } else if let Some(evicted) = self.give_back(key, w, run.max_idle) {
                    evicted.proc.stop(run.grace).await;
                }
                Ok(WarmEnd::Done(ended))
            }
            Next::Died => {
                // Take what it said last: its stderr to its end (a moment at most, since a
                // subprocess may hold it open).
                let _ = tokio::time::timeout(Duration::from_millis(50), async {
                    while let Some(c) = w.stderr.recv().await {
                        err.feed(&c);
                    }
                })
                .await;
                let code = w.proc.exited();
                w.proc.stop(run.grace).await;
                Ok(WarmEnd::Done(Ended {
                    reported: None,
                    timed_out: None,
                    exit_code: code.unwrap_or(-1),
                    why_no_report: match code {
                        Some(c) if c < 0 => format!("the worker was killed by signal {}", -c),
                        Some(c) => format!("the worker exited with code {c}"),
                        None => "the worker closed its output".into(),
                    },
                    stdout: out.finish(),
                    stderr: err.finish(),
                }))
            }
            Next::TimedOut => {
                w.proc.stop(run.grace).await;
                Ok(WarmEnd::Done(Ended {
                    reported: None,
                    timed_out: run.timeout,
                    exit_code: -15,
                    why_no_report: String::new(),
                    stdout: out.finish(),
                    stderr: err.finish(),
                }))
            }
            Next::Canceled => {
                w.proc.stop(run.grace).await;
                Ok(WarmEnd::Canceled)
            }
            Next::Refused(e) => {
                w.proc.stop(run.grace).await;
                Err(Error::Action(format!(
                    "the Python worker did not take the request: {e}"
                )))
            }
        }
    }
}

/// Feeds a protocol message's JSON string to `capture` (as it came if it is not one: an
/// action that wrote to the protocol itself).
fn feed_text(capture: &mut Capture, json: &[u8]) {
    match protocol::text_of(json) {
        Some(text) => capture.feed(text.as_bytes()),
        None => feed_line(capture, json),
    }
}

/// Feeds a line that is not a message of the protocol to `capture`, as a line.
fn feed_line(capture: &mut Capture, line: &[u8]) {
    capture.feed(line);
    capture.feed(b"\n");
}
