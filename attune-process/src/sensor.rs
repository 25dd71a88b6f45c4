//! A sensor process that speaks the line protocol of [`attune_core::sensor`]: the one copy
//! the process sensor runtimes (`shell`, `python`) share.
//!
//! The child is started tracked like any run (its own process group, killed with
//! everything it started when it is stopped or the host dies). On its stdin it gets one
//! JSON line at start (`hello`: what the runtime hands it, with `triggers`), then one
//! `{"triggers": [...]}` line whenever the triggers its rules ask for change, and one answer
//! line per key request. Its stdout is read line by line
//! ([`parse_line`](attune_core::sensor::parse_line)): events are dispatched in batches (all
//! the lines that came in one read: one store call on a durable store), stored in the order
//! they were read by one task while the next lines are read; key requests are answered in
//! order, once the events before them are stored; anything else is rejected with the line
//! (counted, logged) and the sensor kept. Its stderr lines go to its log. A sensor that
//! stops reading its stdin (a write waits 5 s) is stopped: the engine restarts it.

use crate::long_lived::LongLived;
use crate::spec::ProcessSpec;
use attune_core::sensor::{MAX_LINE_BYTES, SensorEvent, SensorLine, SensorRun, parse_line};
use attune_core::{Error, Result};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The longest stderr line kept whole; the rest of a longer one is dropped.
const MAX_STDERR_LINE: usize = 16 << 10;

/// Batches of events read ahead while earlier ones are stored: one task stores them, in
/// the order they were read.
const BATCHES_QUEUED: usize = 4;

