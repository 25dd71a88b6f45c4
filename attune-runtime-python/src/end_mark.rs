//! The end of a warm run on the worker's stderr.
//!
//! What the action writes to file descriptor 2 directly reaches the engine on the worker's
//! stderr, a pipe of its own, while the run's outcome comes on the protocol pipe: the
//! outcome may be read before the last of that output. So the worker, once the action has
//! returned and before its `d` message, writes a mark to file descriptor 2 (`\0attune-end
//! <token>\0`, the run's token making it unforgeable), and the engine takes that stderr up
//! to the mark before it ends the run. The mark itself is never part of the output.

/// Finds the run's end mark in a worker's stderr, passing on what comes before it.
#[derive(Debug)]
pub(crate) struct EndMark {
    mark: Vec<u8>,
    /// The end of what was fed that may be the start of the mark: held back until the next
    /// chunk tells.
    held: Vec<u8>,
    found: bool,
}

impl EndMark {
    /// The mark of the run with `token` (as the worker writes it, see `attune_runner.py`).
    pub(crate) fn new(token: &str) -> Self {
        let mut mark = b"\0attune-end ".to_vec();
        mark.extend_from_slice(token.as_bytes());
        mark.push(0);
        EndMark {
            mark,
            held: Vec::new(),
            found: false,
        }
    }

    /// Whether the mark was seen.
    pub(crate) fn found(&self) -> bool {
        self.found
    }

    /// Takes a chunk of stderr: what precedes the mark goes to `out`, bytes that may start
    /// the mark are held back, and what follows the mark (a subprocess writing late) is
    /// dropped. True once the mark was seen.
    pub(crate) fn feed(&mut self, chunk: &[u8], mut out: impl FnMut(&[u8])) -> bool {
        if self.found {
            return true;
        }
        let joined;
        let data: &[u8] = if self.held.is_empty() {
            chunk
        } else {
            let mut j = std::mem::take(&mut self.held);
            j.extend_from_slice(chunk);
            joined = j;
            &joined
        };
        if let Some(at) = find(data, &self.mark) {
            out(&data[..at]);
            self.found = true;
            return true;
        }
        let keep = partial_suffix(data, &self.mark);
        out(&data[..data.len() - keep]);
        self.held = data[data.len() - keep..].to_vec();
        false
    }

    /// The stream ended (or the wait for the mark did): what was held back is output.
    pub(crate) fn flush(&mut self, mut out: impl FnMut(&[u8])) {
        if !self.held.is_empty() {
            out(&std::mem::take(&mut self.held));
        }
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        if hay.len() - at < needle.len() {
            return None;
        }
        from = at + 1;
    }
    None
}

/// The length of the longest end of `data` that is the start of `mark` (shorter than it).
fn partial_suffix(data: &[u8], mark: &[u8]) -> usize {
    let longest = data.len().min(mark.len() - 1);
    (1..=longest)
        .rev()
        .find(|&k| mark.starts_with(&data[data.len() - k..]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks`; what was output and whether the mark was found.
    fn run(token: &str, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut m = EndMark::new(token);
        let mut out = Vec::new();
        let mut found = false;
        for c in chunks {
            found = m.feed(c, |b| out.extend_from_slice(b));
        }
        if !found {
            m.flush(|b| out.extend_from_slice(b));
        }
        (out, found)
    }

    #[test]
    fn output_before_the_mark_is_passed_on_and_the_mark_and_the_rest_are_not() {
        let (out, found) = run("t1", &[b"abc\0attune-end t1\0late"]);
        assert_eq!(out, b"abc");
        assert!(found);
    }

    #[test]
    fn a_mark_split_over_chunks_is_found_at_every_cut() {
        let whole = b"some output\0\0attune-end tok\0";
        for cut in 0..=whole.len() {
            let (out, found) = run("tok", &[&whole[..cut], &whole[cut..]]);
            assert!(found, "cut at {cut}");
            assert_eq!(out, b"some output\0", "cut at {cut}");
        }
    }

    #[test]
    fn another_runs_mark_is_output_as_it_is() {
        let (out, found) = run("mine", &[b"x\0attune-end other\0y"]);
        assert!(!found);
        assert_eq!(out, b"x\0attune-end other\0y");
    }

    #[test]
    fn a_held_back_start_of_a_mark_is_output_when_the_stream_ends() {
        let (out, found) = run("tok", &[b"data\0attune-e"]);
        assert!(!found);
        assert_eq!(out, b"data\0attune-e");
    }
}
