//! StackStorm's Jinja filters (what st2's `get_filters()` registers), written from st2's
//! documented behaviour, one file per area: `data` (JSON, YAML, `use_none`), `jsonpath`,
//! `regex`, `time`, `version`, `path`, `datastore` (`decrypt_kv`). Python's `json.dumps` and
//! PyYAML's `safe_dump` output are in `pyjson` and `pyyaml`.
//!
//! Every filter is also a global function (`{{ to_json_string(x) }}`), as Orquesta registers
//! them, with Orquesta's aliases `json_dump`, `json_parse`, `yaml_dump`, `yaml_parse`.
//!
//! Arguments bind as Python binds them: positionally, then by keyword
//! (`to_json_string(indent=2)`). A wrong count, an unknown keyword or a value of the wrong
//! type is an error naming the filter, the argument and the signature it expects.

mod data;
mod datastore;
mod jsonpath;
mod path;
mod pyjson;
mod pyyaml;
mod regex;
mod time;
mod version;

pub use data::USE_NONE_MAGIC;

use minijinja::value::{Kwargs, Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, Value as JValue};

/// What a filter returns.
pub(crate) type FilterResult = Result<JValue, Error>;

/// One filter: its name, its parameters (`name` or `name=default` for an optional one, the
/// default written as Python writes it) and its body.
struct Filter {
    name: &'static str,
    params: &'static [&'static str],
    body: fn(&Call) -> FilterResult,
}

/// The filters, in the order st2 lists them.
const FILTERS: &[Filter] = &[
    Filter {
        name: "decrypt_kv",
        params: &["value"],
        body: datastore::decrypt_kv,
    },
    Filter {
        name: "from_json_string",
        params: &["value"],
        body: data::from_json_string,
    },
    Filter {
        name: "from_yaml_string",
        params: &["value"],
        body: data::from_yaml_string,
    },
    Filter {
        name: "json_escape",
        params: &["value"],
        body: data::json_escape,
    },
    Filter {
        name: "jsonpath_query",
        params: &["value", "query"],
        body: jsonpath::jsonpath_query,
    },
    Filter {
        name: "to_complex",
        params: &["value"],
        body: data::to_complex,
    },
    Filter {
        name: "to_json_string",
        params: &[
            "value",
            "indent=None",
            "sort_keys=False",
            "separators=(',', ': ')",
        ],
        body: data::to_json_string,
    },
    Filter {
        name: "to_yaml_string",
        params: &["value", "indent=None", "allow_unicode=True"],
        body: data::to_yaml_string,
    },
    Filter {
        name: "regex_match",
        params: &["value", "pattern", "ignorecase=False"],
        body: regex::regex_match,
    },
    Filter {
        name: "regex_replace",
        params: &["value", "pattern", "replacement", "ignorecase=False"],
        body: regex::regex_replace,
    },
    Filter {
        name: "regex_search",
        params: &["value", "pattern", "ignorecase=False"],
        body: regex::regex_search,
    },
    Filter {
        name: "regex_substring",
        params: &["value", "pattern", "result_index=0", "ignorecase=False"],
        body: regex::regex_substring,
    },
    Filter {
        name: "to_human_time_from_seconds",
        params: &["seconds"],
        body: time::to_human_time_from_seconds,
    },
    Filter {
        name: "version_compare",
        params: &["value", "pattern"],
        body: version::version_compare,
    },
    Filter {
        name: "version_more_than",
        params: &["value", "pattern"],
        body: version::version_more_than,
    },
    Filter {
        name: "version_less_than",
        params: &["value", "pattern"],
        body: version::version_less_than,
    },
    Filter {
        name: "version_equal",
        params: &["value", "pattern"],
        body: version::version_equal,
    },
    Filter {
        name: "version_match",
        params: &["value", "pattern"],
        body: version::version_match,
    },
    Filter {
        name: "version_bump_major",
        params: &["value"],
        body: version::version_bump_major,
    },
    Filter {
        name: "version_bump_minor",
        params: &["value"],
        body: version::version_bump_minor,
    },
    Filter {
        name: "version_bump_patch",
        params: &["value"],
        body: version::version_bump_patch,
    },
    Filter {
        name: "version_strip_patch",
        params: &["value"],
        body: version::version_strip_patch,
    },
    Filter {
        name: "use_none",
        params: &["value"],
        body: data::use_none,
    },
    Filter {
        name: "basename",
        params: &["path"],
        body: path::basename,
    },
    Filter {
        name: "dirname",
        params: &["path"],
        body: path::dirname,
    },
];

