//! Masking secret values in output: the forms an action is likely to print a secret in
//! ([`secret_forms`]), and replacing them in text ([`mask_secrets`]) and in JSON values
//! ([`mask_value`]).
//!
//! Any non-empty secret is masked, however short (a one-character secret masks that
//! character everywhere): the engine cannot tell which occurrences are the secret.

use super::REDACTED;
use serde_json::Value;

/// URL-encoding styles as `(bytes kept besides ASCII letters and digits, space as '+')`.
const URL_STYLES: [(&str, bool); 5] = [
    // RFC 3986 unreserved (Python `quote(s, safe='')`, Rust's `urlencoding`).
    ("-._~", false),
    // Python `quote(s)`: `/` kept by default.
    ("-._~/", false),
    // JavaScript `encodeURIComponent`.
    ("-._~!*'()", false),
    // Python `quote_plus`, Go `url.QueryEscape`.
    ("-._~", true),
    // HTML forms (WHATWG `application/x-www-form-urlencoded`), Java `URLEncoder`.
    ("-._*", true),
];

const BASE64_STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every form of `secret` to mask, without duplicates, the text itself first:
///
/// - JSON-escaped as it appears inside a JSON string: `"`, `\` and control characters
///   escaped, non-ASCII characters kept (serde_json, JavaScript, Python's
///   `ensure_ascii=False`) or written as `\uXXXX` with surrogate pairs past U+FFFF (Python's
///   `json.dumps` default), hex digits in lower and in upper case;
/// - URL-encoded (percent-encoding of the UTF-8 bytes, hex digits in upper and in lower
///   case) as the common encoders write it: RFC 3986 (space as `%20`), with `/` kept
///   (Python's `quote`), JavaScript's `encodeURIComponent`, and form encoding (space as `+`:
///   Python's `quote_plus`, Go's `QueryEscape`, HTML forms);
/// - base64 of the UTF-8 bytes, standard and URL-safe alphabets, with and without padding.
///
/// Forms that equal the text (a plain ASCII word is its own JSON and URL form) appear once.
/// An empty secret has no forms.
pub fn secret_forms(secret: &str) -> Vec<String> {
    if secret.is_empty() {
        return Vec::new();
    }
    let mut forms = vec![secret.to_string()];
    let mut add = |form: String| {
        if !forms.contains(&form) {
            forms.push(form);
        }
    };
    for ascii_only in [true, false] {
        for upper in [false, true] {
            add(json_escaped(secret, ascii_only, upper));
        }
    }
    for (keep, plus) in URL_STYLES {
        for upper in [true, false] {
            add(url_encoded(secret, keep, plus, upper));
        }
    }
    for alphabet in [BASE64_STANDARD, BASE64_URL_SAFE] {
        let padded = base64(secret.as_bytes(), alphabet);
        add(padded.trim_end_matches('=').to_string());
        add(padded);
    }
    forms
}

/// `s` escaped as inside a JSON string; non-ASCII as `\uXXXX` when `ascii_only`; `upper`
/// hex digits.
fn json_escaped(s: &str, ascii_only: bool, upper: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' || (ascii_only && c > '~') => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if upper {
                        out.push_str(&format!("\\u{unit:04X}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` percent-encoded: ASCII letters, digits and the bytes of `keep` stay, a space is `+`
/// when `plus`, every other byte is `%XX` (`upper` hex digits).
fn url_encoded(s: &str, keep: &str, plus: bool, upper: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && plus {
            out.push('+');
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// `bytes` in base64 with `alphabet`, padded with `=`.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Masks every secret inside the string values of `value` (recursively), in place; a
/// non-string value (number, boolean, list, object) whose JSON text is a secret value is
/// replaced by [`REDACTED`] as a whole.
pub fn mask_value(value: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    if !value.is_string() && !value.is_null() {
        let text = value.to_string();
        if secrets.contains(&text) {
            *value = Value::String(REDACTED.to_owned());
            return;
        }
    }
    match value {
        Value::String(s) => {
            let masked = mask_secrets(s, secrets);
            if masked != *s {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_value(v, secrets)),
        _ => {}
    }
}

/// Replaces every occurrence of each secret in `text` with [`REDACTED`] (longest first; the
/// inserted marker is never masked again). `secrets` are matched as given: pass the forms of
/// [`secret_forms`] (as [`ParamSchema::secret_values`](super::ParamSchema::secret_values)
/// gives them) to mask the encodings too.
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if sorted.is_empty() {
        return text.to_owned();
    }
    sorted.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    sorted.dedup();
    // Only positions holding the first byte of some secret are tried.
    let mut starts = [false; 256];
    for s in &sorted {
        starts[usize::from(s.as_bytes()[0])] = true;
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if starts[usize::from(bytes[i])]
            && let Some(s) = sorted.iter().find(|s| bytes[i..].starts_with(s.as_bytes()))
        {
            // A secret starts with a character's first byte, so `i` is a char boundary.
            out.push_str(&text[copied..i]);
            out.push_str(REDACTED);
            i += s.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether a stored value holds the redaction marker anywhere (a masked secret).
pub(crate) fn holds_redacted(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(REDACTED),
        Value::Array(items) => items.iter().any(holds_redacted),
        Value::Object(m) => m.values().any(holds_redacted),
        _ => false,
    }
}
