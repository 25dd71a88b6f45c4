//! StackStorm-compatible criteria operators (`st2common/operators.py`).
//!
//! Semantics: no type coercion (`1` is not `"1"`, `true` is not `1`; integers
//! and floats compare numerically); a `null` pattern makes every operator
//! except `nequals`, `exists` and `nexists` false; an operand of the wrong
//! type is an error (the caller turns it into a failed criterion).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use regex::{Regex, RegexBuilder};
use serde_json::{Number, Value};

/// Size limit (bytes) for every compiled regex, so a hostile pattern cannot blow memory.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A rule-criteria operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `equals` / `eq`: value == pattern.
    Equals,
    /// `nequals` / `neq`: value != pattern (a null pattern is compared too).
    NEquals,
    /// `iequals` / `ieq`: strings equal after Unicode lowercasing.
    IEquals,
    /// `contains`: pattern is a substring of / member of the value.
    Contains,
    /// `ncontains`: negation of `contains`.
    NContains,
    /// `icontains`: case-insensitive substring.
    IContains,
    /// `incontains`: negation of `icontains`.
    INContains,
    /// `startswith`: string prefix.
    StartsWith,
    /// `istartswith`: case-insensitive string prefix.
    IStartsWith,
    /// `endswith`: string suffix.
    EndsWith,
    /// `iendswith`: case-insensitive string suffix.
    IEndsWith,
    /// `lessthan` / `lt`: number < number or string < string.
    LessThan,
    /// `greaterthan` / `gt`: number > number or string > string.
    GreaterThan,
    /// `matchwildcard`: whole-string fnmatch glob (`*`, `?`, `[seq]`, `[!seq]`).
    MatchWildcard,
    /// `regex`: the regex matches anywhere (Python `re.search`).
    Regex,
    /// `iregex`: case-insensitive `regex`.
    IRegex,
    /// `matchregex`: the regex matches at the start, `.` matching newlines (Python `re.match`, DOTALL).
    MatchRegex,
    /// `timediff_lt` / `td_lt`: seconds since the timestamp value < pattern.
    TimeDiffLt,
    /// `timediff_gt` / `td_gt`: seconds since the timestamp value > pattern.
    TimeDiffGt,
    /// `exists`: the value is present and not null.
    Exists,
    /// `nexists`: the value is missing or null.
    NExists,
    /// `inside` / `in`: the value is a substring of / member of the pattern.
    Inside,
    /// `ninside` / `nin`: negation of `inside`.
    NInside,
    /// `search`: child criteria over the items of a list (evaluated by `Criteria`).
    Search,
}

use Operator as Op;

impl Operator {
    /// Every operator, in StackStorm's order of documentation.
    #[rustfmt::skip]
    pub const ALL: [Operator; 24] = [
        Op::Equals, Op::NEquals, Op::IEquals, Op::Contains, Op::NContains, Op::IContains,
        Op::INContains, Op::StartsWith, Op::IStartsWith, Op::EndsWith, Op::IEndsWith,
        Op::LessThan, Op::GreaterThan, Op::MatchWildcard, Op::Regex, Op::IRegex,
        Op::MatchRegex, Op::TimeDiffLt, Op::TimeDiffGt, Op::Exists, Op::NExists,
        Op::Inside, Op::NInside, Op::Search,
    ];

