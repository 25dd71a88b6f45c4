//! Field paths used as rule-criteria keys, and the scopes they are looked up in.
//!
//! A path such as `trigger.body.items[0]['X-Key']#2` is parsed once into
//! segments: dotted keys, `[N]` indexes and `['key']` / `["key"]` quoted keys
//! (which may contain dots). Everything from the first `#` outside brackets
//! and quotes is a suffix that only makes the criterion key unique (so one
//! field can be tested twice); it is kept but ignored by the lookup.

use std::fmt;

use serde_json::{Map, Value};

/// The name under which [`ItemScope`] exposes the list element of a `search`.
pub(super) const ITEM_NAME: &str = "item";

/// A set of named root values; the first segment of a path selects one of them.
pub trait Scope {
    /// Returns the root value bound to `name`, if any.
    fn get(&self, name: &str) -> Option<&Value>;
}

impl Scope for Map<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        Map::get(self, name)
    }
}

impl Scope for Value {
    /// An object's members are its roots; any other value has none.
    fn get(&self, name: &str) -> Option<&Value> {
        self.as_object().and_then(|map| map.get(name))
    }
}

/// A scope exposing one list element under the name `item` (used by `search`).
#[derive(Debug, Clone, Copy)]
pub(super) struct ItemScope<'a> {
    /// The list element bound to `item`.
    pub item: &'a Value,
}

impl Scope for ItemScope<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        (name == ITEM_NAME).then_some(self.item)
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member, written `.key`, `['key']` or `["key"]`.
    Key(String),
    /// A list index, written `[N]`.
    Index(usize),
}

/// A malformed field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path '{path}' at position {position}: {message}")]
pub struct PathError {
    /// The path as written.
    pub path: String,
    /// Character position (0-based) where the problem was found.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed field path; the first segment is always a key naming a scope root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    raw: String,
    segments: Vec<Segment>,
    suffix: Option<String>,
}

impl FieldPath {
    /// Parses a path such as `trigger.items[0]['a.b']#2`.
    pub fn parse(raw: &str) -> Result<FieldPath, PathError> {
        Parser {
            raw,
            chars: raw.chars().collect(),
            pos: 0,
        }
        .run()
    }

    /// The path exactly as written, suffix included.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed segments (the suffix excluded).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The text after the first unquoted `#`, if there was one.
    pub fn suffix(&self) -> Option<&str> {
        self.suffix.as_deref()
    }

