//! Rewrites of template source before minijinja compiles it.
//!
//! - **Python `%` formatting** (`'%s' % x`, `'%s-%d' % (a, n)`, `'%(k)s' % d`), which
//!   StackStorm's Jinja templates use and minijinja has no operator for, becomes the `format`
//!   filter (`('%s'|format(x))`). Only a string literal on the left of `%` is rewritten: a
//!   variable there is `%` of numbers, as before.
//! - **Expressions as JSON** ([`json_expressions`]): every `{{ expr }}` written as the JSON of
//!   its value, for criteria patterns that render to a JSON text (StackStorm's `to_complex`).
//!
//! The scanner knows the tags (`{{ }}`, `{% %}`, `{# #}`, `{% raw %}`), string literals and
//! bracket nesting; anything it cannot follow (an unterminated tag) is left as written, for
//! the compiler to report. Rewrites add no line breaks, so line numbers in errors still hold.

use std::borrow::Cow;

/// The kind of a tag whose inside a rewrite sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    /// `{{ … }}`
    Expression,
    /// `{% … %}`
    Statement,
}

/// Rewrites Python `%` string formatting in every tag of `source` into the `format` filter.
pub(crate) fn percent_format(source: &str) -> Cow<'_, str> {
    if !source.contains('%') {
        return Cow::Borrowed(source);
    }
    map_tags(source, |_, inner| percent_in_expression(inner))
}

/// `source` with every `{{ expr }}` written as `{{ (expr) | <filter> }}` (its value as JSON).
pub(crate) fn json_expressions<'a>(source: &'a str, filter: &str) -> Cow<'a, str> {
    map_tags(source, |tag, inner| {
        (tag == Tag::Expression && !inner.trim().is_empty())
            .then(|| format!(" ({inner}) | {filter} "))
    })
}

/// Calls `f` with the inside of each `{{ }}` and `{% %}` tag (without delimiters and
/// whitespace-control marks); where it returns text, that text replaces the inside.
fn map_tags<'a>(source: &'a str, mut f: impl FnMut(Tag, &str) -> Option<String>) -> Cow<'a, str> {
    let b = source.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // source[..copied] is in `out` (when it exists)
    let mut i = 0;
    while i + 1 < b.len() {
        let (tag, close) = match (b[i], b[i + 1]) {
            (b'{', b'{') => (Tag::Expression, b'}'),
            (b'{', b'%') => (Tag::Statement, b'%'),
            (b'{', b'#') => match source[i + 2..].find("#}") {
                Some(end) => {
                    i += 2 + end + 2;
                    continue;
                }
                None => break,
            },
            _ => {
                i += 1;
                continue;
            }
        };
        let mut start = i + 2;
        if matches!(b.get(start), Some(b'-' | b'+')) {
            start += 1;
        }
        let Some(end) = tag_end(b, start, close) else {
            break;
        };
        // `end` is at the closing delimiter; a whitespace-control mark sits before it.
        let inner_end = if end > start && matches!(b[end - 1], b'-' | b'+') {
            end - 1
        } else {
            end
        };
        let inner = &source[start..inner_end];
        if tag == Tag::Statement && inner.trim() == "raw" {
            // Copy verbatim through `{% endraw %}`.
            match find_endraw(source, end + 2) {
                Some(after) => {
                    i = after;
                    continue;
                }
                None => break,
            }
        }
        if let Some(new) = f(tag, inner) {
            let o = out.get_or_insert_with(|| String::with_capacity(source.len() + 32));
            o.push_str(&source[copied..start]);
            o.push_str(&new);
            copied = inner_end;
        }
        i = end + 2;
    }
    match out {
        None => Cow::Borrowed(source),
        Some(mut o) => {
            o.push_str(&source[copied..]);
            Cow::Owned(o)
        }
    }
}