    /// The canonical (StackStorm) name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Equals => "equals",
            Op::NEquals => "nequals",
            Op::IEquals => "iequals",
            Op::Contains => "contains",
            Op::NContains => "ncontains",
            Op::IContains => "icontains",
            Op::INContains => "incontains",
            Op::StartsWith => "startswith",
            Op::IStartsWith => "istartswith",
            Op::EndsWith => "endswith",
            Op::IEndsWith => "iendswith",
            Op::LessThan => "lessthan",
            Op::GreaterThan => "greaterthan",
            Op::MatchWildcard => "matchwildcard",
            Op::Regex => "regex",
            Op::IRegex => "iregex",
            Op::MatchRegex => "matchregex",
            Op::TimeDiffLt => "timediff_lt",
            Op::TimeDiffGt => "timediff_gt",
            Op::Exists => "exists",
            Op::NExists => "nexists",
            Op::Inside => "inside",
            Op::NInside => "ninside",
            Op::Search => "search",
        }
    }

    /// The short aliases accepted besides the canonical name.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Op::Equals => &["eq"],
            Op::NEquals => &["neq"],
            Op::IEquals => &["ieq"],
            Op::LessThan => &["lt"],
            Op::GreaterThan => &["gt"],
            Op::TimeDiffLt => &["td_lt"],
            Op::TimeDiffGt => &["td_gt"],
            Op::Inside => &["in"],
            Op::NInside => &["nin"],
            _ => &[],
        }
    }

    /// Resolves a name or alias, case-insensitively (as st2's `get_operator`).
    pub fn from_name(name: &str) -> Option<Operator> {
        let lower = name.to_lowercase();
        Self::ALL
            .into_iter()
            .find(|op| op.name() == lower || op.aliases().contains(&lower.as_str()))
    }

    /// The valid name or alias closest (by edit distance) to `name`.
    pub fn suggest(name: &str) -> &'static str {
        let lower = name.to_lowercase();
        let mut best = ("equals", usize::MAX);
        for op in Self::ALL {
            for candidate in std::iter::once(op.name()).chain(op.aliases().iter().copied()) {
                let distance = crate::text::edit_distance(&lower, candidate);
                if distance < best.1 {
                    best = (candidate, distance);
                }
            }
        }
        best.0
    }

    /// Whether the pattern is a regex (or a glob translated to one).
    pub fn uses_regex(self) -> bool {
        matches!(
            self,
            Op::MatchWildcard | Op::Regex | Op::IRegex | Op::MatchRegex
        )
    }

    /// Whether the operator looks at its pattern at all (`exists`/`nexists` do not).
    pub fn uses_pattern(self) -> bool {
        !matches!(self, Op::Exists | Op::NExists)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How `search` combines its child criteria over the list items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchCondition {
    /// Some item satisfies every child criterion.
    Any,
    /// Every item satisfies every child criterion (true for an empty list).
    All,
    /// Some item satisfies some child criterion.
    Any2Any,
    /// Every item satisfies some child criterion (true for an empty list).
    All2Any,
}

impl SearchCondition {
    /// Parses `any`, `all`, `any2any` or `all2any` (exact spelling, as st2).
    pub fn parse(name: &str) -> Result<SearchCondition, String> {
        match name {
            "any" => Ok(Self::Any),
            "all" => Ok(Self::All),
            "any2any" => Ok(Self::Any2Any),
            "all2any" => Ok(Self::All2Any),
            _ => Err(format!(
                "unrecognized search condition '{name}' (expected any, all, any2any or all2any)"
            )),
        }
    }

    /// The condition's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::All => "all",
            Self::Any2Any => "any2any",
            Self::All2Any => "all2any",
        }
    }
}

/// The JSON type of a looked-up value, for messages (`missing` when absent).
pub fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "missing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "list",
        Some(Value::Object(_)) => "object",
    }
}

