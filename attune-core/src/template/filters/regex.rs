//! Regex filters, with Python's `re` semantics: `regex_match` anchors at the start only,
//! `regex_search` anywhere, `regex_replace` takes Python's replacement syntax (`\1`,
//! `\g<1>`, `\g<name>`), `regex_substring` is `re.findall(...)[result_index]`.
//!
//! Patterns are fancy-regex, which reads Python's syntax including look-around and
//! back-references; `(?P<name>…)` groups work. A pattern fancy-regex cannot read is an error
//! naming the filter and the pattern.

use super::{Call, FilterResult, py_str};
use fancy_regex::{Captures, Regex, RegexBuilder};
use minijinja::Value as JValue;

/// How large one compiled pattern may grow (a pathological pattern is an error, not a
/// gigabyte).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How many steps a match may backtrack before it is an error (catastrophic backtracking).
const BACKTRACK_LIMIT: usize = 1_000_000;

/// Compiles the pattern of argument 1, case-insensitive when `ignorecase`.
fn compile(call: &Call, prefix: &str, ignorecase: bool) -> Result<Regex, minijinja::Error> {
    let pattern = call.str(1)?;
    let source = format!(
        "{}{prefix}(?:{pattern})",
        if ignorecase { "(?i)" } else { "" }
    );
    RegexBuilder::new(&source)
        .delegate_size_limit(REGEX_SIZE_LIMIT)
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
        .map_err(|e| call.error(format!("cannot compile the pattern '{pattern}': {e}")))
}

fn matched(call: &Call, re: &Regex, text: &str) -> Result<bool, minijinja::Error> {
    re.is_match(text)
        .map_err(|e| call.error(format!("cannot match: {e}")))
}

/// `regex_match(value, pattern, ignorecase=False)`: whether the pattern matches at the start.
pub(super) fn regex_match(call: &Call) -> FilterResult {
    let re = compile(call, "\\A", call.bool_or(2, false)?)?;
    Ok(JValue::from(matched(call, &re, &py_str(call.value()))?))
}

/// `regex_search(value, pattern, ignorecase=False)`: whether the pattern matches anywhere.
pub(super) fn regex_search(call: &Call) -> FilterResult {
    let re = compile(call, "", call.bool_or(2, false)?)?;
    Ok(JValue::from(matched(call, &re, &py_str(call.value()))?))
}

/// `regex_replace(value, pattern, replacement, ignorecase=False)`: every match replaced.
pub(super) fn regex_replace(call: &Call) -> FilterResult {
    let re = compile(call, "", call.bool_or(3, false)?)?;
    let replacement = call.str(2)?;
    let text = py_str(call.value());
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in re.captures_iter(text.as_str()) {
        let caps = caps.map_err(|e| call.error(format!("cannot match: {e}")))?;
        let whole = caps.get(0).expect("group 0 is the match");
        out.push_str(&text[last..whole.start()]);
        expand(call, replacement, &re, &caps, &mut out)?;
        last = whole.end();
    }
    out.push_str(&text[last..]);
    Ok(JValue::from(out))
}

/// Python's expansion of a replacement template.
fn expand(
    call: &Call,
    template: &str,
    re: &Regex,
    caps: &Captures<'_, str>,
    out: &mut String,
) -> Result<(), minijinja::Error> {
    let group = |out: &mut String, i: usize| -> Result<(), minijinja::Error> {
        if i >= re.captures_len() {
            return Err(call.error(format!("refers to group {i}, which the pattern lacks")));
        }
        if let Some(m) = caps.get(i) {
            out.push_str(m.as_str());
        }
        Ok(())
    };
    let mut chars = template.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((at, e)) = chars.next() else {
            return Err(call.error("has a replacement ending in a lone '\\'"));
        };
        match e {
            'g' => {
                let rest = &template[at + 1..];
                let name = rest
                    .strip_prefix('<')
                    .and_then(|r| r.split_once('>'))
                    .map(|(n, _)| n)
                    .ok_or_else(|| call.error("has '\\g' without '<name>' in its replacement"))?;
                for _ in 0..name.chars().count() + 2 {
                    chars.next();
                }
                match name.parse::<usize>() {
                    Ok(i) => group(out, i)?,
                    Err(_) => {
                        if !re.capture_names().any(|n| n == Some(name)) {
                            return Err(call.error(format!(
                                "refers to group '{name}', which the pattern lacks"
                            )));
                        }
                        if let Some(m) = caps.name(name) {
                            out.push_str(m.as_str());
                        }
                    }
                }
            }
            '1'..='9' => {
                let mut n = e.to_digit(10).unwrap_or(0) as usize;
                if let Some((_, d)) = chars.peek().copied()
                    && let Some(d) = d.to_digit(10)
                {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                group(out, n)?;
            }
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            '0' => out.push('\0'),
            c if c.is_ascii_alphabetic() => {
                return Err(call.error(format!("has a bad escape '\\{c}' in its replacement")));
            }
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    Ok(())
}

/// `regex_substring(value, pattern, result_index=0, ignorecase=False)`: the match number
/// `result_index` of `re.findall` (the whole match without groups, the group with one, the
/// list of groups with several); an error when there is no such match.
pub(super) fn regex_substring(call: &Call) -> FilterResult {
    let re = compile(call, "", call.bool_or(3, false)?)?;
    let index = call.int_opt(2)?.unwrap_or(0);
    let text = py_str(call.value());
    let groups = re.captures_len() - 1;
    let mut found = Vec::new();
    for caps in re.captures_iter(text.as_str()) {
        let caps = caps.map_err(|e| call.error(format!("cannot match: {e}")))?;
        let text_of = |i: usize| caps.get(i).map_or("", |m| m.as_str()).to_string();
        found.push(match groups {
            0 => JValue::from(text_of(0)),
            1 => JValue::from(text_of(1)),
            n => JValue::from((1..=n).map(text_of).collect::<Vec<_>>()),
        });
    }
    let at = if index < 0 {
        found.len() as i64 + index
    } else {
        index
    };
    usize::try_from(at)
        .ok()
        .and_then(|i| found.get(i).cloned())
        .ok_or_else(|| {
            call.error(format!(
                "found no match number {index}: list index out of range ({} match{})",
                found.len(),
                if found.len() == 1 { "" } else { "es" }
            ))
        })
}
