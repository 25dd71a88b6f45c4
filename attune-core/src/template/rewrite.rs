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
use std::cell::Cell;

/// The kind of a tag whose inside a rewrite sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    /// `{{ … }}`
    Expression,
    /// `{% … %}`
    Statement,
}

/// Rewrites Python `%` string formatting in every tag of `source` into the `format` filter;
/// an error when it nests deeper than [`PERCENT_FORMAT_MAX_DEPTH`].
pub(crate) fn percent_format(source: &str) -> Result<Cow<'_, str>, String> {
    if !source.contains('%') {
        return Ok(Cow::Borrowed(source));
    }
    let too_deep = Cell::new(false);
    let out = map_tags(source, |_, inner| percent_at_depth(inner, 0, &too_deep));
    if too_deep.get() {
        return Err(format!(
            "Python '%' formatting nests deeper than {PERCENT_FORMAT_MAX_DEPTH} levels \
             (a '%' inside the operand of another)"
        ));
    }
    Ok(out)
}

/// `source` with every `{{ expr }}` written as `{{ (expr) | <filter> }}` (its value as JSON).
pub(crate) fn json_expressions<'a>(source: &'a str, filter: &str) -> Cow<'a, str> {
    map_tags(source, |tag, inner| {
        (tag == Tag::Expression && !inner.trim().is_empty())
            .then(|| format!(" ({inner}) | {filter} "))
    })
}

/// The first statement of `source` that would load another template (`include`, `import`,
/// `from`, `extends`), by its keyword. The engine's templates are registered under
/// generated names in one environment, so loading one by name would reach another rule's
/// template; StackStorm's templates have no loader either.
pub(crate) fn loading_statement(source: &str) -> Option<&'static str> {
    let mut found = None;
    let _ = map_tags(source, |tag, inner| {
        if tag == Tag::Statement && found.is_none() {
            let word = inner.split_whitespace().next().unwrap_or_default();
            found = ["include", "import", "from", "extends"]
                .into_iter()
                .find(|k| *k == word);
        }
        None
    });
    found
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

/// The index just past the `{% endraw %}` tag after `from` (as minijinja reads it: `{%`,
/// an optional whitespace mark, spaces, `endraw`, spaces, an optional mark, `%}`).
fn find_endraw(source: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rel) = source[at..].find("{%") {
        let start = at + rel;
        let rest = &source[start + 2..];
        let rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
        if let Some(rest) = rest.trim_start().strip_prefix("endraw") {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
            if rest.starts_with("%}") {
                return Some(source.len() - rest.len() + 2);
            }
        }
        at = start + 2;
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

/// How deep Python `%` formatting may nest inside its own operands (`'%s' % ('%s' % x)` is
/// 2): deeper is an error naming the template. It bounds the rewrite's recursion (one frame
/// per level) and keeps the rewritten source within minijinja's parser limit; real templates
/// nest one or two.
pub const PERCENT_FORMAT_MAX_DEPTH: usize = 32;

/// Rewrites `'literal' % operand` inside one tag (`depth` levels inside other operands);
/// `None` when there is none, or when they nest too deep (`too_deep` set).
fn percent_at_depth(expr: &str, depth: usize, too_deep: &Cell<bool>) -> Option<String> {
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
        // A tag's strings are terminated (its end was found past them); adjacent literals
        // are one string, as in Python.
        let literal_end = literal_run_end(b, i)?;
        i = literal_end;
        let op = skip_space(b, literal_end);
        if b.get(op) != Some(&b'%') || matches!(b.get(op + 1), Some(b'}')) {
            continue;
        }
        let operand_start = skip_space(b, op + 1);
        let Some(operand_end) = operand_end(b, operand_start) else {
            continue;
        };
        if depth >= PERCENT_FORMAT_MAX_DEPTH {
            too_deep.set(true);
            return None;
        }
        let operand = &expr[operand_start..operand_end];
        // A parenthesised operand is Python's tuple of arguments: `(a, b)` → `format(a, b)`.
        let args = match operand.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            Some(inner) if balanced(b, operand_start) == Some(operand_end) => inner,
            _ => operand,
        };
        let args =
            percent_at_depth(args, depth + 1, too_deep).map_or(Cow::Borrowed(args), Cow::Owned);
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

/// The end of the string literal at `start` and of any literals right after it (Python
/// joins `'a' 'b'`).
fn literal_run_end(b: &[u8], start: usize) -> Option<usize> {
    let mut end = string_end(b, start)?;
    loop {
        let next = skip_space(b, end);
        if !matches!(b.get(next), Some(b'\'' | b'"')) {
            return Some(end);
        }
        end = string_end(b, next)?;
    }
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

/// The end of the right operand of `%` starting at `start`: unary minus or plus, a primary
/// (name, number, string, bracketed group) followed by attributes, subscripts, calls,
/// filters and tests (`is [not] name`), and a power (`** operand`): all bind tighter than
/// `%` in Jinja.
fn operand_end(b: &[u8], start: usize) -> Option<usize> {
    let mut start = start;
    'power: loop {
        while matches!(b.get(start), Some(b'-' | b'+')) {
            start = skip_space(b, start + 1);
        }
        let mut i = match *b.get(start)? {
            b'(' | b'[' | b'{' => balanced(b, start)?,
            b'\'' | b'"' => literal_run_end(b, start)?,
            c if c.is_ascii_digit() => number_end(b, start),
            c if is_name_byte(c) => name_end(b, start),
            _ => return None,
        };
        loop {
            match b.get(i) {
                Some(b'.') if b.get(i + 1).is_some_and(|&c| is_name_byte(c)) => {
                    i = name_end(b, i + 1);
                }
                Some(b'[' | b'(') => i = balanced(b, i)?,
                _ => {
                    let next = skip_space(b, i);
                    let after = match b.get(next) {
                        Some(b'|') if b.get(next + 1) != Some(&b'|') => {
                            Some(skip_space(b, next + 1))
                        }
                        _ if word_at(b, next, b"is") => {
                            let name = skip_space(b, next + 2);
                            Some(if word_at(b, name, b"not") {
                                skip_space(b, name + 3)
                            } else {
                                name
                            })
                        }
                        _ => None,
                    };
                    if let Some(name) = after {
                        let j = name_end(b, name);
                        if j == name {
                            return Some(i);
                        }
                        i = j;
                    } else if b[next..].starts_with(b"**") {
                        // Right-associative and tighter than `%`: `'%s' % 2 ** 3` is "8".
                        start = skip_space(b, next + 2);
                        continue 'power;
                    } else {
                        return Some(i);
                    }
                }
            }
        }
    }
}

/// Whether the keyword `word` (not the start of a longer name) is at `i`.
fn word_at(b: &[u8], i: usize, word: &[u8]) -> bool {
    b[i..].starts_with(word) && !b.get(i + word.len()).is_some_and(|&c| is_name_byte(c))
}

/// The end of the name starting at `start`.
fn name_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_name_byte(b[i]) {
        i += 1;
    }
    i
}

