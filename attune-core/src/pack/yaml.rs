//! Bounded YAML parsing into JSON values with the line and column of every key and item.

use super::problem::Pos;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;

/// Where each node of a document starts, by key path ([`child`], [`item`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Locations(HashMap<String, Pos>);

impl Locations {
    /// The position of `path`, or of its nearest ancestor that has one (a missing key is
    /// reported where its parent is).
    pub fn find(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.0.get(p) {
                return *pos;
            }
            match parent(p) {
                Some(up) => p = up,
                None => {
                    return self
                        .0
                        .get("")
                        .copied()
                        .unwrap_or(Pos { line: 1, column: 1 });
                }
            }
        }
    }
}

/// A parsed YAML document: its value and where each part of it is.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub value: Value,
    pub locs: Locations,
}

/// Why a document did not parse, and where.
#[derive(Debug, Clone)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document with alias, depth and node budgets (an alias bomb is an error,
/// not an allocation). Duplicate keys are errors. Booleans are YAML 1.2's `true`/`false`
/// only (`n`, `no`, `off` stay strings; [`Fields::boolean`](super::fields::Fields::boolean)
/// still accepts `yes`/`no`/`on`/`off` where a key wants a boolean, as PyYAML packs write).
pub(crate) fn parse(text: &str) -> Result<Doc, YamlError> {
    let options = serde_saphyr::options! { with_snippet: false, strict_booleans: true };
    let node: Spanned<Node> = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                column: u32::try_from(l.column()).unwrap_or(u32::MAX),
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        YamlError {
            pos,
            message: strip_location(&e.to_string()),
        }
    })?;
    let mut locs = Locations::default();
    let value = convert(node, String::new(), &mut locs)?;
    Ok(Doc { value, locs })
}

/// `error: line 3 column 5: message` → `message` (the position is reported separately).
fn strip_location(message: &str) -> String {
    let m = message.trim();
    let m = m.strip_prefix("error: ").unwrap_or(m);
    let m = match m.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => m,
    };
    m.lines().next().unwrap_or(m).trim().to_string()
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    let l = &s.referenced;
    Pos {
        line: u32::try_from(l.line()).unwrap_or(u32::MAX).max(1),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
    }
}

fn convert(node: Spanned<Node>, path: String, locs: &mut Locations) -> Result<Value, YamlError> {
    let pos = pos_of(&node);
    locs.0.entry(path.clone()).or_insert(pos);
    Ok(match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::from(i),
        Node::UInt(u) => Value::from(u),
        Node::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(YamlError {
                    pos,
                    message: format!("{path}: {f} is not a finite number"),
                });
            }
        },
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, n)| convert(n, item(&path, i), locs))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let kpos = pos_of(&k);
                let key = match k.value {
                    Node::Str(s) => s,
                    Node::Null => "null".to_string(),
                    Node::Bool(b) => b.to_string(),
                    Node::Int(i) => i.to_string(),
                    Node::UInt(u) => u.to_string(),
                    Node::Float(f) => f.to_string(),
                    Node::Seq(_) | Node::Map(_) => {
                        return Err(YamlError {
                            pos: kpos,
                            message: "a mapping key must be a scalar".into(),
                        });
                    }
                };
                let p = child(&path, &key);
                locs.0.insert(p.clone(), kpos);
                // The entry keeps its key's position (`or_insert` in `convert`).
                let value = convert(v, p, locs)?;
                map.insert(key, value);
            }
            Value::Object(map)
        }
    })
}

/// The path of `key` under `parent`: `a.b`, or `a['x.y']` when the key is not a plain word.
pub(crate) fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}['{}']", key.replace('\'', "\\'")),
    }
}

/// The path of item `i` under `parent`: `a[3]`.
pub(crate) fn item(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The parent of a path built by [`child`] and [`item`]; `None` for the root.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        // `a[3]` or `a['x.y']`: cut at the matching `[` (quoted keys may hold `[`).
        let cut = match path.strip_suffix("']") {
            Some(head) => head.rfind("['"),
            None => path.rfind('['),
        };
        return Some(cut.map_or("", |i| &path[..i]));
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

/// One YAML node as serde-saphyr reports it.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(Node::UInt)
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(x) = seq.next_element()? {
            out.push(x);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = map.next_entry()? {
            out.push(entry);
        }
        Ok(Node::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_positions() {
        let doc = parse("a: 1\nb:\n  - x\n  - {c: 2.5, 'd.e': null}\n").unwrap();
        assert_eq!(
            doc.value,
            serde_json::json!({"a": 1, "b": ["x", {"c": 2.5, "d.e": null}]})
        );
        assert_eq!(doc.locs.find("b"), Pos { line: 2, column: 1 });
        assert_eq!(doc.locs.find("b[1].c"), Pos { line: 4, column: 6 });
        assert_eq!(
            doc.locs.find("b[1]['d.e']"),
            Pos {
                line: 4,
                column: 14
            }
        );
        // A missing key is reported at its nearest ancestor.
        assert_eq!(doc.locs.find("b[1].zzz"), Pos { line: 4, column: 5 });
        // YAML 1.1 spellings are not booleans.
        let doc = parse(
            "n: no
y: on
t: true
",
        )
        .unwrap();
        assert_eq!(
            doc.value,
            serde_json::json!({"n": "no", "y": "on", "t": true})
        );
    }

    #[test]
    fn paths() {
        assert_eq!(child("", "a"), "a");
        assert_eq!(child("a", "b"), "a.b");
        assert_eq!(child("a", "x.y"), "a['x.y']");
        assert_eq!(item("a", 2), "a[2]");
        assert_eq!(parent("a['x.y']"), Some("a"));
        assert_eq!(parent("a[2]"), Some("a"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }

    #[test]
    fn errors_carry_positions() {
        let e = parse("a: [1,\nb: 2\n").unwrap_err();
        assert_eq!(e.pos.line, 1);
        assert!(e.message.contains("bracket"), "{}", e.message);
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, column: 1 });
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            text.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("budget"), "{}", e.message);
    }
}
