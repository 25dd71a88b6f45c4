//! Bounded YAML parsing into JSON values with the line and column of every key and item.

use super::problem::Pos;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;

/// Where each node of a document starts, by key path ([`child`], [`item`]).
///
/// Paths are kept as 64-bit hashes, not as text: a node's path is as long as its depth, so
/// keeping the text would cost memory quadratic in the nesting of a document. (Two paths
/// with one hash would only mislocate a problem.)
#[derive(Debug, Default, Clone)]
pub(crate) struct Locations(HashMap<u64, Pos>);

/// The key of `path` in [`Locations`] (SipHash with fixed keys: the same in every run).
fn path_key(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

impl Locations {
    /// Whether `path` itself has a position (not only an ancestor).
    pub(crate) fn has(&self, path: &str) -> bool {
        self.0.contains_key(&path_key(path))
    }

    /// The position of `path`, or of its nearest ancestor that has one (a missing key is
    /// reported where its parent is).
    pub(crate) fn find(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.0.get(&path_key(p)) {
                return *pos;
            }
            match parent(p) {
                Some(up) => p = up,
                None => {
                    return self
                        .0
                        .get(&path_key(""))
                        .copied()
                        .unwrap_or(Pos { line: 1, column: 1 });
                }
            }
        }
    }
}

/// A parsed YAML document: its value, where each part of it is, and how many nodes it has.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub value: Value,
    pub locs: Locations,
    /// Mappings, lists and scalars (aliases expanded).
    pub nodes: usize,
}

/// Why a document did not parse, and where.
#[derive(Debug, Clone)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// How deep mappings and lists may nest in one YAML document (pack files, config files,
/// workflow files). Deeper documents are an error naming the file, the line and this limit.
/// Real packs nest about ten levels deep.
pub const YAML_MAX_DEPTH: usize = 64;

/// How many nodes (mappings, lists and scalars, aliases expanded) one YAML document may hold.
pub const YAML_MAX_NODES: usize = 250_000;

/// The stack of the thread each YAML document is parsed on. serde-saphyr's deserializer
/// recurses once per nesting level with large frames (about 45 KiB a level in a debug build,
/// a few KiB in release), so parsing [`YAML_MAX_DEPTH`] levels would not fit the 2 MiB stack
/// of a spawned thread or a tokio worker in a debug build: the parse and its conversion to
/// JSON run on a thread of their own with this stack (reserved, not committed, until used),
/// whatever thread reads the pack. What they return is at most [`YAML_MAX_DEPTH`] deep, which
/// the shallow walks after parsing handle on any stack.
pub const YAML_PARSE_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Runs `f` on a thread with a [`YAML_PARSE_STACK_BYTES`] stack and returns its value; an
/// error when no such thread can be started.
pub(crate) fn on_parse_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("attune-yaml".into())
            .stack_size(YAML_PARSE_STACK_BYTES)
            .spawn_scoped(scope, f)
            .map_err(|e| format!("cannot start the YAML parsing thread: {e}"))?;
        handle
            .join()
            .map_err(|_| "the YAML parser panicked".to_string())
    })
}

/// The serde-saphyr options of every document: YAML 1.2 booleans, [`YAML_MAX_DEPTH`], at most
/// `max_nodes` nodes, and serde-saphyr's alias budgets.
fn options(max_nodes: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = YAML_MAX_DEPTH;
    budget.max_nodes = max_nodes;
    serde_saphyr::options! { with_snippet: false, strict_booleans: true, budget: Some(budget) }
}

/// Deserializes a YAML document into `T` with the budgets of [`parse`], on the parsing thread
/// ([`on_parse_thread`]); for files read into typed structures (rehearsal files). The error
/// starts with the line and column when there is one.
pub(crate) fn from_str<T: serde::de::DeserializeOwned + Send>(text: &str) -> Result<T, String> {
    on_parse_thread(|| {
        serde_saphyr::from_str_with_options(text, options(YAML_MAX_NODES)).map_err(|e| {
            let message = describe(&e, YAML_MAX_NODES).1;
            match e.location() {
                Some(l) => format!("line {} column {}: {message}", l.line(), l.column()),
                None => message,
            }
        })
    })?
}