/// Orquesta's other names of four filters (functions only).
const ALIASES: &[(&str, &str)] = &[
    ("json_dump", "to_json_string"),
    ("json_parse", "from_json_string"),
    ("yaml_dump", "to_yaml_string"),
    ("yaml_parse", "from_yaml_string"),
];

/// The names of StackStorm's filters (each also a global function).
pub fn st2_filter_names() -> impl Iterator<Item = &'static str> {
    FILTERS.iter().map(|f| f.name)
}

/// The names of StackStorm's functions: every filter and its aliases (`json_dump`, …).
pub(crate) fn st2_function_names() -> impl Iterator<Item = &'static str> {
    st2_filter_names().chain(ALIASES.iter().map(|(alias, _)| *alias))
}

/// Adds every filter to `env`, as a filter and as a global function.
pub(super) fn register(env: &mut Environment<'static>) {
    for f in FILTERS {
        env.add_filter(f.name, bound(f, f.name));
        env.add_function(f.name, bound(f, f.name));
    }
    for (alias, target) in ALIASES {
        if let Some(f) = FILTERS.iter().find(|f| f.name == *target) {
            env.add_function(*alias, bound(f, alias));
        }
    }
    // `decrypt_kv` reads the engine's key from the context (see `template/keyring.rs`).
    env.add_filter("decrypt_kv", crate::template::keyring::decrypt_kv);
    env.add_function("decrypt_kv", crate::template::keyring::decrypt_kv);
}

/// The callable of `f`, its errors naming `shown` (the name it was called by).
fn bound(
    f: &'static Filter,
    shown: &'static str,
) -> impl Fn(Rest<ValueOrKwargs>) -> FilterResult + Send + Sync + 'static {
    move |args: Rest<ValueOrKwargs>| {
        let call = Call::bind(f, shown, args.into_values())?;
        (f.body)(&call)
    }
}

/// The arguments of one call, bound to the filter's parameters.
pub(crate) struct Call {
    name: &'static str,
    params: &'static [&'static str],
    args: Vec<Option<JValue>>,
}

impl Call {
    fn bind(f: &'static Filter, name: &'static str, values: Vec<JValue>) -> Result<Call, Error> {
        let mut call = Call {
            name,
            params: f.params,
            args: vec![None; f.params.len()],
        };
        let mut positional = Vec::new();
        let mut kwargs = None;
        for v in values {
            if v.is_kwargs() {
                kwargs = Some(Kwargs::try_from(v)?);
            } else {
                positional.push(v);
            }
        }
        if positional.len() > f.params.len() {
            return Err(call.error(format!(
                "takes at most {} argument{}, got {}",
                f.params.len(),
                if f.params.len() == 1 { "" } else { "s" },
                positional.len()
            )));
        }
        for (i, v) in positional.into_iter().enumerate() {
            call.args[i] = Some(v);
        }
        if let Some(kwargs) = kwargs {
            for key in kwargs.args() {
                let Some(i) = f.params.iter().position(|p| param_name(p) == key) else {
                    return Err(call.error(format!("has no argument '{key}'")));
                };
                if call.args[i].is_some() {
                    return Err(call.error(format!("got argument '{key}' twice")));
                }
                call.args[i] = Some(kwargs.peek::<JValue>(key)?);
            }
        }
        for (i, p) in f.params.iter().enumerate() {
            if call.args[i].is_none() && !p.contains('=') {
                return Err(call.error(format!("is missing its argument '{p}'")));
            }
        }
        if let Some(Some(v)) = call.args.first()
            && v.is_undefined()
        {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                format!("{name}: its value is undefined"),
            ));
        }
        Ok(call)
    }

    /// An error of this call: `what` after the filter's name, then its signature.
    pub(crate) fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{} {what} (expects {})", self.name, self.signature()),
        )
    }

    /// `name(value, pattern, ignorecase=False)`.
    fn signature(&self) -> String {
        format!("{}({})", self.name, self.params.join(", "))
    }

    /// The argument at `i` (None when left to its default).
    pub(crate) fn get(&self, i: usize) -> Option<&JValue> {
        self.args.get(i).and_then(Option::as_ref)
    }

    /// The value (first argument; always bound).
    pub(crate) fn value(&self) -> &JValue {
        self.get(0).expect("the first parameter is required")
    }

    /// The argument at `i` as a string; an error naming it when it is not one.
    pub(crate) fn str(&self, i: usize) -> Result<&str, Error> {
        let v = self.get(i).expect("a required parameter");
        v.as_str().ok_or_else(|| self.wrong_type(i, "a string", v))
    }

    /// The argument at `i` as a boolean (`default` when not given).
    pub(crate) fn bool_or(&self, i: usize, default: bool) -> Result<bool, Error> {
        match self.get(i) {
            None => Ok(default),
            Some(v) if v.is_none() => Ok(default),
            Some(v) if v.kind() == minijinja::value::ValueKind::Bool => Ok(v.is_true()),
            Some(v) => Err(self.wrong_type(i, "a boolean", v)),
        }
    }

    /// The argument at `i` as an integer (`None` when not given or none).
    pub(crate) fn int_opt(&self, i: usize) -> Result<Option<i64>, Error> {
        match self.get(i) {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) if v.is_integer() => i64::try_from(v.clone())
                .map(Some)
                .map_err(|_| self.wrong_type(i, "an integer", v)),
            Some(v) => Err(self.wrong_type(i, "an integer", v)),
        }
    }

    /// The error of an argument of the wrong type.
    pub(crate) fn wrong_type(&self, i: usize, want: &str, got: &JValue) -> Error {
        let param = self.params.get(i).map_or("?", |p| param_name(p));
        self.error(format!(
            "needs {want} as '{param}', got {} {}",
            got.kind(),
            short_repr(got)
        ))
    }
}

