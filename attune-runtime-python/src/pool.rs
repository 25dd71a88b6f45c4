//! Warm interpreters (persistent mode): a pool per interpreter (the system's, or a pack's
//! virtualenv), each worker running one execution at a time, recycled after a number of
//! runs, after a crash, or after a timeout or cancel kill.

use crate::outcome::Ended;
use attune_core::runtime::{LogSink, LogStream};
use attune_core::{Error, Result};
use attune_process::{Capture, LongLived, ProcessSpec, StreamLimits};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::ChildStdout;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One warm interpreter.
#[derive(Debug)]
struct Worker {
    proc: LongLived,
    protocol: Lines<BufReader<ChildStdout>>,
    /// Chunks of its stderr, read by a task of their own.
    stderr: mpsc::UnboundedReceiver<Vec<u8>>,
    runs: u32,
}

/// The warm interpreters of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<PathBuf, Vec<Worker>>>,
    started: AtomicU64,
}

/// What a warm run needs besides its request.
pub(crate) struct WarmRun<'a> {
    pub spec: ProcessSpec,
    pub request: Vec<u8>,
    pub timeout: Option<Duration>,
    pub cancel: &'a CancellationToken,
    pub log: &'a LogSink,
    pub limits: StreamLimits,
    pub grace: Duration,
    pub recycle_after: u32,
    pub max_idle: usize,
}

/// How a warm run ended, besides its outcome: canceled or not.
pub(crate) enum WarmEnd {
    Done(Ended),
    Canceled,
}

impl Pool {
    /// Interpreters started so far.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    fn take(&self, program: &PathBuf) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(program)?;
        while let Some(mut w) = list.pop() {
            if w.proc.exited().is_none() {
                return Some(w);
            }
        }
        None
    }

    fn give_back(&self, program: PathBuf, w: Worker, max_idle: usize) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(program).or_default();
        if list.len() >= max_idle {
            return Some(w);
        }
        list.push(w);
        None
    }

    fn start(&self, spec: &ProcessSpec) -> Result<Worker> {
        let mut proc = LongLived::spawn(spec)
            .map_err(|e| Error::Action(format!("the Python worker could not start: {e}")))?;
        self.started.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::unbounded_channel();
        let taken = || Error::Action("the Python worker's pipes were taken".into());
        let mut stderr = proc.stderr_take().ok_or_else(taken)?;
        let stdout = proc.stdout_take().ok_or_else(taken)?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 << 10];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        let protocol = BufReader::new(stdout).lines();
        Ok(Worker {
            proc,
            protocol,
            stderr: rx,
            runs: 0,
        })
    }

    /// Runs one request on a warm worker of `run.spec.program` (started if none is idle).
    pub async fn run(&self, run: WarmRun<'_>) -> Result<WarmEnd> {
        let program = run.spec.program.clone();
        let mut w = match self.take(&program) {
            Some(w) => w,
            None => self.start(&run.spec)?,
        };
        let mut out = Capture::new(LogStream::Stdout, run.log.clone(), run.limits);
        let mut err = Capture::new(LogStream::Stderr, run.log.clone(), run.limits);
        // Left over from the previous run (a subprocess writing late): not this run's.
        while w.stderr.try_recv().is_ok() {}
        if let Err(e) = w.proc.stdin.write_all(&run.request).await {
            w.proc.stop(run.grace).await;
            return Err(Error::Action(format!(
                "the Python worker did not take the request: {e}"
            )));
        }
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
        }
        let mut stderr_open = true;
        let next = loop {
            tokio::select! {
                line = w.protocol.next_line() => match line {
                    Ok(Some(l)) => match serde_json::from_str::<Value>(&l) {
                        Ok(Value::Object(mut m)) => {
                            if let Some(done) = m.remove("done") {
                                break Next::Report(done);
                            }
                            if let Some(Value::String(s)) = m.get("o") {
                                out.feed(s.as_bytes());
                            } else if let Some(Value::String(s)) = m.get("e") {
                                err.feed(s.as_bytes());
                            }
                        }
                        _ => err.feed(format!("{l}\n").as_bytes()),
                    },
                    _ => break Next::Died,
                },
                chunk = w.stderr.recv(), if stderr_open => match chunk {
                    Some(c) => err.feed(&c),
                    None => stderr_open = false, // it ended: the protocol tells why
                },
                () = &mut deadline => break Next::TimedOut,
                () = run.cancel.cancelled() => break Next::Canceled,
            }
        };
        while let Ok(c) = w.stderr.try_recv() {
            err.feed(&c);
        }
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
                if w.runs >= run.recycle_after {
                    w.proc.stop(run.grace).await;
                } else if let Some(extra) = self.give_back(program, w, run.max_idle) {
                    extra.proc.stop(run.grace).await;
                }
                Ok(WarmEnd::Done(ended))
            }
            Next::Died => {
                // Give its last stderr a moment, then take what it said.
                let code = w.proc.exited();
                tokio::time::sleep(Duration::from_millis(20)).await;
                while let Ok(c) = w.stderr.try_recv() {
                    err.feed(&c);
                }
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
        }
    }
}
