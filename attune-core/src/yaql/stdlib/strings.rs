//! Strings: case, `str`, `split`, `join`, `replace`, `trim`, `startsWith`, `indexOf`,
//! `substring`, `concat`, `format`, `norm`, `hex`, `isString`, `toCharArray`.

use super::{Args, Builtin, int_of, str_of, values};
use crate::yaql::ErrorKind;
use crate::yaql::ast::Call;
use crate::yaql::eval::{Machine, R, Scope, err};
use crate::yaql::value::{Kind, Val, display};

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "toUpper" | "toLower" => case,
        "str" => str_,
        "split" | "rightSplit" => split,
        "join" => join,
        "replace" => replace,
        "trim" | "trimLeft" | "trimRight" => trim,
        "startsWith" | "endsWith" => starts_with,
        "substring" => substring,
        "concat" => concat,
        "format" => format,
        "norm" => norm,
        "hex" => hex,
        "isString" => is_string,
        "toCharArray" | "characters" => chars,
        _ => return None,
    })
}

fn case<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a string")?;
    let s = str_of(c, &v[0])?;
    Ok(Val::str(&if &*c.name == "toUpper" {
        s.to_uppercase()
    } else {
        s.to_lowercase()
    }))
}

fn str_<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::str(&display(&v[0])))
}

/// `s.split(sep?, maxSplits?)`, `s.rightSplit(sep?, maxSplits?)`: without a separator, on
/// runs of whitespace.
fn split<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 3, "(string, separator?, maxSplits?)")?;
    if v[0].kind() == Kind::Regex || v.get(1).is_some_and(|x| x.kind() == Kind::Regex) {
        return super::regex::split(m, c, &v);
    }
    let s = str_of(c, &v[0])?;
    let sep = match v.get(1) {
        Some(x) if !x.is_null() => Some(str_of(c, x)?),
        _ => None,
    };
    let max = match v.get(2) {
        Some(x) => int_of(c, x)?,
        None => -1,
    };
    let right = &*c.name == "rightSplit";
    let parts: Vec<String> = match sep {
        Some("") => return Err(err(ErrorKind::Value, "split(): empty separator")),
        Some(sep) => {
            if max < 0 {
                s.split(sep).map(str::to_string).collect()
            } else if right {
                let mut p: Vec<String> = s
                    .rsplitn(max as usize + 1, sep)
                    .map(str::to_string)
                    .collect();
                p.reverse();
                p
            } else {
                s.splitn(max as usize + 1, sep)
                    .map(str::to_string)
                    .collect()
            }
        }
        None => {
            if max < 0 {
                s.split_whitespace().map(str::to_string).collect()
            } else {
                whitespace_split(s, max as usize, right)
            }
        }
    };
    m.charge(parts.len() as u64)?;
    Ok(Val::list(parts.iter().map(|p| Val::str(p)).collect()))
}

fn whitespace_split(s: &str, max: usize, right: bool) -> Vec<String> {
    if right {
        let rev: String = s.chars().rev().collect();
        let mut p: Vec<String> = whitespace_split(&rev, max, false)
            .into_iter()
            .map(|x| x.chars().rev().collect())
            .collect();
        p.reverse();
        return p;
    }
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if out.len() == max {
            out.push(rest.to_string());
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    out
}

/// `list.join(sep)` or `sep.join(list)`.
fn join<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    if c.args.len() + usize::from(r.is_some()) >= 3 {
        return super::queries::cross_join(m, sc, c, r);
    }
    let v = values(m, sc, c, r, 2, 2, "(list, separator) or (separator, list)")?;
    let (list, sep) = if v[0].kind() == Kind::Str && v[1].kind() != Kind::Str {
        (&v[1], &v[0])
    } else {
        (&v[0], &v[1])
    };
    let sep = str_of(c, sep)?;
    let items = super::items_of(m, c, list)?;
    let mut out = String::new();
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(str_of(c, x)?);
        m.check_len(out.len())?;
    }
    Ok(Val::str(&out))
}

