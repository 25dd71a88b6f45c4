//! Regular expressions (Rust's `regex` syntax, which lacks look-around and back-references:
//! a pattern using them is an error naming it): `regex`, `matches`, `search`, `searchAll`,
//! `replace` and `replaceBy` with a regex, `split` on a regex, `escapeRegex`, `isRegex`.

use super::{Args, Builtin, apply, first_and_lambdas, int_of, str_of, values};
use crate::yaql::ErrorKind;
use crate::yaql::EvalError;
use crate::yaql::ast::Call;
use crate::yaql::eval::{Machine, R, Scope, err};
use crate::yaql::value::{Kind, Val};
use std::sync::Arc;

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "regex" => regex_,
        "matches" => matches,
        "search" | "searchAll" => search,
        "replaceBy" => replace_by,
        "escapeRegex" => escape,
        "isRegex" => is_regex,
        _ => return None,
    })
}

/// Compiles a pattern, or an error naming it.
pub(crate) fn compile(p: &str) -> Result<regex::Regex, EvalError> {
    regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            err(
                ErrorKind::Value,
                format!("bad regular expression '{p}': {e}"),
            )
        })
}

fn regex_<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let a = Args::of(c);
    if r.is_some() || a.pos.len() != 1 {
        return Err(a.bad("(pattern, ignoreCase => bool, multiLine => bool, dotAll => bool)"));
    }
    let p = m.eval(a.pos[0], sc)?;
    let p = str_of(c, &p)?.to_string();
    let mut flags = String::new();
    for (k, x) in &a.named {
        let on = m.eval(x, sc)?.truthy();
        let f = match &**k {
            "ignoreCase" => 'i',
            "multiLine" => 'm',
            "dotAll" => 's',
            other => {
                return Err(err(
                    ErrorKind::NoMatchingFunction,
                    format!("regex() has no option '{other}'"),
                ));
            }
        };
        if on {
            flags.push(f);
        }
    }
    let src = if flags.is_empty() {
        p
    } else {
        format!("(?{flags}){p}")
    };
    Ok(Val::Regex(Arc::new(compile(&src)?)))
}

/// The regex and the string of a call written either way round (`re.f(s)`, `s.f(re)`).
fn pair<'v, 'a>(c: &Call, a: &'v Val<'a>, b: &'v Val<'a>) -> R<(regex::Regex, &'v str)> {
    match (a, b) {
        (Val::Regex(re), s) => Ok((re.as_ref().clone(), str_of(c, s)?)),
        (s, Val::Regex(re)) => Ok((re.as_ref().clone(), str_of(c, s)?)),
        (s, p) => Ok((compile(str_of(c, p)?)?, str_of(c, s)?)),
    }
}

fn matches<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 2, "(regex, string)")?;
    let (re, s) = pair(c, &v[0], &v[1])?;
    Ok(Val::Bool(re.is_match(s)))
}

/// A match's groups as YAQL gives them to selectors: `{value, start, end}` each (null for a
/// group that did not take part).
fn groups<'a>(s: &str, caps: &regex::Captures<'_>) -> Vec<Val<'a>> {
    (0..caps.len())
        .map(|i| match caps.get(i) {
            Some(g) => {
                let start = s[..g.start()].chars().count() as i64;
                let end = start + g.as_str().chars().count() as i64;
                Val::Dict(Arc::new(vec![
                    (Val::str("value"), Val::str(g.as_str())),
                    (Val::str("start"), Val::Int(start)),
                    (Val::str("end"), Val::Int(end)),
                ]))
            }
            None => Val::Dict(Arc::new(vec![
                (Val::str("value"), Val::Null),
                (Val::str("start"), Val::Int(-1)),
                (Val::str("end"), Val::Int(-1)),
            ])),
        })
        .collect()
}