/// Applies a non-`search` operator to a looked-up value (`None` = missing,
/// treated like null) and a pattern. `Err` means the operator raised; regex
/// operators compile `pattern` on each call (see [`compile_regex`] to do it once).
pub fn apply(
    op: Operator,
    value: Option<&Value>,
    pattern: &Value,
    now: DateTime<Utc>,
) -> Result<bool, String> {
    let null = Value::Null;
    let v = value.unwrap_or(&null);
    let null_pattern_is_false = !matches!(op, Op::NEquals | Op::Exists | Op::NExists | Op::Search);
    if null_pattern_is_false && pattern.is_null() {
        return Ok(false);
    }
    match op {
        Op::Equals => Ok(json_eq(v, pattern)),
        Op::NEquals => Ok(!json_eq(v, pattern)),
        Op::Exists => Ok(!v.is_null()),
        Op::NExists => Ok(v.is_null()),
        Op::Contains => py_in(pattern, v),
        Op::NContains => py_in(pattern, v).map(|found| !found),
        Op::Inside => py_in(v, pattern),
        Op::NInside => py_in(v, pattern).map(|found| !found),
        Op::IEquals => strings(op, v, pattern).map(|(a, b)| {
            if a.is_ascii() && b.is_ascii() {
                a.eq_ignore_ascii_case(b)
            } else {
                lower(a) == lower(b)
            }
        }),
        Op::IContains => strings(op, v, pattern).map(|(a, b)| lower(a).contains(&*lower(b))),
        Op::INContains => strings(op, v, pattern).map(|(a, b)| !lower(a).contains(&*lower(b))),
        Op::StartsWith => strings(op, v, pattern).map(|(a, b)| a.starts_with(b)),
        Op::IStartsWith => strings(op, v, pattern).map(|(a, b)| lower(a).starts_with(&*lower(b))),
        Op::EndsWith => strings(op, v, pattern).map(|(a, b)| a.ends_with(b)),
        Op::IEndsWith => strings(op, v, pattern).map(|(a, b)| lower(a).ends_with(&*lower(b))),
        Op::LessThan => compare(v, pattern).map(|o| o == Ordering::Less),
        Op::GreaterThan => compare(v, pattern).map(|o| o == Ordering::Greater),
        Op::TimeDiffLt => Ok(timediff(v, now)? < period_seconds(pattern)?),
        Op::TimeDiffGt => Ok(timediff(v, now)? > period_seconds(pattern)?),
        Op::MatchWildcard | Op::Regex | Op::IRegex | Op::MatchRegex => match pattern {
            Value::String(source) => apply_regex(op, value, &compile_regex(op, source)?),
            other => Err(format!(
                "'{op}' needs a string pattern, got {}",
                type_name(Some(other))
            )),
        },
        Op::Search => Err("'search' needs compiled child criteria (use Criteria)".to_string()),
    }
}

/// Compiles the pattern of a regex operator once: `regex` as is, `iregex`
/// case-insensitive, `matchregex` with `.` matching newlines, `matchwildcard`
/// translated from its glob. Size-limited by [`REGEX_SIZE_LIMIT`].
pub fn compile_regex(op: Operator, pattern: &str) -> Result<Regex, String> {
    let source = match op {
        Op::MatchWildcard => Cow::Owned(wildcard_to_regex(pattern)),
        Op::Regex | Op::IRegex | Op::MatchRegex => Cow::Borrowed(pattern),
        _ => return Err(format!("'{op}' does not take a regex")),
    };
    RegexBuilder::new(&source)
        .case_insensitive(op == Op::IRegex)
        .dot_matches_new_line(op == Op::MatchRegex)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Applies a regex operator with a regex built by [`compile_regex`] for the same operator.
pub fn apply_regex(op: Operator, value: Option<&Value>, regex: &Regex) -> Result<bool, String> {
    let Some(Value::String(text)) = value else {
        return Err(format!(
            "'{op}' needs a string value, got {}",
            type_name(value)
        ));
    };
    Ok(match op {
        // Leftmost-first: a match starting at 0 exists iff the leftmost match starts at 0.
        Op::MatchRegex => regex.find(text).is_some_and(|m| m.start() == 0),
        _ => regex.is_match(text),
    })
}

/// Translates an fnmatch glob to an anchored regex (as Python's `fnmatch.translate`).
pub fn wildcard_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from(r"(?s)\A(?:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => match glob_class(&chars, i) {
                Some((class, next)) => {
                    out.push_str(&class);
                    i = next;
                }
                None => out.push_str(r"\["),
            },
            _ => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push_str(r")\z");
    out
}