/// The index of the closing `}}` / `%}` of a tag whose inside starts at `from`, skipping
/// string literals and brackets.
fn tag_end(b: &[u8], from: usize, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => i = string_end(b, i)?,
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            c if c == close && b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The index just past `{% endraw %}` (any whitespace and marks inside the tag).
fn find_endraw(source: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rel) = source[at..].find("{%") {
        let start = at + rel;
        let end = start + 2 + source[start + 2..].find("%}")?;
        let word = source[start + 2..end]
            .trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+');
        if word == "endraw" {
            return Some(end + 2);
        }
        at = end + 2;
    }
    None
}

/// The index just past the string literal starting (at its quote) at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Rewrites `'literal' % operand` inside one tag; `None` when there is none.
fn percent_in_expression(expr: &str) -> Option<String> {
    let b = expr.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'\'' | b'"') {
            i += 1;
            continue;
        }
        let literal_start = i;
        // A tag's strings are terminated (its end was found past them).
        let literal_end = string_end(b, i)?;
        i = literal_end;
        let op = skip_space(b, literal_end);
        if b.get(op) != Some(&b'%') || matches!(b.get(op + 1), Some(b'}')) {
            continue;
        }
        let operand_start = skip_space(b, op + 1);
        let Some(operand_end) = operand_end(b, operand_start) else {
            continue;
        };
        let operand = &expr[operand_start..operand_end];
        // A parenthesised operand is Python's tuple of arguments: `(a, b)` → `format(a, b)`.
        let args = match operand.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            Some(inner) if balanced(b, operand_start) == Some(operand_end) => inner,
            _ => operand,
        };
        let args = percent_in_expression(args).map_or(Cow::Borrowed(args), Cow::Owned);
        let o = out.get_or_insert_with(|| String::with_capacity(expr.len() + 16));
        o.push_str(&expr[copied..literal_start]);
        o.push('(');
        o.push_str(&expr[literal_start..literal_end]);
        o.push_str("|format(");
        // Line breaks around `%` are kept (inside the call), so line numbers still hold.
        for _ in expr[literal_end..operand_start].matches('\n') {
            o.push('\n');
        }
        o.push_str(&args);
        o.push_str("))");
        copied = operand_end;
        i = operand_end;
    }
    out.map(|mut o| {
        o.push_str(&expr[copied..]);
        o
    })
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The index just past the bracketed group opening at `start`.
fn balanced(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                i = string_end(b, i)?;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The end of the right operand of `%` starting at `start`: a primary (name, number,
/// string, bracketed group, unary minus) followed by attributes, subscripts, calls and
/// filters, which all bind tighter than `%` in Jinja.
fn operand_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = match *b.get(start)? {
        b'-' => return operand_end(b, skip_space(b, start + 1)),
        b'(' | b'[' | b'{' => balanced(b, start)?,
        b'\'' | b'"' => string_end(b, start)?,
        c if is_name_byte(c) => {
            let mut j = start;
            while j < b.len() && (is_name_byte(b[j]) || (b[j] == b'.' && c.is_ascii_digit())) {
                j += 1;
            }
            j
        }
        _ => return None,
    };
    loop {
        match b.get(i) {
            Some(b'.') if b.get(i + 1).is_some_and(|&c| is_name_byte(c)) => {
                i += 1;
                while i < b.len() && is_name_byte(b[i]) {
                    i += 1;
                }
            }
            Some(b'[' | b'(') => i = balanced(b, i)?,
            _ => {
                let bar = skip_space(b, i);
                if b.get(bar) != Some(&b'|') {
                    return Some(i);
                }
                let name = skip_space(b, bar + 1);
                let mut j = name;
                while j < b.len() && is_name_byte(b[j]) {
                    j += 1;
                }
                if j == name {
                    return Some(i);
                }
                i = j;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_becomes_the_format_filter() {
        let cases = [
            ("{{ '%s' % x }}", "{{ ('%s'|format(x)) }}"),
            (
                "{{'%s' % trigger.p1 if trigger.int}}",
                "{{('%s'|format(trigger.p1)) if trigger.int}}",
            ),
            ("{{ \"%s-%d\" % (a, n) }}", "{{ (\"%s-%d\"|format(a, n)) }}"),
            (
                "{{ '%s' % x.y[0]|upper ~ '!' }}",
                "{{ ('%s'|format(x.y[0]|upper)) ~ '!' }}",
            ),
            (
                "{{ '%(k)s' % {'k': 1} }}",
                "{{ ('%(k)s'|format({'k': 1})) }}",
            ),
            (
                "{{ '%s' % ('%d' % n) }}",
                "{{ ('%s'|format(('%d'|format(n)))) }}",
            ),
            ("{{ '%d' % -n }}", "{{ ('%d'|format(-n)) }}"),
            (
                "{{ '%s' % f(a, b)|join(',') }}",
                "{{ ('%s'|format(f(a, b)|join(','))) }}",
            ),
            (
                "a {% set v = '%s!' % x %}{{ v }}",
                "a {% set v = ('%s!'|format(x)) %}{{ v }}",
            ),
            ("{{- '%s' % x -}}", "{{- ('%s'|format(x)) -}}"),
            ("{{ '%s'\n  % x }}", "{{ ('%s'|format(\nx)) }}"),
        ];
        for (source, want) in cases {
            assert_eq!(percent_format(source), want, "{source}");
        }
    }

    #[test]
    fn what_is_not_percent_formatting_is_left_alone() {
        for source in [
            "{{ n % 2 }}",
            "{% if x == '50%' %}y{% endif %}",
            "{{ '100%' }}",
            "50% of {{ x }}",
            "{# '%s' % x #}{{ x }}",
            "{% raw %}{{ '%s' % x }}{% endraw %}",
            "{{ '%s' % x ",
            "{{ {'a': {'b': '%'}} }}",
        ] {
            assert!(
                matches!(percent_format(source), Cow::Borrowed(_)),
                "{source}"
            );
        }
    }

    /// Random sources from template-ish pieces (seeded: `ATTUNE_REWRITE_SEED` replays one):
    /// the rewrites never panic, keep every line break, and a second pass changes nothing.
    #[test]
    fn random_sources_never_panic_and_rewrite_once() {
        const PIECES: &[&str] = &[
            "{{", "}}", "{%", "%}", "{#", "#}", "{{-", "-}}", "'", "\"", "%", "(", ")", "[", "]",
            "{", "}", "|", ".", "-", " ", "\n", "x", "n", "'%s'", "\"%d\"", ",", "raw", "endraw",
            "\\", "é", "upper", "2", ":",
        ];
        let seed: u64 = std::env::var("ATTUNE_REWRITE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_1234_abcd_0001);
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..20_000 {
            let len = (next() % 24) as usize;
            let source: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let lines = source.matches('\n').count();
            let once = percent_format(&source).into_owned();
            assert_eq!(
                once.matches('\n').count(),
                lines,
                "case {case} (seed {seed}): {source:?}"
            );
            assert_eq!(
                percent_format(&once),
                once,
                "case {case} (seed {seed}): {source:?}"
            );
            let json = json_expressions(&source, "j");
            assert_eq!(
                json.matches('\n').count(),
                lines,
                "case {case} (seed {seed}): {source:?}"
            );
        }
    }

    #[test]
    fn expressions_as_json() {
        assert_eq!(
            json_expressions(
                "[{% for i in l %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}]",
                "j"
            ),
            "[{% for i in l %}{{ ( i ) | j }}{% if not loop.last %},{% endif %}{% endfor %}]"
        );
        assert_eq!(
            json_expressions("pre{{- x -}}post", "j"),
            "pre{{- ( x ) | j -}}post"
        );
        assert_eq!(
            json_expressions("{% if a %}b{% endif %}", "j"),
            "{% if a %}b{% endif %}"
        );
    }
}