/// `s.replace(old, new, count?)`, `s.replace({old => new}, count?)`; on a list,
/// `list.replace(position, value, count?)`.
fn replace<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    if let Some(d @ Val::DateTime(_)) = &r {
        return super::datetime::replace(m, sc, c, d.clone());
    }
    let v = values(m, sc, c, r, 2, 4, "(string, old, new, count?)")?;
    if v[0].kind() == Kind::Regex || v[1].kind() == Kind::Regex {
        return super::regex::replace(m, c, &v);
    }
    if matches!(v[0].kind(), Kind::List | Kind::Set) {
        return super::collections::replace_items(m, c, &v);
    }
    let s = str_of(c, &v[0])?;
    if v[1].kind() == Kind::Dict {
        let count = match v.get(2) {
            Some(x) => int_of(c, x)?,
            None => -1,
        };
        let pairs: Vec<(String, String)> = v[1]
            .entries()
            .unwrap_or_default()
            .iter()
            .map(|(k, x)| (display(k), display(x)))
            .collect();
        return Ok(Val::str(&replace_many(s, &pairs, count)));
    }
    let old = str_of(c, &v[1])?;
    let new = str_of(
        c,
        v.get(2)
            .ok_or_else(|| Args::of(c).bad("(string, old, new, count?)"))?,
    )?;
    let count = match v.get(3) {
        Some(x) => int_of(c, x)?,
        None => -1,
    };
    let out = if count < 0 {
        s.replace(old, new)
    } else {
        s.replacen(old, new, count as usize)
    };
    m.check_len(out.len())?;
    Ok(Val::str(&out))
}

/// Replaces each of `pairs` in one pass, left to right, at most `count` times each
/// (all when negative).
fn replace_many(s: &str, pairs: &[(String, String)], count: i64) -> String {
    let mut done = vec![0i64; pairs.len()];
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let hit = pairs.iter().enumerate().find(|(k, (old, _))| {
            !old.is_empty() && s[i..].starts_with(old.as_str()) && (count < 0 || done[*k] < count)
        });
        match hit {
            Some((k, (old, new))) => {
                out.push_str(new);
                done[k] += 1;
                i += old.len();
            }
            None => {
                let ch = s[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn trim<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(string, characters?)")?;
    let s = str_of(c, &v[0])?;
    let set: Option<Vec<char>> = match v.get(1) {
        Some(x) if !x.is_null() => Some(str_of(c, x)?.chars().collect()),
        _ => None,
    };
    let pred = |ch: char| match &set {
        Some(cs) => cs.contains(&ch),
        None => ch.is_whitespace(),
    };
    Ok(Val::str(match &*c.name {
        "trim" => s.trim_matches(pred),
        "trimLeft" => s.trim_start_matches(pred),
        _ => s.trim_end_matches(pred),
    }))
}

fn starts_with<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, usize::MAX, "(string, prefix, …)")?;
    let s = str_of(c, &v[0])?;
    for x in &v[1..] {
        let p = str_of(c, x)?;
        if (&*c.name == "startsWith" && s.starts_with(p))
            || (&*c.name == "endsWith" && s.ends_with(p))
        {
            return Ok(Val::Bool(true));
        }
    }
    Ok(Val::Bool(false))
}

/// `s.substring(start, length?)`: negative `start` counts from the end; a negative length
/// runs to the end.
fn substring<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 3, "(string, start, length?)")?;
    let chars: Vec<char> = str_of(c, &v[0])?.chars().collect();
    let n = chars.len() as i64;
    let mut start = int_of(c, &v[1])?;
    if start < 0 {
        start = (start + n).max(0);
    }
    let len = match v.get(2) {
        Some(x) => int_of(c, x)?,
        None => -1,
    };
    let end = if len < 0 { n } else { (start + len).min(n) };
    let start = start.min(n);
    Ok(Val::str(
        &chars[start as usize..end.max(start) as usize]
            .iter()
            .collect::<String>(),
    ))
}

