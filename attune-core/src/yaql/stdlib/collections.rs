//! Lists, maps and sets: constructors (`list`, `dict`, `set`, `toList`, `toSet`,
//! `toDict`), `len`, `keys`, `values`, `items`, `get`, `contains*`, `insert`, `delete`,
//! `replace`, `set` operations, `mergeWith`, type tests.

use super::{Args, Builtin, apply, int_of, items_of, values};
use crate::yaql::ErrorKind;
use crate::yaql::ast::{Arg, Call, Expr};
use crate::yaql::eval::{Machine, R, Scope, dict_insert, err};
use crate::yaql::value::{Kind, Val, equal};
use std::sync::Arc;

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "list" => list,
        "dict" => dict,
        "set" => set,
        "toList" => to_list,
        "toSet" => to_set,
        "toDict" => to_dict,
        "len" => len,
        "keys" | "values" | "items" => parts,
        "get" => get,
        "containsKey" | "containsValue" | "contains" => contains,
        "insert" | "insertMany" => insert,
        "delete" | "deleteAll" => delete,
        "replaceMany" => replace_many,
        "add" | "remove" | "union" | "intersect" | "difference" | "symmetricDifference" => set_ops,
        "mergeWith" => merge_with,
        "isList" | "isDict" | "isSet" | "isIterable" | "isEmpty" => is_kind,
        "indexOf" | "lastIndexOf" => index_of,
        _ => return None,
    })
}

fn set_val<'a>(items: Vec<Val<'a>>) -> Val<'a> {
    let mut out: Vec<Val<'a>> = Vec::with_capacity(items.len());
    for x in items {
        if !out.iter().any(|y| equal(y, &x)) {
            out.push(x);
        }
    }
    Val::Set(Arc::new(out))
}

/// `list(a, b, …)`: a list of its arguments; `list(collection)` of one collection: its items.
fn list<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 0, usize::MAX, "values")?;
    if let [one] = v.as_slice()
        && matches!(one.kind(), Kind::List | Kind::Set)
        && c.recv.is_none()
    {
        return Ok(Val::list(one.items().unwrap_or_default()));
    }
    Ok(Val::list(v))
}

fn to_list<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a collection")?;
    Ok(Val::list(items_of(m, c, &v[0])?))
}

fn set<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    // `map.set(key, value)` / `map.set(other)` / `map.set(k => v)`: a changed copy.
    if let Some(recv) = r.as_ref().filter(|v| v.kind() == Kind::Dict) {
        let mut d = recv.entries().unwrap_or_default();
        let a = Args::of(c);
        if !a.named.is_empty() || c.args.iter().any(|x| matches!(x, Arg::Pair(..))) {
            for x in &c.args {
                if let Arg::Pair(k, v) = x {
                    let k = m.eval(k, sc)?;
                    let v = m.eval(v, sc)?;
                    dict_insert(&mut d, k, v);
                }
            }
        } else {
            let v = a.pos.iter().map(|x| m.eval(x, sc)).collect::<R<Vec<_>>>()?;
            match v.as_slice() {
                [k, x] => dict_insert(&mut d, k.clone(), x.clone()),
                [other] if other.kind() == Kind::Dict => {
                    for (k, x) in other.entries().unwrap_or_default() {
                        dict_insert(&mut d, k, x);
                    }
                }
                _ => return Err(a.bad("(map, key, value) or (map, map)")),
            }
        }
        return Ok(Val::Dict(Arc::new(d)));
    }
    let v = values(m, sc, c, r, 0, usize::MAX, "values")?;
    if let [one] = v.as_slice()
        && one.kind() == Kind::List
        && c.recv.is_none()
        && !matches!(c.args.first(), Some(Arg::Pos(Expr::List(_))))
    {
        return Ok(set_val(one.items().unwrap_or_default()));
    }
    m.charge(v.len() as u64)?;
    Ok(set_val(v))
}

fn to_set<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a collection")?;
    Ok(set_val(items_of(m, c, &v[0])?))
}