/// Translates the set starting after a `[` at `start`; `None` when unclosed.
fn glob_class(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut end = start;
    let negate = chars.get(end) == Some(&'!');
    if negate {
        end += 1;
    }
    let body_start = end;
    if chars.get(end) == Some(&']') {
        end += 1;
    }
    while chars.get(end).is_some_and(|&c| c != ']') {
        end += 1;
    }
    let body = chars.get(body_start..end).filter(|_| end < chars.len())?;
    let mut class = String::new();
    let mut k = 0;
    while k < body.len() {
        let lo = body[k];
        if k + 2 < body.len() && body[k + 1] == '-' {
            let hi = body[k + 2];
            k += 3;
            if lo <= hi {
                class.push_str(&regex::escape(lo.encode_utf8(&mut [0; 4])));
                class.push('-');
                class.push_str(&regex::escape(hi.encode_utf8(&mut [0; 4])));
            } // a reversed range matches nothing, as in Python
        } else {
            k += 1;
            class.push_str(&regex::escape(lo.encode_utf8(&mut [0; 4])));
        }
    }
    let translated = match (class.is_empty(), negate) {
        (true, true) => ".".to_string(),
        (true, false) => r"[^\x00-\x{10FFFF}]".to_string(),
        (false, true) => format!("[^{class}]"),
        (false, false) => format!("[{class}]"),
    };
    Some((translated, end + 1))
}

/// Equality without coercion: numbers compare numerically, booleans are not numbers.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, xv)| y.get(k).is_some_and(|yv| json_eq(xv, yv)))
        }
        _ => a == b,
    }
}

fn number_cmp(x: &Number, y: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(x), int(y)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}

/// Python `<`/`>`: numbers with numbers, strings with strings (by code point).
fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            number_cmp(x, y).ok_or_else(|| "numbers are not comparable".to_string())
        }
        (Value::String(x), Value::String(y)) => Ok(x.as_str().cmp(y.as_str())),
        _ => Err(format!(
            "cannot order {} against {}",
            type_name(Some(a)),
            type_name(Some(b))
        )),
    }
}

/// Python `needle in haystack`: substring of a string, member of a list (by
/// [`json_eq`]), key of an object.
fn py_in(needle: &Value, haystack: &Value) -> Result<bool, String> {
    match (haystack, needle) {
        (Value::String(h), Value::String(n)) => Ok(h.contains(n.as_str())),
        (Value::String(_), other) => Err(format!(
            "'in <string>' needs a string as left operand, not {}",
            type_name(Some(other))
        )),
        (Value::Array(items), _) => Ok(items.iter().any(|item| json_eq(item, needle))),
        (Value::Object(map), Value::String(n)) => Ok(map.contains_key(n)),
        (Value::Object(_), Value::Array(_) | Value::Object(_)) => {
            Err(format!("unhashable type: {}", type_name(Some(needle))))
        }
        (Value::Object(_), _) => Ok(false),
        (other, _) => Err(format!(
            "argument of type {} is not a container",
            type_name(Some(other))
        )),
    }
}

fn strings<'a>(
    op: Operator,
    value: &'a Value,
    pattern: &'a Value,
) -> Result<(&'a str, &'a str), String> {
    match (value, pattern) {
        (Value::String(v), Value::String(p)) => Ok((v, p)),
        _ => Err(format!(
            "'{op}' needs string operands, got value {} and pattern {}",
            type_name(Some(value)),
            type_name(Some(pattern))
        )),
    }
}

/// Full Unicode lowercasing (`str::to_lowercase`), borrowing when already lowercase ASCII.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Parses an ISO-8601 timestamp; one without an offset is taken as UTC.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

/// Seconds elapsed from the timestamp `value` to `now` (negative when in the future).
fn timediff(value: &Value, now: DateTime<Utc>) -> Result<f64, String> {
    let Value::String(text) = value else {
        return Err(format!(
            "timediff needs a timestamp string, got {}",
            type_name(Some(value))
        ));
    };
    let then =
        parse_timestamp(text).ok_or_else(|| format!("'{text}' is not an ISO-8601 timestamp"))?;
    let delta = now.signed_duration_since(then);
    Ok(delta.num_seconds() as f64 + f64::from(delta.subsec_nanos()) / 1e9)
}

