//! Reading one YAML mapping key by key: typed access, alternative key names for the two pack
//! shapes, and "unknown key" problems with the nearest valid key as a hint.

use super::problem::{Problem, Report};
use super::yaml::{Locations, child};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A parsed file: its name (relative to the pack) and where each key path is in it.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub file: String,
    pub locs: Arc<Locations>,
}

impl Source {
    /// A problem at `path` (or at its nearest located ancestor).
    pub(crate) fn problem(&self, path: &str, message: impl Into<String>) -> Problem {
        let pos = self.locs.find(path);
        Problem {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: message.into(),
            hint: None,
        }
    }

    /// A problem with a hint.
    pub(crate) fn hinted(
        &self,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Problem {
        Problem {
            hint,
            ..self.problem(path, message)
        }
    }
}

/// A value read from a mapping, with its key path.
#[derive(Debug, Clone)]
pub(crate) struct Field<T> {
    pub path: String,
    pub value: T,
}

/// A mapping being read; every key asked for (or accepted) is known, the rest are reported
/// by [`Fields::finish`].
pub(crate) struct Fields<'a> {
    pub src: &'a Source,
    pub path: String,
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
}

/// `"a string"`, `"an integer"`... for type errors.
pub(crate) fn a_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl<'a> Fields<'a> {
    /// Reads `value` at `path` as a mapping; a problem and `None` when it is not one.
    pub(crate) fn new(
        src: &'a Source,
        path: &str,
        value: &'a Value,
        r: &mut Report,
    ) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Fields {
                src,
                path: path.to_string(),
                map,
                known: Vec::new(),
            }),
            other => {
                r.push(src.problem(path, format!("must be a mapping, got {}", a_type(other))));
                None
            }
        }
    }

    /// The path of `key` in this mapping.
    pub(crate) fn at(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// Marks `keys` as valid without reading them (keys of the other shape, or informative
    /// keys Attune does not use).
    pub(crate) fn accept(&mut self, keys: &[&'static str]) {
        self.known.extend_from_slice(keys);
    }

    /// The first of `keys` present with a non-null value.
    pub(crate) fn any(&mut self, keys: &[&'static str]) -> Option<Field<&'a Value>> {
        self.accept(keys);
        keys.iter().find_map(|k| match self.map.get(*k) {
            None | Some(Value::Null) => None,
            Some(v) => Some(Field {
                path: self.at(k),
                value: v,
            }),
        })
    }

    fn typed<T>(
        &mut self,
        r: &mut Report,
        keys: &[&'static str],
        what: &str,
        get: impl Fn(&'a Value) -> Option<T>,
    ) -> Option<Field<T>> {
        let f = self.any(keys)?;
        match get(f.value) {
            Some(value) => Some(Field {
                path: f.path,
                value,
            }),
            None => {
                let msg = format!("must be {what}, got {}", a_type(f.value));
                r.push(self.src.problem(&f.path, msg));
                None
            }
        }
    }

    /// A string.
    pub(crate) fn string(
        &mut self,
        r: &mut Report,
        keys: &[&'static str],
    ) -> Option<Field<String>> {
        self.typed(r, keys, "a string", |v| v.as_str().map(str::to_string))
    }

    /// A string that must be present.
    pub(crate) fn required_string(
        &mut self,
        r: &mut Report,
        keys: &[&'static str],
    ) -> Option<Field<String>> {
        let present = keys
            .iter()
            .any(|k| !matches!(self.map.get(*k), None | Some(Value::Null)));
        if !present {
            let names: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
            let msg = format!("missing required key {}", names.join(" or "));
            r.push(self.src.problem(&self.path, msg));
            return None;
        }
        self.string(r, keys)
    }

    /// The definition's name (the first of `keys` present, required), and a check that a
    /// `pack` key, when given, names the pack the file is in.
    pub(crate) fn name_in_pack(
        &mut self,
        r: &mut Report,
        keys: &[&'static str],
        pack: &str,
    ) -> Option<Field<String>> {
        let name = self.required_string(r, keys);
        if let Some(p) = self.string(r, &["pack"])
            && p.value != pack
        {
            let msg = format!("names pack '{}' but the file is in pack '{pack}'", p.value);
            r.push(self.src.problem(&p.path, msg));
        }
        name
    }

    /// A boolean (`yes`/`no`/`on`/`off` accepted as YAML 1.1 packs write them).
    pub(crate) fn boolean(&mut self, r: &mut Report, keys: &[&'static str]) -> Option<bool> {
        self.typed(r, keys, "true or false", |v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "on" => Some(true),
                "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        })
        .map(|f| f.value)
    }

    /// A number (integer or not).
    pub(crate) fn number(&mut self, r: &mut Report, keys: &[&'static str]) -> Option<Field<f64>> {
        self.typed(r, keys, "a number", Value::as_f64)
    }

    /// A mapping.
    pub(crate) fn mapping(
        &mut self,
        r: &mut Report,
        keys: &[&'static str],
    ) -> Option<Field<&'a Map<String, Value>>> {
        self.typed(r, keys, "a mapping", Value::as_object)
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, r: &mut Report, keys: &[&'static str]) -> Vec<String> {
        let Some(f) = self.typed(r, keys, "a list", Value::as_array) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, v) in f.value.iter().enumerate() {
            match v.as_str() {
                Some(s) => out.push(s.to_string()),
                None => {
                    let path = super::yaml::item(&f.path, i);
                    let msg = format!("must be a string, got {}", a_type(v));
                    r.push(self.src.problem(&path, msg));
                }
            }
        }
        out
    }

    /// Reports every key that was neither read nor accepted, with the nearest known key.
    pub(crate) fn finish(self, r: &mut Report) {
        for key in self.map.keys() {
            if self.known.contains(&key.as_str()) {
                continue;
            }
            let hint = crate::text::nearest(key, self.known.iter().copied())
                .map(|k| format!("did you mean '{k}'?"));
            let path = self.at(key);
            r.push(self.src.hinted(&path, format!("unknown key '{key}'"), hint));
        }
    }
}