/// `dict(k => v, …)`, `dict([[k, v], …])`, `dict(map)`.
fn dict<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let mut d = Vec::new();
    if c.args.iter().all(|a| matches!(a, Arg::Pair(..))) && r.is_none() {
        for a in &c.args {
            if let Arg::Pair(k, v) = a {
                let k = m.eval(k, sc)?;
                let v = m.eval(v, sc)?;
                dict_insert(&mut d, k, v);
            }
        }
        return Ok(Val::Dict(Arc::new(d)));
    }
    let v = values(
        m,
        sc,
        c,
        r,
        1,
        1,
        "pairs 'key => value', or a list of [key, value]",
    )?;
    if v[0].kind() == Kind::Dict {
        return Ok(v[0].clone());
    }
    for pair in items_of(m, c, &v[0])? {
        match pair.items().as_deref() {
            Some([k, x]) => dict_insert(&mut d, k.clone(), x.clone()),
            _ => return Err(Args::of(c).bad("a list of [key, value] pairs")),
        }
    }
    Ok(Val::Dict(Arc::new(d)))
}

/// `collection.toDict(keySelector, valueSelector?)`.
fn to_dict<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (coll, l) =
        super::first_and_lambdas(m, sc, c, r, "(collection, keySelector, valueSelector?)")?;
    let Some(key) = l.first() else {
        return Err(Args::of(c).bad("(collection, keySelector, valueSelector?)"));
    };
    let mut d = Vec::new();
    for x in items_of(m, c, &coll)? {
        let k = apply(m, sc, key, std::slice::from_ref(&x))?;
        let v = match l.get(1) {
            Some(f) => apply(m, sc, f, std::slice::from_ref(&x))?,
            None => x,
        };
        dict_insert(&mut d, k, v);
    }
    Ok(Val::Dict(Arc::new(d)))
}

fn len<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a string or a collection")?;
    v[0].len().map(|n| Val::Int(n as i64)).ok_or_else(|| {
        err(
            ErrorKind::NoMatchingFunction,
            format!(
                "len() expects a string or a collection, got {}",
                v[0].kind().name()
            ),
        )
    })
}

fn map_of<'v, 'a>(c: &Call, v: &'v Val<'a>) -> R<&'v Val<'a>> {
    if v.kind() == Kind::Dict {
        Ok(v)
    } else {
        Err(err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects a map, got {}", c.name, v.kind().name()),
        ))
    }
}

fn parts<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a map")?;
    let e = map_of(c, &v[0])?.entries().unwrap_or_default();
    m.charge(e.len() as u64)?;
    Ok(Val::list(match &*c.name {
        "keys" => e.into_iter().map(|(k, _)| k).collect(),
        "values" => e.into_iter().map(|(_, x)| x).collect(),
        _ => e.into_iter().map(|(k, x)| Val::list(vec![k, x])).collect(),
    }))
}

fn get<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 3, "(map, key, default?)")?;
    let d = map_of(c, &v[0])?;
    Ok(d.get(&v[1])
        .unwrap_or_else(|| v.get(2).cloned().unwrap_or(Val::Null)))
}

fn contains<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 2, "(collection, value)")?;
    Ok(Val::Bool(match &*c.name {
        "containsKey" => map_of(c, &v[0])?.get(&v[1]).is_some(),
        "containsValue" => map_of(c, &v[0])?
            .entries()
            .unwrap_or_default()
            .iter()
            .any(|(_, x)| equal(x, &v[1])),
        _ => items_of(m, c, &v[0])?.iter().any(|x| equal(x, &v[1])),
    }))
}

fn insert<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 3, 3, "(list, position, value)")?;
    if v[0].kind() != Kind::List {
        return Err(Args::of(c).bad("a list"));
    }
    let mut items = items_of(m, c, &v[0])?;
    let at = int_of(c, &v[1])?;
    let n = items.len() as i64;
    let at = if at < 0 && &*c.name == "insertMany" {
        0
    } else if at < 0 {
        (at + n).max(0)
    } else {
        at.min(n)
    } as usize;
    if &*c.name == "insertMany" {
        let more = items_of(m, c, &v[2])?;
        items.splice(at..at, more);
    } else {
        items.insert(at, v[2].clone());
    }
    Ok(Val::list(items))
}