fn period_seconds(pattern: &Value) -> Result<f64, String> {
    match pattern {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad number {n}")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("timediff pattern '{s}' is not a number of seconds")),
        other => Err(format!(
            "timediff pattern must be a number of seconds, got {}",
            type_name(Some(other))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn run(op: &str, value: Value, pattern: Value) -> Result<bool, String> {
        let op = Operator::from_name(op).ok_or_else(|| format!("no operator {op}"))?;
        apply(op, Some(&value), &pattern, now())
    }

    fn expect(op: &str, value: Value, pattern: Value, want: Option<bool>) {
        assert_eq!(
            run(op, value.clone(), pattern.clone()).ok(),
            want,
            "{op} {value} {pattern}"
        );
    }

    fn yes(op: &str, value: Value, pattern: Value) {
        expect(op, value, pattern, Some(true));
    }

    fn no(op: &str, value: Value, pattern: Value) {
        expect(op, value, pattern, Some(false));
    }

    fn err(op: &str, value: Value, pattern: Value) {
        expect(op, value, pattern, None);
    }

    #[test]
    fn names_aliases_and_suggestions() {
        assert_eq!(Operator::ALL.len(), 24);
        for op in Operator::ALL {
            assert_eq!(Operator::from_name(op.name()), Some(op));
            assert_eq!(Operator::from_name(&op.name().to_uppercase()), Some(op));
            for alias in op.aliases() {
                assert_eq!(Operator::from_name(alias), Some(op));
            }
        }
        assert_eq!(Operator::from_name("TD_LT"), Some(Op::TimeDiffLt));
        assert_eq!(Operator::from_name("weird"), None);
        assert_eq!(Operator::suggest("equal"), "equals");
        assert_eq!(Operator::suggest("matchregx"), "matchregex");
        assert_eq!(Operator::suggest("GreaterThen"), "greaterthan");
        assert_eq!(
            SearchCondition::parse("any2any"),
            Ok(SearchCondition::Any2Any)
        );
        assert!(SearchCondition::parse("ANY").is_err());
    }

    #[test]
    fn equality_has_no_coercion() {
        yes("equals", json!(1), json!(1.0));
        yes("eq", json!({"a": [1, "x"]}), json!({"a": [1.0, "x"]}));
        no("equals", json!(1), json!("1"));
        no("equals", json!(true), json!(1));
        no("equals", json!(0), json!(false));
        no("equals", Value::Null, Value::Null);
        yes("nequals", json!(true), json!(1));
        no("nequals", Value::Null, Value::Null);
        yes("neq", json!("x"), Value::Null);
        assert_eq!(apply(Op::Equals, None, &json!("a"), now()), Ok(false));
    }

    #[test]
    fn exists_tests_for_null_only() {
        for present in [json!(false), json!(0), json!(""), json!([])] {
            yes("exists", present.clone(), Value::Null);
            no("nexists", present, Value::Null);
        }
        no("exists", Value::Null, Value::Null);
        assert_eq!(apply(Op::Exists, None, &Value::Null, now()), Ok(false));
        assert_eq!(apply(Op::NExists, None, &Value::Null, now()), Ok(true));
    }

    #[test]
    fn string_and_list_containment() {
        yes("contains", json!("haystack needle"), json!("needle"));
        yes("contains", json!(["a", 1, true]), json!(1.0));
        no("contains", json!(["a", 1]), json!(true));
        yes("contains", json!({"k": 1}), json!("k"));
        err("contains", json!("123"), json!(1));
        err("contains", json!(5), json!("5"));
        yes("ncontains", json!(["a"]), json!("b"));
        yes("inside", json!("a"), json!("abc"));
        yes("in", json!(2), json!([1, 2]));
        yes("nin", json!("z"), json!(["a"]));
        err("inside", json!("a"), json!(3));
        yes("icontains", json!("Haystack NEEDLE"), json!("needle"));
        err("icontains", json!(["needle"]), json!("needle"));
        yes("incontains", json!("abc"), json!("X"));
        yes("startswith", json!("abc"), json!("ab"));
        no("startswith", json!("abc"), json!("AB"));
        yes("istartswith", json!("abc"), json!("AB"));
        yes("endswith", json!("abc"), json!("bc"));
        yes("iendswith", json!("abC"), json!("Bc"));
        err("startswith", json!(["a"]), json!("a"));
        err("endswith", Value::Null, json!("a"));
    }

    #[test]
    fn unicode_lowercasing() {
        // Final sigma: str::to_lowercase gives "σας", as Python's str.lower().
        yes("iequals", json!("ΣΑΣ"), json!("σας"));
        yes("ieq", json!("ÄPFEL"), json!("äpfel"));
        yes(
            "icontains",
            json!("GROẞE Straße"),
            json!("STRASSE".to_lowercase().replace("ss", "ß")),
        );
        yes("istartswith", json!("ÉCOLE"), json!("éc"));
        no("iequals", json!("STRASSE"), json!("straße"));
        err("iequals", json!(1), json!("1"));
    }

    #[test]
    fn ordering_numbers_and_strings() {
        yes("lt", json!(1), json!(1.5));
        yes("gt", json!(u64::MAX), json!(-1));
        yes("lessthan", json!("a"), json!("b"));
        no("lt", json!(1), Value::Null);
        err("lt", json!(1), json!("2"));
        err("gt", json!(true), json!(0));
        err("gt", Value::Null, json!(0));
        assert!(apply(Op::GreaterThan, None, &json!(1), now()).is_err());
    }

    #[test]
    fn regex_family() {
        yes("regex", json!("apple ponies"), json!("(ponies|unicorns)"));
        no("regex", json!("PONIES"), json!("ponies"));
        yes("iregex", json!("PONIES"), json!("^ponies$"));
        yes("matchregex", json!("a\nbar"), json!(".*bar"));
        no("matchregex", json!("xab"), json!("ab"));
        yes("matchregex", json!("abc"), json!("x*"));
        err("regex", json!(1), json!("1"));
        err("regex", json!("a"), json!(1));
        err("regex", json!("a"), json!("("));
        let huge = format!("{}{{1000}}", "\\w{1000}");
        assert!(compile_regex(Op::Regex, &huge).is_err(), "size limit");
    }

    #[test]
    fn wildcard_globs() {
        yes("matchwildcard", json!("test foo test"), json!("*foo*"));
        no("matchwildcard", json!("test foo test"), json!("foo"));
        yes("matchwildcard", json!("b\nr"), json!("b?r"));
        yes("matchwildcard", json!("a.c"), json!("a.c"));
        no("matchwildcard", json!("abc"), json!("a.c"));
        yes("matchwildcard", json!("file1"), json!("file[0-9]"));
        no("matchwildcard", json!("filex"), json!("file[0-9]"));
        yes("matchwildcard", json!("filex"), json!("file[!0-9]"));
        yes("matchwildcard", json!("a]"), json!("a[]]"));
        yes("matchwildcard", json!("a-"), json!("a[a-]"));
        yes("matchwildcard", json!("[x"), json!("[x"));
        yes("matchwildcard", json!("a^"), json!("a[\\^]"));
        no("matchwildcard", json!("ab"), json!("a[z-b]"));
        yes("matchwildcard", json!("ab"), json!("a[!z-b]"));
        no("matchwildcard", json!("ABC"), json!("abc"));
        err("matchwildcard", json!(1), json!("*"));
        assert_eq!(wildcard_to_regex("a**b?"), r"(?s)\A(?:a.*b.)\z");
    }

    #[test]
    fn timediff_seconds() {
        yes("timediff_lt", json!("2026-01-01T11:59:55+00:00"), json!(10));
        yes("td_lt", json!("2026-01-01T11:59:55"), json!("10"));
        yes("td_gt", json!("2026-01-01 13:59:55+02:00"), json!(1.5));
        yes("td_gt", json!("2026-01-01T11:59:50.5Z"), json!(9));
        yes("td_lt", json!("2027-01-01"), json!(0));
        no("td_gt", json!("2026-01-01T12:00:00Z"), Value::Null);
        err("td_lt", json!("yesterday"), json!(10));
        err("td_lt", json!(12345), json!(10));
        err("td_lt", json!("2026-01-01T12:00:00Z"), json!("ten"));
        err("td_lt", json!("2026-01-01T12:00:00Z"), json!([10]));
        assert_eq!(
            parse_timestamp("2014-07-01T00:01:01.000000").map(|t| t.to_rfc3339()),
            Some("2014-07-01T00:01:01+00:00".to_string())
        );
    }

    #[test]
    fn search_is_not_applied_here() {
        assert!(apply(Op::Search, Some(&json!([])), &json!({}), now()).is_err());
    }
}