fn concat<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 0, usize::MAX, "strings")?;
    if v.first()
        .is_some_and(|x| matches!(x.kind(), Kind::List | Kind::Set))
    {
        return super::queries::concat_lists(m, c, &v);
    }
    let mut out = String::new();
    for x in &v {
        out.push_str(str_of(c, x)?);
        m.check_len(out.len())?;
    }
    Ok(Val::str(&out))
}

/// `format(template, args…)`: `{}` and `{0}` placeholders, `{name}` for named arguments.
fn format<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let a = Args::of(c);
    let mut pos = Vec::new();
    pos.extend(r);
    for x in &a.pos {
        pos.push(m.eval(x, sc)?);
    }
    let mut named = Vec::new();
    for (k, x) in &a.named {
        named.push((k.clone(), m.eval(x, sc)?));
    }
    let Some(t) = pos.first() else {
        return Err(a.bad("(template, values…)"));
    };
    let t = str_of(c, t)?.to_string();
    let args = &pos[1..];
    let mut out = String::new();
    let mut auto = 0;
    let mut it = t.chars().peekable();
    while let Some(ch) = it.next() {
        match ch {
            '{' if it.peek() == Some(&'{') => {
                it.next();
                out.push('{');
            }
            '}' if it.peek() == Some(&'}') => {
                it.next();
                out.push('}');
            }
            '{' => {
                let mut key = String::new();
                for ch in it.by_ref() {
                    if ch == '}' {
                        break;
                    }
                    key.push(ch);
                }
                let v = if key.is_empty() {
                    auto += 1;
                    args.get(auto - 1)
                } else if let Ok(i) = key.parse::<usize>() {
                    args.get(i)
                } else {
                    named.iter().find(|(k, _)| **k == *key).map(|(_, v)| v)
                };
                let v = v.ok_or_else(|| {
                    err(ErrorKind::Key, format!("format(): no value for {{{key}}}"))
                })?;
                out.push_str(&display(v));
            }
            ch => out.push(ch),
        }
        m.check_len(out.len())?;
    }
    Ok(Val::str(&out))
}

/// `norm(s)`: trimmed, null when empty.
fn norm<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a string")?;
    if v[0].is_null() {
        return Ok(Val::Null);
    }
    let s = str_of(c, &v[0])?.trim();
    Ok(if s.is_empty() { Val::Null } else { Val::str(s) })
}

fn hex<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "an integer")?;
    let i = int_of(c, &v[0])?;
    Ok(Val::str(&if i < 0 {
        format!("-0x{:x}", i.unsigned_abs())
    } else {
        format!("0x{i:x}")
    }))
}

fn is_string<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(v[0].kind() == Kind::Str))
}

fn chars<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a string")?;
    let s = str_of(c, &v[0])?;
    m.charge(s.len() as u64)?;
    Ok(Val::list(
        s.chars()
            .map(|ch| Val::str(ch.encode_utf8(&mut [0; 4])))
            .collect(),
    ))
}

/// `s.indexOf(sub, start?, length?)` / `lastIndexOf`: the character index, or -1.
pub(super) fn str_index_of(c: &Call, v: &[Val<'_>], last: bool) -> R<i64> {
    let s: Vec<char> = str_of(c, &v[0])?.chars().collect();
    let sub: Vec<char> = str_of(c, &v[1])?.chars().collect();
    let n = s.len() as i64;
    let mut start = match v.get(2) {
        Some(x) => int_of(c, x)?,
        None => 0,
    };
    if start < 0 {
        start = (start + n).max(0);
    }
    let len = match v.get(3) {
        Some(x) => int_of(c, x)?,
        None => -1,
    };
    let end = if len < 0 { n } else { (start + len).min(n) };
    let (start, end) = (start.min(n) as usize, end.max(0) as usize);
    if end < start || end - start < sub.len() {
        return Ok(-1);
    }
    let mut hits = (start..=end - sub.len()).filter(|&i| s[i..i + sub.len()] == sub[..]);
    Ok(if last { hits.next_back() } else { hits.next() }.map_or(-1, |i| i as i64))
}