/// `list.delete(position, count?)` (count -1: to the end); `map.delete(keys…)`,
/// `map.deleteAll(keys)`.
fn delete<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(
        m,
        sc,
        c,
        r,
        1,
        usize::MAX,
        "(list, position, count?) or (map, keys…)",
    )?;
    if v[0].kind() == Kind::Dict {
        let keys: Vec<Val<'a>> = if &*c.name == "deleteAll" {
            items_of(
                m,
                c,
                v.get(1).ok_or_else(|| Args::of(c).bad("(map, keys)"))?,
            )?
        } else {
            v[1..].to_vec()
        };
        let d: Vec<_> = v[0]
            .entries()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !keys.iter().any(|x| equal(x, k)))
            .collect();
        return Ok(Val::Dict(Arc::new(d)));
    }
    let mut items = items_of(m, c, &v[0])?;
    let at = int_of(
        c,
        v.get(1)
            .ok_or_else(|| Args::of(c).bad("(list, position, count?)"))?,
    )?;
    let count = match v.get(2) {
        Some(x) => int_of(c, x)?,
        None => 1,
    };
    let n = items.len() as i64;
    let start = at.clamp(0, n) as usize;
    let end = if count < 0 {
        n
    } else {
        (at + count).clamp(0, n)
    } as usize;
    if end > start {
        items.drain(start..end);
    }
    Ok(Val::list(items))
}

/// `list.replace(position, value, count?)`.
pub(super) fn replace_items<'a>(m: &mut Machine<'_, 'a>, c: &Call, v: &[Val<'a>]) -> R<Val<'a>> {
    let mut items = items_of(m, c, &v[0])?;
    let at = int_of(c, &v[1])?;
    let count = match v.get(3) {
        Some(x) => int_of(c, x)?,
        None => 1,
    };
    let n = items.len() as i64;
    let start = at.clamp(0, n) as usize;
    let end = if count < 0 {
        n
    } else {
        (at + count).clamp(0, n)
    } as usize;
    items.splice(start..end.max(start), [v[2].clone()]);
    Ok(Val::list(items))
}

fn replace_many<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 3, 4, "(list, position, values, count?)")?;
    let mut items = items_of(m, c, &v[0])?;
    let at = int_of(c, &v[1])?;
    let count = match v.get(3) {
        Some(x) => int_of(c, x)?,
        None => 1,
    };
    let n = items.len() as i64;
    let start = at.clamp(0, n) as usize;
    let end = if count < 0 {
        n
    } else {
        (at + count).clamp(0, n)
    } as usize;
    let more = items_of(m, c, &v[2])?;
    items.splice(start..end.max(start), more);
    Ok(Val::list(items))
}

fn set_ops<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, usize::MAX, "(set, values…)")?;
    if v[0].kind() != Kind::Set {
        return Err(Args::of(c).bad("a set"));
    }
    let a = items_of(m, c, &v[0])?;
    Ok(match &*c.name {
        "add" => set_val(a.into_iter().chain(v[1..].iter().cloned()).collect()),
        "remove" => set_val(
            a.into_iter()
                .filter(|x| !v[1..].iter().any(|y| equal(x, y)))
                .collect(),
        ),
        _ => {
            let b = items_of(m, c, v.get(1).ok_or_else(|| Args::of(c).bad("(set, set)"))?)?;
            set_op(&c.name, a, b)
        }
    })
}