/// The end of the number starting at `start` (`12`, `1_000`, `1.5`, `1e-3`, `2.5E+4`).
fn number_end(b: &[u8], start: usize) -> usize {
    let digits = |mut i: usize| {
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = digits(j);
        }
    }
    i
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
            (
                "{{ '%s' % 2 ** 3 ** 2 }}",
                "{{ ('%s'|format(2 ** 3 ** 2)) }}",
            ),
            (
                "{{ '%s' % x is not defined }}",
                "{{ ('%s'|format(x is not defined)) }}",
            ),
            ("{{ '%.3f' % 1e-3 }}", "{{ ('%.3f'|format(1e-3)) }}"),
            (
                "{{ 'a=%s ' 'b=%d' % (x, n) }}",
                "{{ ('a=%s ' 'b=%d'|format(x, n)) }}",
            ),
            ("{{ '%s' % 'a' 'b' }}", "{{ ('%s'|format('a' 'b')) }}"),
            (
                "{% raw %}{%}{% endraw %}{{ '%s' % x }}",
                "{% raw %}{%}{% endraw %}{{ ('%s'|format(x)) }}",
            ),
        ];
        for (source, want) in cases {
            assert_eq!(percent_format(source).unwrap(), want, "{source}");
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
            "{%- raw +%}{{ '%s' % x }}{%+ endraw -%}",
            "{% raw %}{% - endraw %}{{ '%s' % x }}{% endraw %}",
            "{{ '%s' % x ",
            "{{ {'a': {'b': '%'}} }}",
        ] {
            assert!(
                matches!(percent_format(source), Ok(Cow::Borrowed(_))),
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
            "\\", "é", "upper", "2", ":", " is ", "not ", "**", "1e-3", "+",
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
            let once = percent_format(&source).unwrap().into_owned();
            assert_eq!(
                once.matches('\n').count(),
                lines,
                "case {case} (seed {seed}): {source:?}"
            );
            assert_eq!(
                percent_format(&once).unwrap(),
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
    fn deep_nesting_is_bounded() {
        // 20,000 levels of `'%s' % (`: no stack overflow, an error past the limit.
        let n = 20_000;
        let source = format!("{{{{ {}x{} }}}}", "'%s' % (".repeat(n), ")".repeat(n));
        let e = percent_format(&source).unwrap_err();
        assert!(e.contains("nests deeper than 32 levels"), "{e}");
        let power = format!("{{{{ '%s' % 2{} }}}}", " ** 2".repeat(n));
        assert!(percent_format(&power).unwrap().ends_with(")) }}"));
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
