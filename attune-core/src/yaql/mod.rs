//! YAQL, the query language of StackStorm's Orquesta workflows (`<% $.x + 1 %>`), as
//! yaql 3.2.0 evaluates it with the options StackStorm uses.
//!
//! [`Expression::parse`] compiles once (a syntax error names the column and what was
//! expected); [`Expression::evaluate`] runs over JSON data bound to `$`, reading it where it
//! lies. What an embedding adds (Orquesta's `ctx()`, `succeeded()`, …) comes through a
//! [`Host`]. Every evaluation is bounded: [`MAX_STEPS`] steps (each node evaluated and each
//! item a query touches costs one), [`MAX_DEPTH`] levels of nesting (so a recursive `def`
//! ends), strings of at most [`MAX_STRING_BYTES`]; parsing nests at most
//! [`MAX_PARSE_DEPTH`] levels.
//!
//! ```
//! use attune_core::yaql::Expression;
//! use serde_json::json;
//! let e = Expression::parse("$.items.where($.a > 1).select($.a * 10)").unwrap();
//! let data = json!({"items": [{"a": 1}, {"a": 2}, {"a": 3}]});
//! assert_eq!(e.evaluate_json(&data).unwrap(), json!([20, 30]));
//! let err = Expression::parse("$.a +").unwrap_err();
//! assert_eq!(err.to_string(), "column 5: expected a value, found the end of the expression");
//! ```
//!
//! Not supported (an error naming them, never a wrong value): delegates and `lambda()`,
//! the `#operator` and `call()` reflection, integers beyond 64 bits, YAQL's legacy mode.

mod ast;
mod eval;
mod lexer;
mod parser;
pub(crate) mod stdlib;
mod value;

pub use value::Val;
pub(crate) use value::float_str;

use std::fmt;

/// Steps one evaluation may take (each node evaluated, each item a query touches).
pub const MAX_STEPS: u64 = 1_000_000;

/// How deeply one evaluation may nest (expression nesting, lambdas, `def` calls).
pub const MAX_DEPTH: usize = 200;

/// How deeply an expression may nest when parsed.
pub const MAX_PARSE_DEPTH: usize = 64;

/// The longest string an evaluation may build.
pub const MAX_STRING_BYTES: usize = 4 << 20;

/// A syntax error: the column (0-based character offset in the expression) and what was
/// expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct SyntaxError {
    /// Where it broke, counted in characters from 0.
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// What kind of evaluation error (the yaql exception it stands for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No function of that name (`NoFunctionRegisteredException`).
    NoFunction,
    /// The function exists but not for these arguments (`NoMatchingFunctionException`).
    NoMatchingFunction,
    /// A map has no such key (`KeyError`).
    Key,
    /// A list index out of range (`IndexError`).
    Index,
    /// A bad value: division by zero, overflow, a bad pattern (`ValueError`).
    Value,
    /// A budget ran out: steps, depth or string size.
    Limit,
    /// A function of the host (Orquesta's) failed.
    Host,
}

/// An evaluation error; the message names the function or operator and what it expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// Its kind.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

/// Functions an embedding adds (Orquesta's `ctx()`, `task_status()`, …), called with their
/// arguments evaluated (a method's receiver first) and their named arguments (`a => 1`).
/// The standard library's functions take precedence.
pub trait Host<'a> {
    /// Calls `name`; `None` when the host has no function of that name. An error message
    /// should say what the function expected.
    fn call(
        &self,
        name: &str,
        args: Vec<Val<'a>>,
        named: Vec<(String, Val<'a>)>,
    ) -> Option<Result<Val<'a>, String>>;

    /// Whether the host's `name`, called as a function (not a method), replaces the
    /// standard library's (Orquesta's `zip(a, b, pad => x)`).
    fn overrides(&self, _name: &str) -> bool {
        false
    }
}

/// A host without functions.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHost;

impl<'a> Host<'a> for NoHost {
    fn call(
        &self,
        _: &str,
        _: Vec<Val<'a>>,
        _: Vec<(String, Val<'a>)>,
    ) -> Option<Result<Val<'a>, String>> {
        None
    }
}

/// A compiled YAQL expression.
#[derive(Clone)]
pub struct Expression {
    source: String,
    ast: ast::Expr,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    /// Parses `source` (the text between `<%` and `%>`).
    pub fn parse(source: &str) -> Result<Expression, SyntaxError> {
        Ok(Expression {
            ast: parser::parse(source)?,
            source: source.to_string(),
        })
    }

    /// The source it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The names of the functions it calls that neither the standard library nor a `def`
    /// inside it defines (for a host to check against its own).
    pub fn unknown_functions(&self) -> Vec<String> {
        let mut calls = Vec::new();
        self.ast.calls(&mut calls);
        let defined: Vec<String> = calls
            .iter()
            .filter(|c| &*c.name == "def")
            .filter_map(|c| match c.args.first() {
                Some(ast::Arg::Pos(ast::Expr::Lit(v))) => v.as_str().map(str::to_string),
                _ => None,
            })
            .collect();
        let mut out: Vec<String> = Vec::new();
        for c in calls {
            let n = c.name.to_string();
            if c.builtin.is_none() && !defined.contains(&n) && !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    /// Evaluates with `$` bound to `root`, the variables `vars` (`$name`), and `host`'s
    /// functions.
    pub fn evaluate<'a>(
        &self,
        root: Val<'a>,
        vars: Vec<(String, Val<'a>)>,
        host: &dyn Host<'a>,
    ) -> Result<Val<'a>, EvalError> {
        let scope = eval::Scope {
            dollar: root,
            vars: vars
                .into_iter()
                .map(|(k, v)| (std::sync::Arc::from(k.as_str()), v))
                .collect(),
            defs: Vec::new(),
            parent: None,
        };
        let mut m = eval::Machine {
            steps: 0,
            depth: 0,
            host,
        };
        m.eval(&self.ast, &scope)
    }

    /// Evaluates over JSON data (`$`), without host functions, to JSON.
    pub fn evaluate_json(&self, data: &serde_json::Value) -> Result<serde_json::Value, EvalError> {
        let v = self.evaluate(Val::Json(data), Vec::new(), &NoHost)?;
        v.to_json().map_err(|message| EvalError {
            kind: ErrorKind::Value,
            message,
        })
    }
}

#[cfg(test)]
mod tests;