/// Set algebra: `union`, `intersect`, `difference`, `symmetricDifference`.
pub(crate) fn set_op<'a>(op: &str, a: Vec<Val<'a>>, b: Vec<Val<'a>>) -> Val<'a> {
    let has = |s: &[Val<'a>], x: &Val<'a>| s.iter().any(|y| equal(x, y));
    set_val(match op {
        "union" => a.into_iter().chain(b).collect(),
        "intersect" => a.iter().filter(|x| has(&b, x)).cloned().collect(),
        "difference" => a.iter().filter(|x| !has(&b, x)).cloned().collect(),
        _ => a
            .iter()
            .filter(|x| !has(&b, x))
            .chain(b.iter().filter(|x| !has(&a, x)))
            .cloned()
            .collect(),
    })
}

/// `d1.mergeWith(d2, listMerger?, itemMerger?, maxLevels => n)`: a deep merge.
fn merge_with<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let a = Args::of(c);
    let mut pos = a.pos.clone();
    let d1 = match r {
        Some(v) => v,
        None => {
            if pos.is_empty() {
                return Err(a.bad("(map, map, listMerger?, itemMerger?, maxLevels?)"));
            }
            let x = pos.remove(0);
            m.eval(x, sc)?
        }
    };
    let Some(x) = pos.first() else {
        return Err(a.bad("(map, map, listMerger?, itemMerger?, maxLevels?)"));
    };
    let d2 = m.eval(x, sc)?;
    let list_merger = pos.get(1).copied().filter(|e| !matches!(e, Expr::Skip));
    let item_merger = pos.get(2).copied().filter(|e| !matches!(e, Expr::Skip));
    let mut max_levels = 0;
    for (k, x) in &a.named {
        match &**k {
            "maxLevels" => max_levels = int_of(c, &m.eval(x, sc)?)?,
            other => {
                return Err(err(
                    ErrorKind::NoMatchingFunction,
                    format!("mergeWith() has no argument '{other}'"),
                ));
            }
        }
    }
    let f = Mergers {
        list: list_merger,
        item: item_merger,
        max: max_levels,
    };
    merge(m, sc, &f, &d1, &d2, 1)
}

struct Mergers<'e> {
    list: Option<&'e Expr>,
    item: Option<&'e Expr>,
    max: i64,
}

fn merge<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    f: &Mergers<'_>,
    a: &Val<'a>,
    b: &Val<'a>,
    level: i64,
) -> R<Val<'a>> {
    m.charge(1)?;
    if a.kind() == Kind::Dict && b.kind() == Kind::Dict && (f.max == 0 || level <= f.max) {
        let mut d = a.entries().unwrap_or_default();
        for (k, v) in b.entries().unwrap_or_default() {
            let merged = match d.iter().find(|(x, _)| equal(x, &k)) {
                Some((_, old)) => {
                    let old = old.clone();
                    merge(m, sc, f, &old, &v, level + 1)?
                }
                None => v,
            };
            dict_insert(&mut d, k, merged);
        }
        return Ok(Val::Dict(Arc::new(d)));
    }
    let deeper = f.max == 0 || level <= f.max;
    if a.kind() == Kind::List && b.kind() == Kind::List && deeper {
        if let Some(l) = f.list {
            return apply(m, sc, l, &[a.clone(), b.clone()]);
        }
        let mut out = a.items().unwrap_or_default();
        for x in b.items().unwrap_or_default() {
            if !out.iter().any(|y| equal(y, &x)) {
                out.push(x);
            }
        }
        return Ok(Val::list(out));
    }
    if let Some(i) = f.item {
        return apply(m, sc, i, &[a.clone(), b.clone()]);
    }
    Ok(b.clone())
}

fn is_kind<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    let k = v[0].kind();
    Ok(Val::Bool(match &*c.name {
        "isList" => k == Kind::List,
        "isDict" => k == Kind::Dict,
        "isSet" => k == Kind::Set,
        "isIterable" => matches!(k, Kind::List | Kind::Set),
        _ => match k {
            Kind::Null => true,
            Kind::Str => v[0].as_str().unwrap_or("").trim().is_empty(),
            Kind::List | Kind::Set | Kind::Dict => v[0].len() == Some(0),
            _ => false,
        },
    }))
}

fn index_of<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(
        m,
        sc,
        c,
        r,
        2,
        4,
        "(collection or string, value, start?, length?)",
    )?;
    let last = &*c.name == "lastIndexOf";
    if v[0].kind() == Kind::Str {
        return super::strings::str_index_of(c, &v, last).map(Val::Int);
    }
    let items = items_of(m, c, &v[0])?;
    let mut hits = items
        .iter()
        .enumerate()
        .filter(|(_, x)| equal(x, &v[1]))
        .map(|(i, _)| i as i64);
    Ok(Val::Int(
        if last { hits.next_back() } else { hits.next() }.unwrap_or(-1),
    ))
}
