//! What the fuzz targets share: the input bound and the split of one input into parts.

/// Inputs longer than this are skipped (the engine bounds its own inputs well below what
/// a fuzzer explores usefully).
pub const MAX_INPUT: usize = 64 * 1024;

/// The input as UTF-8 text within [`MAX_INPUT`], or `None`.
pub fn text(data: &[u8]) -> Option<&str> {
    if data.len() > MAX_INPUT {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// The input's text split at the first NUL byte: `(before, after)`; `after` is empty when
/// there is no NUL. Targets taking two texts (e.g. criteria and a payload) read them so.
pub fn two_texts(data: &[u8]) -> Option<(&str, &str)> {
    let t = text(data)?;
    Some(t.split_once('\0').unwrap_or((t, "")))
}

/// The input's text split at every NUL byte, at most `n` parts.
pub fn parts(data: &[u8], n: usize) -> Option<Vec<&str>> {
    Some(text(data)?.splitn(n, '\0').collect())
}