/// `re.search(s, selector?)`: the first match's text (or the selector over its groups),
/// null when none; `searchAll` every match.
fn search<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (re, l) = first_and_lambdas(m, sc, c, r, "(regex, string, selector?)")?;
    let Some(sx) = l.first() else {
        return Err(Args::of(c).bad("(regex, string, selector?)"));
    };
    let s = m.eval(sx, sc)?;
    let (re, s) = pair(c, &re, &s)?;
    let mut out = Vec::new();
    for caps in re.captures_iter(s) {
        m.charge(1)?;
        let v = match l.get(1) {
            Some(f) => apply(m, sc, f, &groups(s, &caps))?,
            None => Val::str(caps.get(0).map_or("", |g| g.as_str())),
        };
        if &*c.name == "search" {
            return Ok(v);
        }
        out.push(v);
    }
    Ok(if &*c.name == "search" {
        Val::Null
    } else {
        Val::list(out)
    })
}

/// Python's `\1` / `\g<name>` in a replacement, written for Rust's `regex`.
fn replacement(p: &str) -> String {
    let mut out = String::new();
    let mut it = p.chars().peekable();
    while let Some(ch) = it.next() {
        match ch {
            '$' => out.push_str("$$"),
            '\\' if it.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = String::new();
                while let Some(d) = it.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    it.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            '\\' if it.peek() == Some(&'n') => {
                it.next();
                out.push('\n');
            }
            '\\' if it.peek() == Some(&'\\') => {
                it.next();
                out.push('\\');
            }
            c => out.push(c),
        }
    }
    out
}

/// `re.replace(s, repl, count?)` or `s.replace(re, repl, count?)`.
pub(super) fn replace<'a>(m: &mut Machine<'_, 'a>, c: &Call, v: &[Val<'a>]) -> R<Val<'a>> {
    let (re, s) = pair(c, &v[0], &v[1])?;
    let repl = replacement(str_of(
        c,
        v.get(2)
            .ok_or_else(|| Args::of(c).bad("(regex, string, replacement, count?)"))?,
    )?);
    let count = match v.get(3) {
        Some(x) => int_of(c, x)?,
        None => -1,
    };
    let out = if count < 0 {
        re.replace_all(s, repl.as_str())
    } else {
        re.replacen(s, count as usize, repl.as_str())
    };
    m.check_len(out.len())?;
    Ok(Val::str(&out))
}

/// `re.replaceBy(s, selector, count?)`: each match replaced by the selector over its groups.
fn replace_by<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(regex, string, selector, count?)";
    let (a, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let (Some(bx), Some(f)) = (l.first(), l.get(1)) else {
        return Err(Args::of(c).bad(SIG));
    };
    let b = m.eval(bx, sc)?;
    let count = match l.get(2) {
        Some(x) => int_of(c, &m.eval(x, sc)?)?,
        None => -1,
    };
    let (re, s) = pair(c, &a, &b)?;
    let mut out = String::new();
    let mut last = 0;
    for (n, caps) in re.captures_iter(s).enumerate() {
        if count >= 0 && n as i64 >= count {
            break;
        }
        let Some(g) = caps.get(0) else { continue };
        let v = apply(m, sc, f, &groups(s, &caps))?;
        out.push_str(&s[last..g.start()]);
        out.push_str(&crate::yaql::value::display(&v));
        last = g.end();
        m.check_len(out.len())?;
    }
    out.push_str(&s[last..]);
    Ok(Val::str(&out))
}

/// `re.split(s, maxSplits?)` (groups in the pattern are kept in the result, as Python does).
pub(super) fn split<'a>(m: &mut Machine<'_, 'a>, c: &Call, v: &[Val<'a>]) -> R<Val<'a>> {
    let (re, s) = pair(c, &v[0], &v[1])?;
    let max = match v.get(2) {
        Some(x) => int_of(c, x)?,
        None => -1,
    };
    let mut out = Vec::new();
    let mut last = 0;
    for (n, caps) in re.captures_iter(s).enumerate() {
        if max >= 0 && n as i64 >= max {
            break;
        }
        let Some(g) = caps.get(0) else { continue };
        out.push(Val::str(&s[last..g.start()]));
        for i in 1..caps.len() {
            out.push(caps.get(i).map_or(Val::Null, |x| Val::str(x.as_str())));
        }
        last = g.end();
        m.charge(1)?;
    }
    out.push(Val::str(&s[last..]));
    Ok(Val::list(out))
}

fn escape<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a string")?;
    Ok(Val::str(&regex::escape(str_of(c, &v[0])?)))
}

fn is_regex<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(v[0].kind() == Kind::Regex))
}
