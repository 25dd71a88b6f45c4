//! Booleans and branching: `bool`, `isBoolean`, `switch`, `coalesce`, `assert`,
//! `examine`, `selectCase`, `selectAllCases`, `switchCase`; and the
//! context makers `let`, `with`, `def`, `unpack`, which only work left of `->` (the
//! evaluator handles them there).

use super::{Args, Builtin, values};
use crate::yaql::ErrorKind;
use crate::yaql::ast::Call;
use crate::yaql::eval::{Machine, R, Scope, err};
use crate::yaql::value::{Kind, Val};

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "bool" => bool_,
        "isBoolean" => is_boolean,
        "switch" => switch,
        "coalesce" => coalesce,
        "assert" => assert_,
        "let" | "with" | "def" | "unpack" => context_maker,
        "examine" | "selectCase" | "selectAllCases" => cases,
        "switchCase" => switch_case,
        _ => return None,
    })
}

fn bool_<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(v[0].truthy()))
}

fn is_boolean<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(v[0].kind() == Kind::Bool))
}

/// `switch(cond => value, …)`: the value of the first condition that holds, else null.
fn switch<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let dollar;
    let scope = match r {
        Some(v) => {
            dollar = sc.child(v);
            &dollar
        }
        None => sc,
    };
    for a in &c.args {
        let crate::yaql::ast::Arg::Pair(cond, v) = a else {
            return Err(Args::of(c).bad("'condition => value' pairs"));
        };
        if m.eval(cond, scope)?.truthy() {
            return m.eval(v, scope);
        }
    }
    Ok(Val::Null)
}

/// `coalesce(a, b, …)`: the first that is not null.
fn coalesce<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    if let Some(v) = r.filter(|v| !v.is_null()) {
        return Ok(v);
    }
    let a = Args::of(c);
    if !a.named.is_empty() {
        return Err(a.bad("values"));
    }
    for x in a.pos {
        let v = m.eval(x, sc)?;
        if !v.is_null() {
            return Ok(v);
        }
    }
    Ok(Val::Null)
}

/// `value.assert(condition, message)`: the value when the condition (over it) holds.
fn assert_<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (v, l) = super::first_and_lambdas(m, sc, c, r, "(value, condition, message)")?;
    let Some(cond) = l.first() else {
        return Err(Args::of(c).bad("(value, condition, message)"));
    };
    if m.eval_with(cond, sc, v.clone())?.truthy() {
        return Ok(v);
    }
    let msg = match l.get(1) {
        Some(x) => crate::yaql::value::display(&m.eval(x, sc)?),
        None => "assertion failed".into(),
    };
    Err(err(ErrorKind::Value, format!("assert(): {msg}")))
}

/// `let`, `with`, `def`, `unpack` anywhere but left of `->`.
fn context_maker<'a>(
    _: &mut Machine<'_, 'a>,
    _: &Scope<'_, 'a>,
    c: &Call,
    _: Option<Val<'a>>,
) -> R<Val<'a>> {
    Err(err(
        ErrorKind::NoMatchingFunction,
        format!("{0}() makes a context: write {0}(…) -> expression", c.name),
    ))
}

/// `examine(c…)`: each condition's truth; `selectCase(c…)`: the index of the first that
/// holds (the count when none); `selectAllCases(c…)`: the indexes of all that hold.
fn cases<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 0, usize::MAX, "conditions")?;
    let truth: Vec<bool> = v.iter().map(Val::truthy).collect();
    Ok(match &*c.name {
        "examine" => Val::list(truth.into_iter().map(Val::Bool).collect()),
        "selectCase" => Val::Int(truth.iter().position(|t| *t).unwrap_or(truth.len()) as i64),
        _ => Val::list(
            truth
                .iter()
                .enumerate()
                .filter(|(_, t)| **t)
                .map(|(i, _)| Val::Int(i as i64))
                .collect(),
        ),
    })
}

/// `index.switchCase(a, b, …)`: the value at `index`, the last one past the end.
fn switch_case<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (i, l) = super::first_and_lambdas(m, sc, c, r, "(index, values…)")?;
    let i = super::int_of(c, &i)?;
    if l.is_empty() {
        return Err(Args::of(c).bad("(index, values…)"));
    }
    let at = usize::try_from(i).unwrap_or(usize::MAX).min(l.len() - 1);
    m.eval(l[at], sc)
}