    /// Follows the path from `scope`; `None` when a segment is missing or a
    /// container has the wrong type.
    pub fn lookup<'s, S: Scope + ?Sized>(&self, scope: &'s S) -> Option<&'s Value> {
        let mut segments = self.segments.iter();
        let mut current = match segments.next()? {
            Segment::Key(name) => scope.get(name)?,
            Segment::Index(_) => return None,
        };
        for segment in segments {
            current = match (segment, current) {
                (Segment::Key(key), Value::Object(map)) => map.get(key)?,
                (Segment::Index(index), Value::Array(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

struct Parser<'a> {
    raw: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, position: usize, message: &str) -> PathError {
        PathError {
            path: self.raw.to_string(),
            position,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn run(mut self) -> Result<FieldPath, PathError> {
        let mut segments = Vec::new();
        let mut suffix = None;
        // The first segment is a name (bare or quoted), never an index.
        match self.peek() {
            Some('[') => match self.bracket()? {
                Segment::Index(_) => {
                    return Err(self.error(0, "a path must start with a name, not an index"));
                }
                key => segments.push(key),
            },
            _ => segments.push(self.bare_key()?),
        }
        while let Some(c) = self.peek() {
            match c {
                '.' => {
                    self.pos += 1;
                    segments.push(self.bare_key()?);
                }
                '[' => segments.push(self.bracket()?),
                '#' => {
                    suffix = Some(self.chars[self.pos + 1..].iter().collect());
                    break;
                }
                ']' => return Err(self.error(self.pos, "unexpected ']'")),
                _ => return Err(self.error(self.pos, "expected '.', '[' or '#' after ']'")),
            }
        }
        Ok(FieldPath {
            raw: self.raw.to_string(),
            segments,
            suffix,
        })
    }

    fn bare_key(&mut self) -> Result<Segment, PathError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, '.' | '[' | ']' | '#') {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error(start, "empty segment"));
        }
        Ok(Segment::Key(self.chars[start..self.pos].iter().collect()))
    }

    /// Parses `[N]`, `['key']` or `["key"]`; `self.pos` is at the `[`.
    fn bracket(&mut self) -> Result<Segment, PathError> {
        let open = self.pos;
        self.pos += 1;
        let segment = match self.peek() {
            None => return Err(self.error(open, "unclosed '['")),
            Some(quote @ ('\'' | '"')) => {
                self.pos += 1;
                let mut key = String::new();
                loop {
                    match self.peek() {
                        None => return Err(self.error(open, "unclosed quote")),
                        Some('\\') => {
                            self.pos += 1;
                            match self.peek() {
                                Some(escaped) => key.push(escaped),
                                None => return Err(self.error(open, "unclosed quote")),
                            }
                        }
                        Some(c) if c == quote => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => key.push(c),
                    }
                    self.pos += 1;
                }
                Segment::Key(key)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos].iter().collect();
                let index = digits
                    .parse::<usize>()
                    .map_err(|_| self.error(start, "index is too large"))?;
                Segment::Index(index)
            }
            Some(']') => return Err(self.error(self.pos, "empty brackets")),
            Some(_) => {
                return Err(
                    self.error(self.pos, "expected an index or a quoted key inside '[...]'")
                );
            }
        };
        match self.peek() {
            Some(']') => {
                self.pos += 1;
                Ok(segment)
            }
            None => Err(self.error(open, "unclosed '['")),
            Some(_) => Err(self.error(self.pos, "expected ']'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(s: &str) -> Segment {
        Segment::Key(s.to_string())
    }

    fn parse(s: &str) -> FieldPath {
        match FieldPath::parse(s) {
            Ok(path) => path,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn parse_err(s: &str) -> PathError {
        match FieldPath::parse(s) {
            Ok(path) => panic!("{s} parsed as {path:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_dotted_index_and_quoted_segments() {
        assert_eq!(
            parse("trigger.body.host").segments(),
            [key("trigger"), key("body"), key("host")]
        );
        assert_eq!(
            parse("payload.items[0].name").segments(),
            [key("payload"), key("items"), Segment::Index(0), key("name")]
        );
        assert_eq!(
            parse("trigger.headers['X-Key']").segments(),
            [key("trigger"), key("headers"), key("X-Key")]
        );
        assert_eq!(
            parse(r#"t["a.b#c"][12]"#).segments(),
            [key("t"), key("a.b#c"), Segment::Index(12)]
        );
        assert_eq!(parse(r"t['it\'s']").segments(), [key("t"), key("it's")]);
        assert_eq!(
            parse("['trigger'].x").segments(),
            [key("trigger"), key("x")]
        );
        assert_eq!(parse("t['']").segments(), [key("t"), key("")]);
    }

    #[test]
    fn strips_suffix_outside_brackets() {
        let path = parse("trigger.count#2");
        assert_eq!(path.segments(), [key("trigger"), key("count")]);
        assert_eq!(path.suffix(), Some("2"));
        assert_eq!(path.as_str(), "trigger.count#2");
        let path = parse("t['a#b']#x#y");
        assert_eq!(path.segments(), [key("t"), key("a#b")]);
        assert_eq!(path.suffix(), Some("x#y"));
        assert_eq!(parse("t[1]#").suffix(), Some(""));
        assert_eq!(parse("t").suffix(), None);
    }

    #[test]
    fn reports_malformed_paths_with_position() {
        let cases = [
            ("", 0, "empty segment"),
            ("a..b", 2, "empty segment"),
            (".a", 0, "empty segment"),
            ("a.", 2, "empty segment"),
            ("#2", 0, "empty segment"),
            ("a.#2", 2, "empty segment"),
            ("a[0", 1, "unclosed '['"),
            ("a[", 1, "unclosed '['"),
            ("a['x", 1, "unclosed quote"),
            ("a['x'", 1, "unclosed '['"),
            ("a[]", 2, "empty brackets"),
            ("a[x]", 2, "expected an index"),
            ("a[1x]", 3, "expected ']'"),
            ("a]", 1, "unexpected ']'"),
            ("a[0]b", 4, "expected '.', '['"),
            ("[0].a", 0, "must start with a name"),
            ("a[99999999999999999999999]", 2, "too large"),
        ];
        for (path, position, message) in cases {
            let err = parse_err(path);
            assert_eq!(err.position, position, "{path}: {err}");
            assert!(err.message.contains(message), "{path}: {err}");
            assert_eq!(err.path, path);
            assert!(err.to_string().contains(&format!("'{path}'")), "{err}");
        }
    }

    #[test]
    fn lookup_follows_segments_and_types() {
        let scope = json!({"trigger": {"a": {"b.c": [10, {"d": null}]}, "n": 1}});
        assert_eq!(
            parse("trigger.a['b.c'][0]").lookup(&scope),
            Some(&json!(10))
        );
        assert_eq!(
            parse("trigger.a['b.c'][1].d").lookup(&scope),
            Some(&Value::Null)
        );
        assert_eq!(parse("trigger.n#2").lookup(&scope), Some(&json!(1)));
        for missing in [
            "trigger.a['b.c'][2]",
            "trigger.n.x",
            "trigger.a[0]",
            "trigger.a.b.c",
            "other",
            "trigger.z",
        ] {
            assert_eq!(parse(missing).lookup(&scope), None, "{missing}");
        }
        let map = scope.as_object().cloned().unwrap_or_default();
        assert_eq!(parse("trigger.n").lookup(&map), Some(&json!(1)));
        assert_eq!(parse("trigger").lookup(&json!([1])), None);
        let item = json!({"x": 5});
        let item_scope = ItemScope { item: &item };
        assert_eq!(parse("item.x#1").lookup(&item_scope), Some(&json!(5)));
        assert_eq!(parse("trigger.x").lookup(&item_scope), None);
        let dyn_scope: &dyn Scope = &item_scope;
        assert_eq!(parse("item").lookup(dyn_scope), Some(&item));
    }
}