/// How long one write to the sensor's stdin may wait. A sensor that does not read its stdin
/// for that long is stopped (a message half written cannot be taken back) and restarted by
/// the engine.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// What the storing task does, in order.
enum Job {
    /// Store these events.
    Events(Vec<SensorEvent>),
    /// Say when everything before is stored.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Runs the sensor process `spec` until it exits or `run.stop` fires (then SIGTERM, and
/// SIGKILL after `grace`). `hello` (a JSON object) is its first stdin line, `triggers`
/// added. `Ok` when it was stopped or exited with code 0; `Err` naming the exit code or
/// signal otherwise, or saying that it stopped reading its stdin.
pub async fn run_line_sensor(
    spec: ProcessSpec,
    mut hello: Value,
    run: SensorRun,
    grace: Duration,
) -> Result<()> {
    let what = format!("sensor '{}'", run.sensor.sensor_ref);
    let mut child = LongLived::spawn(&spec).map_err(|e| {
        Error::Action(format!(
            "{what}: cannot start '{}': {e}",
            spec.program.display()
        ))
    })?;
    let cmd_line = std::iter::once(spec.program.as_os_str())
        .chain(spec.args.iter().map(|a| a.as_os_str()))
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    run.dispatch.process_spawned(child.pid(), &cmd_line).await;
    let pipe = |name: &str| Error::Action(format!("{what}: its {name} is not piped"));
    let stdout = child.stdout_take().ok_or_else(|| pipe("stdout"))?;
    let stderr = child.stderr_take().ok_or_else(|| pipe("stderr"))?;
    // One task stores the events, batch after batch, while the next lines are read.
    let (jobs, mut queue) = tokio::sync::mpsc::channel::<Job>(BATCHES_QUEUED);
    let dispatch = run.dispatch.clone();
    let storing = tokio::spawn(async move {
        while let Some(job) = queue.recv().await {
            match job {
                // Refused events are counted and logged by the dispatcher.
                Job::Events(events) => {
                    let _ = dispatch.dispatch_all(events).await;
                }
                Job::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    let mut triggers = run.triggers.clone();
    hello["triggers"] = triggers_json(&triggers.borrow_and_update());
    let mut broken = send(&mut child, &hello).await.err();
    let mut out = Lines::new(stdout, MAX_LINE_BYTES);
    let mut err = Lines::new(stderr, MAX_STDERR_LINE);
    let mut err_open = true;
    while broken.is_none() {
        tokio::select! {
            () = run.stop.cancelled() => {
                let code = child.stop(grace).await;
                drop(jobs);
                let _ = storing.await;
                run.dispatch.process_exited(code).await;
                return Ok(());
            }
            changed = triggers.changed() => {
                if changed.is_ok() {
                    let msg = json!({ "triggers": triggers_json(&triggers.borrow_and_update()) });
                    broken = send(&mut child, &msg).await.err();
                }
            }
            lines = out.next_lines() => match lines {
                Some(lines) => broken = handle_lines(&mut child, &run, lines, &jobs).await.err(),
                None => break,
            },
            line = err.next_lines(), if err_open => match line {
                Some(lines) => for l in lines {
                    run.dispatch.stderr_line(&String::from_utf8_lossy(l.bytes()));
                },
                None => err_open = false,
            },
        }
    }
    // Its stdout closed (it is ending), or it stopped reading its stdin. What it wrote to
    // stderr until then is kept.
    drop(jobs);
    let _ = storing.await;
    let ended = if broken.is_some() {
        None
    } else {
        tokio::select! {
            () = run.stop.cancelled() => None,
            code = async {
                while err_open {
                    match err.next_lines().await {
                        Some(lines) => for l in lines {
                            run.dispatch.stderr_line(&String::from_utf8_lossy(l.bytes()));
                        },
                        None => err_open = false,
                    }
                }
                child.wait().await
            } => Some(code),
            () = tokio::time::sleep(grace) => None,
        }
    };
    // Not exited within the grace (or told to stop meanwhile, or deaf): stopped.
    let (code, stopped) = match ended {
        Some(code) => (code, false),
        None => (child.stop(grace).await, true),
    };
    run.dispatch.process_exited(code).await;
    match code {
        _ if broken.is_some() => Err(Error::Action(format!(
            "{what} stopped reading its stdin ({}): stopped",
            broken.unwrap_or_default()
        ))),
        _ if stopped && run.stop.is_cancelled() => Ok(()),
        _ if stopped => Err(Error::Action(format!(
            "{what} closed its stdout and did not exit: stopped"
        ))),
        0 => Ok(()),
        c if c < 0 => Err(Error::Action(format!("{what} was killed by signal {}", -c))),
        c => Err(Error::Action(format!("{what} exited with code {c}"))),
    }
}

/// The triggers as the sensor gets them (StackStorm's trigger dicts).
fn triggers_json(t: &[attune_core::sensor::TriggerInstance]) -> Value {
    Value::Array(t.iter().map(|t| t.to_json()).collect())
}

/// Writes one JSON line to the child's stdin.
async fn send(child: &mut LongLived, msg: &Value) -> std::result::Result<(), String> {
    let mut line = serde_json::to_vec(msg).unwrap_or_default();
    line.push(b'\n');
    write_line(child, &line).await
}

/// Writes one line, waiting [`WRITE_WAIT`] at most. A closed stdin is fine (the child is
/// ending: its end is seen on stdout); a write that does not finish in time is an error.
async fn write_line(child: &mut LongLived, line: &[u8]) -> std::result::Result<(), String> {
    let wrote = tokio::time::timeout(WRITE_WAIT, async {
        child.stdin.write_all(line).await?;
        child.stdin.flush().await
    })
    .await;
    match wrote {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "sensor stdin closed");
            Ok(())
        }
        Err(_) => Err(format!(
            "a write to it waited more than {} s",
            WRITE_WAIT.as_secs()
        )),
    }
}

/// Queues the events of `lines` in order, in one batch; a key request is answered once the
/// events before it were stored.
async fn handle_lines(
    child: &mut LongLived,
    run: &SensorRun,
    lines: Vec<Line>,
    jobs: &tokio::sync::mpsc::Sender<Job>,
) -> std::result::Result<(), String> {
    let mut events: Vec<SensorEvent> = Vec::new();
    for line in lines {
        let parsed = match &line {
            Line::Whole(b) => parse_line(b),
            Line::TooLong { len, .. } => Err(format!(
                "the line is {len} bytes, more than the {MAX_LINE_BYTES} allowed"
            )),
        };
        match parsed {
            Ok(SensorLine::Event(e)) => events.push(e),
            Ok(SensorLine::Empty) => {}
            Ok(SensorLine::Key(req)) => {
                if !events.is_empty() {
                    let _ = jobs.send(Job::Events(std::mem::take(&mut events))).await;
                }
                let (done, stored) = tokio::sync::oneshot::channel();
                if jobs.send(Job::Barrier(done)).await.is_ok() {
                    let _ = stored.await;
                }
                let req = serde_json::to_vec(&req).unwrap_or_default();
                let answer =
                    attune_core::runtime::answer_key_request(run.keys.as_deref(), &req).await;
                write_line(child, &answer).await?;
            }
            Err(why) => run.dispatch.reject(&why, line.bytes()),
        }
    }
    if !events.is_empty() {
        let _ = jobs.send(Job::Events(events)).await;
    }
    Ok(())
}

/// One line read: whole, or the start of one longer than the cap (the rest was dropped).
enum Line {
    Whole(Vec<u8>),
    TooLong { start: Vec<u8>, len: usize },
}

impl Line {
    fn bytes(&self) -> &[u8] {
        match self {
            Line::Whole(b) => b,
            Line::TooLong { start, .. } => start,
        }
    }
}

/// Lines of a stream, at most `max` bytes each, handed over as many as one read brought.
struct Lines<R> {
    read: R,
    max: usize,
    buf: Vec<u8>,
    /// The length of the over-long line being skipped, if one is.
    skipping: Option<(Vec<u8>, usize)>,
    chunk: Vec<u8>,
    eof: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(read: R, max: usize) -> Self {
        Lines {
            read,
            max,
            buf: Vec::new(),
            skipping: None,
            chunk: vec![0; 64 << 10],
            eof: false,
        }
    }

    /// The complete lines of the next read (at least one); `None` at the end of the stream
    /// (a last line without a newline is handed over first).
    async fn next_lines(&mut self) -> Option<Vec<Line>> {
        loop {
            if self.eof {
                if !self.buf.is_empty() {
                    return Some(vec![Line::Whole(std::mem::take(&mut self.buf))]);
                }
                if let Some((start, len)) = self.skipping.take() {
                    return Some(vec![Line::TooLong { start, len }]);
                }
                return None;
            }
            let n = match self.read.read(&mut self.chunk).await {
                Ok(0) | Err(_) => {
                    self.eof = true;
                    continue;
                }
                Ok(n) => n,
            };
            let lines = self.split(n);
            if !lines.is_empty() {
                return Some(lines);
            }
        }
    }

    fn split(&mut self, n: usize) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut rest = &self.chunk[..n];
        while !rest.is_empty() {
            let (piece, ended) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = if ended { &rest[piece.len() + 1..] } else { &[] };
            if let Some((_, len)) = &mut self.skipping {
                *len += piece.len();
            } else if self.buf.len() + piece.len() > self.max {
                let len = self.buf.len() + piece.len();
                let mut start = std::mem::take(&mut self.buf);
                start.extend_from_slice(&piece[..piece.len().min(512)]);
                start.truncate(512);
                self.skipping = Some((start, len));
            } else {
                self.buf.extend_from_slice(piece);
            }
            if ended {
                match self.skipping.take() {
                    Some((start, len)) => lines.push(Line::TooLong { start, len }),
                    None => lines.push(Line::Whole(std::mem::take(&mut self.buf))),
                }
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max: usize) -> Vec<String> {
        let mut l = Lines::new(input, max);
        let mut out = Vec::new();
        while let Some(batch) = l.next_lines().await {
            for line in batch {
                out.push(match line {
                    Line::Whole(b) => String::from_utf8(b).unwrap(),
                    Line::TooLong { start, len } => {
                        format!("long {len} {}", String::from_utf8_lossy(&start))
                    }
                });
            }
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_and_long_ones_cut() {
        assert_eq!(read_all(b"a\nbb\n\nc", 10).await, ["a", "bb", "", "c"]);
        let long = format!("x\n{}\ny\n", "z".repeat(30));
        let got = read_all(long.as_bytes(), 10).await;
        assert_eq!(got[0], "x");
        assert!(got[1].starts_with("long 30 zzz"), "{got:?}");
        assert_eq!(got[2], "y");
        assert_eq!(got.len(), 3);
    }
}