/// Parses one YAML document with alias, depth and node budgets (an alias bomb is an error,
/// not an allocation). Duplicate keys are errors. Booleans are YAML 1.2's `true`/`false`
/// only (`n`, `no`, `off` stay strings; [`Fields::boolean`](super::fields::Fields::boolean)
/// still accepts `yes`/`no`/`on`/`off` where a key wants a boolean, as PyYAML packs write).
pub(crate) fn parse(text: &str) -> Result<Doc, YamlError> {
    parse_within(text, YAML_MAX_NODES).map_err(|e| e.error)
}

/// Why [`parse_within`] failed: the error, and whether the node budget it was given ran out.
#[derive(Debug)]
pub(crate) struct ParseFailure {
    pub error: YamlError,
    pub out_of_nodes: bool,
}

/// [`parse`] with at most `max_nodes` nodes (at most [`YAML_MAX_NODES`]); the document's node
/// count is [`Doc::nodes`].
pub(crate) fn parse_within(text: &str, max_nodes: usize) -> Result<Doc, ParseFailure> {
    let max_nodes = max_nodes.min(YAML_MAX_NODES);
    let parsed = on_parse_thread(|| {
        let node: Spanned<Node> = serde_saphyr::from_str_with_options(text, options(max_nodes))
            .map_err(|e| {
                let pos = e
                    .location()
                    .map(|l| Pos {
                        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                        column: u32::try_from(l.column()).unwrap_or(u32::MAX),
                    })
                    .unwrap_or(Pos { line: 1, column: 1 });
                let (out_of_nodes, message) = describe(&e, max_nodes);
                ParseFailure {
                    error: YamlError { pos, message },
                    out_of_nodes,
                }
            })?;
        let mut locs = Locations::default();
        let mut nodes = 0;
        let value =
            convert(node, String::new(), &mut locs, &mut nodes).map_err(|error| ParseFailure {
                error,
                out_of_nodes: false,
            })?;
        Ok(Doc { value, locs, nodes })
    });
    parsed.unwrap_or_else(|message| {
        Err(ParseFailure {
            error: YamlError {
                pos: Pos { line: 1, column: 1 },
                message,
            },
            out_of_nodes: false,
        })
    })
}

/// The message of a serde-saphyr error (the limit named for depth and node breaches), and
/// whether it is the node budget (of `max_nodes`) that ran out.
fn describe(e: &serde_saphyr::Error, max_nodes: usize) -> (bool, String) {
    use serde_saphyr::budget::BudgetBreach;
    match e.without_snippet() {
        serde_saphyr::Error::Budget {
            breach: BudgetBreach::Depth { depth },
            ..
        } => (
            false,
            format!(
                "mappings and lists nest {depth} levels deep here; the limit is \
                 {YAML_MAX_DEPTH} levels"
            ),
        ),
        serde_saphyr::Error::Budget {
            breach: BudgetBreach::Nodes { .. },
            ..
        } => (
            true,
            format!("the document has more than {max_nodes} nodes (mappings, lists, scalars)"),
        ),
        other => {
            let message = strip_location(&other.to_string());
            // The parser's own nesting bound (flow collections), met before the budget's.
            if message.contains("recursion limit exceeded") {
                return (
                    false,
                    format!(
                        "mappings and lists nest too deep here; the limit is {YAML_MAX_DEPTH} \
                         levels"
                    ),
                );
            }
            // The parser's hint names a setting of the parser, which means nothing to a
            // pack's author: say what to do instead.
            if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
                let key = rest.split(',').next().unwrap_or(rest).trim();
                return (
                    false,
                    format!("duplicate key '{key}' (a mapping may hold each key once; keep one)"),
                );
            }
            (false, message)
        }
    }
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

fn convert(
    node: Spanned<Node>,
    path: String,
    locs: &mut Locations,
    nodes: &mut usize,
) -> Result<Value, YamlError> {
    *nodes += 1;
    let pos = pos_of(&node);
    locs.0.entry(path_key(&path)).or_insert(pos);
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
                .map(|(i, n)| convert(n, item(&path, i), locs, nodes))
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
                *nodes += 1;
                let p = child(&path, &key);
                locs.0.insert(path_key(&p), kpos);
                // The entry keeps its key's position (`or_insert` in `convert`).
                let value = convert(v, p, locs, nodes)?;
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
