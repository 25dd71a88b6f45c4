//! YAQL's standard library, by area; [`lookup`] finds a function by name when an expression
//! is parsed. Arguments arrive unevaluated: most functions evaluate them at once
//! ([`Args::values`]), queries evaluate their lambdas once per item with `$` bound to it.

pub(crate) mod boolean;
pub(crate) mod collections;
pub(crate) mod datetime;
pub(crate) mod math;
pub(crate) mod queries;
pub(crate) mod regex;
pub(crate) mod strings;

use super::ErrorKind;
use super::ast::{Arg, Call, Expr};
use super::eval::{Machine, R, Scope, err, pair_name};
use super::value::Val;
use std::sync::Arc;

/// A standard library function.
pub(crate) type Builtin =
    for<'h, 's, 'a> fn(&mut Machine<'h, 'a>, &Scope<'s, 'a>, &Call, Option<Val<'a>>) -> R<Val<'a>>;

/// The standard library function called `name`.
pub(crate) fn lookup(name: &str) -> Option<Builtin> {
    boolean::lookup(name)
        .or_else(|| math::lookup(name))
        .or_else(|| strings::lookup(name))
        .or_else(|| collections::lookup(name))
        .or_else(|| queries::lookup(name))
        .or_else(|| regex::lookup(name))
        .or_else(|| datetime::lookup(name))
}

/// The arguments of one call: the receiver first (a method's), then the positional ones.
pub(crate) struct Args<'c> {
    pub(crate) call: &'c Call,
    pub(crate) pos: Vec<&'c Expr>,
    pub(crate) named: Vec<(Arc<str>, &'c Expr)>,
}

impl<'c> Args<'c> {
    pub(crate) fn of(call: &'c Call) -> Args<'c> {
        let mut pos = Vec::new();
        let mut named = Vec::new();
        for a in &call.args {
            match a {
                Arg::Pos(x) => pos.push(x),
                Arg::Pair(k, v) => named.push((pair_name(k).unwrap_or_else(|| Arc::from("")), v)),
            }
        }
        Args { call, pos, named }
    }

    /// The error of a call that does not fit `sig` (`where(collection, predicate)`).
    pub(crate) fn bad(&self, sig: &str) -> super::EvalError {
        err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects {sig}", self.call.name),
        )
    }
}

/// Evaluates every argument (receiver first); named arguments are refused. Checks the count
/// against `min..=max`; `sig` describes the arguments for the error.
pub(crate) fn values<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    recv: Option<Val<'a>>,
    min: usize,
    max: usize,
    sig: &str,
) -> R<Vec<Val<'a>>> {
    let a = Args::of(c);
    let n = a.pos.len() + usize::from(recv.is_some());
    if !a.named.is_empty() || n < min || n > max {
        return Err(a.bad(sig));
    }
    let mut out = Vec::with_capacity(n);
    out.extend(recv);
    for x in a.pos {
        out.push(m.eval(x, sc)?);
    }
    Ok(out)
}

/// The first argument evaluated (the receiver, or the first positional), and the rest
/// unevaluated (lambdas).
pub(crate) fn first_and_lambdas<'c, 'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &'c Call,
    recv: Option<Val<'a>>,
    sig: &str,
) -> R<(Val<'a>, Vec<&'c Expr>)> {
    let a = Args::of(c);
    if !a.named.is_empty() {
        return Err(a.bad(sig));
    }
    let mut pos = a.pos.clone();
    let first = match recv {
        Some(v) => v,
        None => {
            if pos.is_empty() {
                return Err(a.bad(sig));
            }
            let x = pos.remove(0);
            m.eval(x, sc)?
        }
    };
    Ok((first, pos))
}

/// The items of a collection argument, or an error naming the function.
pub(crate) fn items_of<'a>(m: &mut Machine<'_, 'a>, c: &Call, v: &Val<'a>) -> R<Vec<Val<'a>>> {
    let items = v.items().ok_or_else(|| {
        err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects a collection, got {}", c.name, v.kind().name()),
        )
    })?;
    m.charge(items.len() as u64)?;
    Ok(items)
}

/// A string argument, or an error naming the function.
pub(crate) fn str_of<'v>(c: &Call, v: &'v Val<'_>) -> R<&'v str> {
    v.as_str().ok_or_else(|| {
        err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects a string, got {}", c.name, v.kind().name()),
        )
    })
}

/// An integer argument, or an error naming the function.
pub(crate) fn int_of(c: &Call, v: &Val<'_>) -> R<i64> {
    v.as_int().ok_or_else(|| {
        err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects an integer, got {}", c.name, v.kind().name()),
        )
    })
}

/// Evaluates a lambda with `$` (and `$1`) bound to `a`, and `$2` to `b` when given.
pub(crate) fn apply<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    f: &Expr,
    args: &[Val<'a>],
) -> R<Val<'a>> {
    if let [one] = args {
        return m.eval_with(f, sc, one.clone());
    }
    let mut child = sc.child(args.first().cloned().unwrap_or(Val::Null));
    for (i, v) in args.iter().enumerate() {
        child
            .vars
            .push((Arc::from((i + 1).to_string().as_str()), v.clone()));
    }
    m.eval(f, &child)
}