/// The name of a parameter written `name=default`.
fn param_name(p: &str) -> &str {
    p.split('=').next().unwrap_or(p)
}

/// The value as Python's `repr`, cut to 40 characters, for error messages.
fn short_repr(v: &JValue) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Python's `str(value)`: a string as it is, anything else as minijinja prints it (which
/// follows Python: `True`, `None`, `{'a': 1}`).
pub(crate) fn py_str(v: &JValue) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}

/// Python's `repr` of a float (`0.1`, `1.0`, `1e-05`, `1e+16`).
pub(crate) fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Shortest round-trip digits and the decimal exponent.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let body = if exp >= 0 {
            let point = exp as usize + 1;
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// How deeply a value given to a data filter may nest (as JSON input may:
/// [`crate::input::MAX_JSON_DEPTH`]); the conversion and the writers recurse per level.
const MAX_DEPTH: usize = crate::input::MAX_JSON_DEPTH;

/// The value as JSON, for filters that work on data; an error when it nests deeper than
/// [`MAX_DEPTH`] (checked without recursion).
pub(crate) fn to_json(call: &Call, v: &JValue) -> Result<serde_json::Value, Error> {
    let mut stack = vec![(v.clone(), 1usize)];
    while let Some((x, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(call.error(format!("got a value nested deeper than {MAX_DEPTH} levels")));
        }
        match x.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                if let Ok(items) = x.try_iter() {
                    stack.extend(items.map(|i| (i, depth + 1)));
                }
            }
            ValueKind::Map => {
                if let Ok(keys) = x.try_iter() {
                    for k in keys {
                        if let Ok(item) = x.get_item(&k) {
                            stack.push((item, depth + 1));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    serde_json::to_value(v).map_err(|e| call.error(format!("cannot use its value as data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_values_are_refused_without_recursion() {
        let t = crate::template::Templates::new();
        let mut v = serde_json::json!(1);
        for _ in 0..MAX_DEPTH {
            v = serde_json::json!([v]);
        }
        let ctx = crate::template::to_jinja(serde_json::json!({"v": v}));
        let err = t
            .render_once("x", "{{ v | to_json_string }}", &ctx)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested deeper than 100 levels"), "{err}");
        assert!(
            t.render_once("x", "{{ v[0] | to_json_string }}", &ctx)
                .is_ok()
        );
    }

    #[test]
    fn python_float_repr() {
        for (x, want) in [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (56.2, "56.2"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
        ] {
            assert_eq!(py_float(x), want, "{x}");
        }
    }
}
