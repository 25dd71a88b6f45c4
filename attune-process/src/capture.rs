//! Reading one output stream: forwarded line by line to the log stream as it comes, captured
//! up to a cap, the rest read and dropped.

use attune_core::runtime::{LogSink, LogStream};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Caps on captured output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Bytes kept per stream (default 10 MiB); beyond, output is dropped and flagged.
    pub max_bytes: usize,
    /// A line longer than this is forwarded to the log stream in pieces (default 64 KiB).
    pub max_line_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_bytes: 10 << 20,
            max_line_bytes: 64 << 10,
        }
    }
}

/// What was kept of one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// The kept output (invalid UTF-8 replaced), ending with a truncation marker line when
    /// output was dropped.
    pub text: String,
    /// Whether output was dropped.
    pub truncated: bool,
    /// Every byte the child wrote to the stream.
    pub total_bytes: u64,
}

/// The last `max_lines` lines of `text`, at most `max_bytes` long (for error messages).
pub fn tail(text: &str, max_lines: usize, max_bytes: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    let mut out = lines[start..].join("\n");
    if out.len() > max_bytes {
        let mut cut = out.len() - max_bytes;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("...{}", &out[cut..]);
    }
    out
}

/// One stream's output as it comes, in pieces: lines go to the log stream (while output is
/// kept), bytes are kept up to a cap, the rest counted and dropped. [`run`](crate::run) feeds it a
/// whole stream; a long-lived child (a warm interpreter) feeds it one run's share.
#[derive(Debug)]
pub struct Capture {
    stream: LogStream,
    log: LogSink,
    limits: StreamLimits,
    kept: Vec<u8>,
    line: Vec<u8>,
    truncated: bool,
    total: u64,
}

impl Capture {
    /// An empty capture of `stream`, forwarding to `log`.
    pub fn new(stream: LogStream, log: LogSink, limits: StreamLimits) -> Self {
        Capture {
            stream,
            log,
            limits,
            kept: Vec::new(),
            line: Vec::new(),
            truncated: false,
            total: 0,
        }
    }

    fn name(&self) -> &'static str {
        match self.stream {
            LogStream::Stderr => "stderr",
            _ => "stdout",
        }
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if self.truncated {
            return; // drained and dropped
        }
        let room = self.limits.max_bytes - self.kept.len();
        let take = chunk.len().min(room);
        self.kept.extend_from_slice(&chunk[..take]);
        forward(
            &chunk[..take],
            &mut self.line,
            self.stream,
            &self.log,
            self.limits.max_line_bytes,
        );
        if take < chunk.len() {
            self.truncated = true;
            flush(&mut self.line, self.stream, &self.log);
            self.log.line(
                self.stream,
                format!(
                    "[attune: {} truncated at {} bytes]",
                    self.name(),
                    self.limits.max_bytes
                ),
            );
        }
    }

    /// What was kept, once the stream (or the run's share of it) ended.
    pub fn finish(mut self) -> Captured {
        flush(&mut self.line, self.stream, &self.log);
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.truncated {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[attune: {} truncated: kept {} of {} bytes]\n",
                self.name(),
                self.kept.len(),
                self.total
            ));
        }
        Captured {
            text,
            truncated: self.truncated,
            total_bytes: self.total,
        }
    }
}

/// Reads `reader` to its end into a [`Capture`].
pub(crate) async fn capture<R: AsyncRead + Unpin>(
    mut reader: R,
    stream: LogStream,
    log: LogSink,
    limits: StreamLimits,
) -> Captured {
    let mut c = Capture::new(stream, log, limits);
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => c.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!(error = %e, stream = c.name(), "reading child output failed");
                break;
            }
        }
    }
    c.finish()
}

/// Splits `bytes` into lines (appending to the pending `line`) and sends complete ones.
fn forward(bytes: &[u8], line: &mut Vec<u8>, stream: LogStream, log: &LogSink, max_line: usize) {
    if !log.is_listened() {
        // Nobody reads the log: keep only the pending part of the last line.
        match bytes.iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                line.clear();
                line.extend_from_slice(&bytes[i + 1..]);
            }
            None => line.extend_from_slice(bytes),
        }
        if line.len() > max_line {
            line.clear();
        }
        return;
    }
    for piece in bytes.split_inclusive(|b| *b == b'\n') {
        let (body, ends) = match piece.strip_suffix(b"\n") {
            Some(b) => (b, true),
            None => (piece, false),
        };
        let mut body = body;
        while line.len() + body.len() > max_line {
            let take = max_line - line.len();
            line.extend_from_slice(&body[..take]);
            flush(line, stream, log);
            body = &body[take..];
        }
        line.extend_from_slice(body);
        if ends {
            send(line, stream, log);
            line.clear();
        }
    }
}

fn flush(line: &mut Vec<u8>, stream: LogStream, log: &LogSink) {
    if !line.is_empty() {
        send(line, stream, log);
        line.clear();
    }
}

fn send(line: &[u8], stream: LogStream, log: &LogSink) {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    log.line(stream, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_core::model::ExecutionId;
    use tokio::sync::broadcast;

    fn sink() -> (LogSink, broadcast::Receiver<attune_core::runtime::LogLine>) {
        let (tx, rx) = broadcast::channel(1024);
        (LogSink::new(ExecutionId::new(), tx), rx)
    }

    fn lines(rx: &mut broadcast::Receiver<attune_core::runtime::LogLine>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(l) = rx.try_recv() {
            out.push(l.line.to_string());
        }
        out
    }

    #[tokio::test]
    async fn lines_are_forwarded_and_output_kept() {
        let (log, mut rx) = sink();
        let input: &[u8] = b"one\ntwo\r\nthree";
        let c = capture(input, LogStream::Stdout, log, StreamLimits::default()).await;
        assert_eq!(c.text, "one\ntwo\r\nthree");
        assert!(!c.truncated);
        assert_eq!(c.total_bytes, 14);
        assert_eq!(lines(&mut rx), vec!["one", "two", "three"]);
    }

    #[tokio::test]
    async fn output_beyond_the_cap_is_dropped_and_marked() {
        let (log, mut rx) = sink();
        let input = [b'x'; 100];
        let limits = StreamLimits {
            max_bytes: 10,
            max_line_bytes: 4,
        };
        let c = capture(&input[..], LogStream::Stderr, log, limits).await;
        assert!(c.truncated);
        assert_eq!(c.total_bytes, 100);
        assert!(
            c.text
                .starts_with("xxxxxxxxxx\n[attune: stderr truncated: kept 10 of 100 bytes]"),
            "{}",
            c.text
        );
        let got = lines(&mut rx);
        assert_eq!(got[..3], ["xxxx", "xxxx", "xx"]);
        assert_eq!(got[3], "[attune: stderr truncated at 10 bytes]");
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2, 100), "b\nc");
        assert_eq!(tail("abcdef", 5, 3), "...def");
        assert_eq!(tail("", 5, 3), "");
    }
}
