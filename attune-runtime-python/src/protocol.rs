//! The warm worker's protocol on its own stdout (persistent mode).
//!
//! The engine writes one request per run (a JSON line with a fresh `token`) to the worker's
//! stdin; the worker answers on its stdout, one message a line:
//!
//! - `b <token>` — the run of that request begins: whatever came before (the end of an
//!   earlier run, lines an action wrote to this pipe itself) is not this run's and is dropped;
//! - `o <JSON string>` / `e <JSON string>` — a piece of the run's stdout / stderr, at most
//!   [`CHUNK_CHARS`] characters (the engine splits lines itself);
//! - `k <JSON request>` — a request of the action to the key-value store ([`crate::keys`]),
//!   answered with one line of JSON on the worker's stdin;
//! - `d <JSON outcome>` — the run's outcome, written after the run's end mark on the
//!   worker's stderr ([`crate::end_mark`]).
//!
//! The worker starts `b` and `d` with a newline of its own, so a partial line an action left
//! in the pipe cannot swallow them; empty lines mean nothing. A line is read up to
//! [`MAX_LINE`] bytes, the rest of a longer one dropped — except the current run's `d` line,
//! which carries the action's result and, like a one-shot run's result file, is not capped.

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The characters of output the worker puts in one `o`/`e` message (kept in step with
/// `_CHUNK` in `attune_runner.py`).
pub(crate) const CHUNK_CHARS: usize = 1 << 16;

/// The longest line kept (other than the current run's outcome): room for a chunk of
/// [`CHUNK_CHARS`] characters as JSON with ASCII escapes (at most 12 bytes a character).
pub(crate) const MAX_LINE: usize = 12 * CHUNK_CHARS + 64;

/// Bytes asked of the pipe per read.
const READ_BYTES: usize = 64 << 10;

/// A fresh run token: 128 bits an action cannot predict from the tokens it saw (SipHash
/// under the process's random keys, which `RandomState` draws from the OS).
pub(crate) fn token() -> String {
    use std::hash::{BuildHasher, RandomState};
    let s = RandomState::new();
    format!("{:016x}{:016x}", s.hash_one(1u8), s.hash_one(2u8))
}

/// One message of the worker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// `b <token>`: the run of that token begins.
    Begin(&'a [u8]),
    /// `o <JSON string>`: a piece of stdout (the JSON, undecoded).
    Out(&'a [u8]),
    /// `e <JSON string>`: a piece of stderr (the JSON, undecoded).
    Err(&'a [u8]),
    /// `d <JSON outcome>`: the run's outcome (the JSON, undecoded).
    Done(&'a [u8]),
    /// `k <JSON request>`: a key-value request, to be answered on stdin.
    Key(&'a [u8]),
    /// An empty line: nothing.
    Empty,
    /// Anything else (never written by the worker itself).
    Other(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The message a line (without its newline) holds.
    pub(crate) fn parse(line: &'a [u8]) -> Self {
        match line {
            [] => Message::Empty,
            [b'b', b' ', rest @ ..] => Message::Begin(rest),
            [b'o', b' ', rest @ ..] => Message::Out(rest),
            [b'e', b' ', rest @ ..] => Message::Err(rest),
            [b'd', b' ', rest @ ..] => Message::Done(rest),
            [b'k', b' ', rest @ ..] => Message::Key(rest),
            _ => Message::Other(line),
        }
    }
}

/// The text of an `o`/`e` message's JSON string. Python may hold lone surrogates (bytes
/// that were not UTF-8, decoded with `surrogateescape`), which JSON escapes but a Rust string
/// cannot hold: each becomes U+FFFD, as a one-shot run's invalid UTF-8 does. `None` when it is
/// not a JSON string at all.
pub(crate) fn text_of(json: &[u8]) -> Option<String> {
    serde_json::from_slice(json)
        .ok()
        .or_else(|| serde_json::from_slice(&without_lone_surrogates(json)).ok())
}

/// `json` with every `\uXXXX` escape of a surrogate that is not half of a pair replaced by
/// `\ufffd`.
fn without_lone_surrogates(json: &[u8]) -> Vec<u8> {
    let unit = |at: usize| -> Option<u16> {
        let hex = json.get(at..at + 6)?.strip_prefix(b"\\u")?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'\\' {
            out.push(json[i]);
            i += 1;
            continue;
        }
        match unit(i) {
            Some(0xD800..=0xDBFF) if matches!(unit(i + 6), Some(0xDC00..=0xDFFF)) => {
                out.extend_from_slice(&json[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                i += 6;
            }
            _ => {
                // Another escape: copied whole, so that `\\u` is not taken for one.
                let end = (i + 2).min(json.len());
                out.extend_from_slice(&json[i..end]);
                i = end;
            }
        }
    }
    out
}

/// Whether `line` (or the start of it) may be kept.
fn fits(line: &[u8], outcome_ok: bool) -> bool {
    line.len() <= MAX_LINE || (outcome_ok && line.starts_with(b"d "))
}

/// A line of the worker's stdout, or the sign that an over-long one was dropped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A complete line, without its newline.
    Line(&'a [u8]),
    /// A line longer than [`MAX_LINE`] ended; it was dropped as it came.
    Dropped,
}

/// The worker's stdout cut into lines, each looked at once (no rescan from the start of a
/// growing line), memory bounded by [`MAX_LINE`] plus one read — except while the current
/// run's outcome line is read (see the module documentation).
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    inner: R,
    /// Unconsumed bytes are `buf[start..]`; `buf[start..scanned]` holds no newline.
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    /// Dropping the rest of an over-long line.
    skipping: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Lines of `inner`.
    pub(crate) fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            skipping: false,
        }
    }

    /// The next complete line already read, if any. `outcome_ok`: whether a line starting
    /// with `d ` may grow past [`MAX_LINE`] (the current run's outcome).
    pub(crate) fn next_frame(&mut self, outcome_ok: bool) -> Option<Frame<'_>> {
        if let Some(i) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
            let (from, to) = (self.start, self.scanned + i);
            self.start = to + 1;
            self.scanned = self.start;
            let line = &self.buf[from..to];
            if std::mem::take(&mut self.skipping) || !fits(line, outcome_ok) {
                return Some(Frame::Dropped);
            }
            return Some(Frame::Line(line));
        }
        self.scanned = self.buf.len();
        if self.skipping || !fits(&self.buf[self.start..], outcome_ok) {
            self.skipping = true;
            self.buf.truncate(self.start);
            self.scanned = self.start;
        }
        None
    }

    /// Reads more of the stream; `false` at its end. Cancel-safe: when the future is
    /// dropped before it completes, nothing was read.
    pub(crate) async fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.buf.capacity() > 4 * MAX_LINE && self.buf.len() <= MAX_LINE {
            self.buf.shrink_to(MAX_LINE); // after a large outcome
        }
        self.buf.reserve(READ_BYTES);
        let n = self.inner.read_buf(&mut self.buf).await?;
        Ok(n > 0)
    }

    /// The bytes held (for tests of the bound).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of `input` fed in pieces of `piece` bytes, lines as text.
    async fn frames(input: &[u8], piece: usize, outcome_ok: bool) -> (Vec<String>, usize) {
        let (mut tx, rx) = tokio::io::duplex(piece);
        let data = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for c in data.chunks(piece) {
                tx.write_all(c).await.unwrap();
            }
        });
        let mut r = LineReader::new(rx);
        let mut out = Vec::new();
        let mut most = 0;
        loop {
            while let Some(f) = r.next_frame(outcome_ok) {
                out.push(match f {
                    Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                    Frame::Dropped => "<dropped>".into(),
                });
            }
            most = most.max(r.held());
            if !r.fill().await.unwrap() {
                break;
            }
        }
        writer.await.unwrap();
        (out, most)
    }

    #[tokio::test]
    async fn lines_are_cut_however_the_reads_fall() {
        let input = b"b t1\no \"a\"\n\nd {}\n";
        for piece in [1, 2, 3, 7, 64] {
            let (got, _) = frames(input, piece, false).await;
            assert_eq!(got, ["b t1", "o \"a\"", "", "d {}"], "pieces of {piece}");
        }
    }

    #[tokio::test]
    async fn an_over_long_line_is_dropped_as_it_comes_and_the_next_is_read() {
        let mut input = b"o \"".to_vec();
        input.extend(std::iter::repeat_n(b'x', 8 * MAX_LINE));
        input.extend_from_slice(b"\"\nd {\"ok\": 1}\n");
        let (got, most) = frames(&input, 16 << 10, true).await;
        assert_eq!(got, ["<dropped>", "d {\"ok\": 1}"]);
        assert!(most <= MAX_LINE + 2 * READ_BYTES, "held {most} bytes");
    }

    #[tokio::test]
    async fn the_current_outcome_may_be_longer_but_not_before_its_run_begins() {
        let mut line = b"d \"".to_vec();
        line.extend(std::iter::repeat_n(b'r', 2 * MAX_LINE));
        line.extend_from_slice(b"\"\n");
        let (got, _) = frames(&line, 16 << 10, true).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), line.len() - 1, "kept whole");
        let (got, most) = frames(&line, 16 << 10, false).await;
        assert_eq!(got, ["<dropped>"]);
        assert!(most <= MAX_LINE + 2 * READ_BYTES, "held {most} bytes");
    }

    #[test]
    fn messages_are_told_apart_by_their_first_bytes() {
        assert_eq!(Message::parse(b"b 12ab"), Message::Begin(b"12ab"));
        assert_eq!(Message::parse(b"o \"x\""), Message::Out(b"\"x\""));
        assert_eq!(Message::parse(b"e \"x\""), Message::Err(b"\"x\""));
        assert_eq!(Message::parse(b"d {}"), Message::Done(b"{}"));
        assert_eq!(Message::parse(b"k {}"), Message::Key(b"{}"));
        assert_eq!(Message::parse(b""), Message::Empty);
        assert_eq!(
            Message::parse(b"{\"done\": 1}"),
            Message::Other(b"{\"done\": 1}")
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(text_of(br#""a\nb""#).as_deref(), Some("a\nb"));
        assert_eq!(text_of(br#""\ud83d\ude00""#).as_deref(), Some("\u{1f600}"));
        assert_eq!(
            text_of(br#""a\udc80b\ud800""#).as_deref(),
            Some("a\u{fffd}b\u{fffd}")
        );
        assert_eq!(
            text_of(br#""\\udc80 \ud83d\ude00 \udc80""#).as_deref(),
            Some("\\udc80 \u{1f600} \u{fffd}"),
            "an escaped backslash is not an escape"
        );
        assert_eq!(text_of(b"{not a string"), None);
    }

    #[test]
    fn tokens_differ() {
        let a = token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, token());
    }
}
