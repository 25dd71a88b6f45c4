//! Queries over collections, most with lambdas evaluated per item (`$` is the item):
//! `where`, `select`, `selectMany`, `orderBy`, `groupBy`, `any`, `all`, `first`, `last`,
//! `single`, `count`, `sum`, `max`, `min`, `take`, `skip`, `distinct`, `enumerate`, `zip`,
//! `concat`, `append`, `reverse`, `aggregate`, `accumulate`, `range`, `repeat`, `slice`,
//! `splitAt`, `generate`, ….

use super::{Args, Builtin, apply, first_and_lambdas, int_of, items_of, values};
use crate::yaql::ErrorKind;
use crate::yaql::ast::{Call, Expr};
use crate::yaql::eval::{Machine, R, Scope, err};
use crate::yaql::value::{Kind, Val, compare, equal};
use std::cmp::Ordering;

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "where" | "filter" => where_,
        "select" | "map" => select,
        "selectMany" => select_many,
        "orderBy" | "orderByDescending" | "thenBy" | "thenByDescending" => order_by,
        "groupBy" => group_by,
        "any" | "all" => any_all,
        "first" | "last" | "single" => first_last,
        "count" => count,
        "sum" => sum,
        "max" | "min" => max_min,
        "take" | "limit" | "skip" | "takeWhile" | "skipWhile" => take_skip,
        "distinct" => distinct,
        "enumerate" => enumerate,
        "zip" | "zipLongest" => zip,
        "append" => append,
        "reverse" => reverse,
        "aggregate" | "reduce" | "accumulate" => aggregate,
        "range" => range,
        "repeat" => repeat,
        "cycle" => cycle,
        "slice" | "splitAt" | "splitWhere" | "sliceWhere" => slice,
        "indexWhere" | "lastIndexWhere" => index_where,
        "defaultIfEmpty" => default_if_empty,
        "generate" => generate,
        "memorize" => memorize,
        _ => return None,
    })
}

fn lambda<'e>(c: &Call, l: &[&'e Expr], i: usize, sig: &str) -> R<&'e Expr> {
    l.get(i).copied().ok_or_else(|| {
        err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects {sig}", c.name),
        )
    })
}

fn where_<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, predicate)";
    let (coll, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let f = lambda(c, &l, 0, SIG)?;
    let mut out = Vec::new();
    for x in items_of(m, c, &coll)? {
        if m.eval_with(f, sc, x.clone())?.truthy() {
            out.push(x);
        }
    }
    Ok(Val::list(out))
}

fn select<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, selector)";
    let (coll, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    if l.len() != 1 {
        return Err(Args::of(c).bad(SIG));
    }
    let f = l[0];
    let items = items_of(m, c, &coll)?;
    let mut out = Vec::with_capacity(items.len());
    for x in items {
        out.push(m.eval_with(f, sc, x)?);
    }
    Ok(Val::list(out))
}

fn select_many<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, selector)";
    let (coll, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let f = lambda(c, &l, 0, SIG)?;
    let mut out = Vec::new();
    for x in items_of(m, c, &coll)? {
        let v = m.eval_with(f, sc, x)?;
        match v.items() {
            Some(items) => {
                m.charge(items.len() as u64)?;
                out.extend(items);
            }
            None => out.push(v),
        }
    }
    Ok(Val::list(out))
}

/// Sorting: `orderBy` sorts by a key; `thenBy` sorts again, stably, only within runs of
/// equal earlier keys (the keys are kept beside the items for it).
fn order_by<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, keySelector)";
    let (coll, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let f = lambda(c, &l, 0, SIG)?;
    let desc = c.name.ends_with("Descending");
    let then = c.name.starts_with("then");
    let items = items_of(m, c, &coll)?;
    let mut keyed = Vec::with_capacity(items.len());
    for x in items {
        let k = m.eval_with(f, sc, x.clone())?;
        keyed.push((k, x));
    }
    let mut bad = false;
    let cmp = |a: &Val<'a>, b: &Val<'a>, bad: &mut bool| {
        compare(a, b).unwrap_or_else(|| {
            *bad = true;
            Ordering::Equal
        })
    };
    if then {
        // The receiver is the `orderBy(…)` (then `thenBy(…)`…) chain that sorted the items:
        // its keys, evaluated again per item, mark the runs of ties this sort orders.
        let earlier = earlier_keys(c.recv.as_deref()).ok_or_else(|| {
            err(
                ErrorKind::NoMatchingFunction,
                format!("{}() follows orderBy() or orderByDescending()", c.name),
            )
        })?;
        let mut groups: Vec<TieRun<'a>> = Vec::new();
        for kx in keyed {
            let mut ks = Vec::with_capacity(earlier.len());
            for e in &earlier {
                ks.push(m.eval_with(e, sc, kx.1.clone())?);
            }
            match groups.last_mut() {
                Some((last, g))
                    if last.len() == ks.len() && last.iter().zip(&ks).all(|(a, b)| equal(a, b)) =>
                {
                    g.push(kx)
                }
                _ => groups.push((ks, vec![kx])),
            }
        }
        let mut out = Vec::new();
        for (_, mut g) in groups {
            g.sort_by(|a, b| {
                let o = cmp(&a.0, &b.0, &mut bad);
                if desc { o.reverse() } else { o }
            });
            out.extend(g.into_iter().map(|(_, x)| x));
        }
        if bad {
            return Err(err(
                ErrorKind::NoMatchingFunction,
                format!("{}(): keys that cannot be compared", c.name),
            ));
        }
        return Ok(Val::list(out));
    }
    keyed.sort_by(|a, b| {
        let o = cmp(&a.0, &b.0, &mut bad);
        if desc { o.reverse() } else { o }
    });
    if bad {
        return Err(err(
            ErrorKind::NoMatchingFunction,
            format!("{}(): keys that cannot be compared", c.name),
        ));
    }
    Ok(Val::list(keyed.into_iter().map(|(_, x)| x).collect()))
}

/// A run of items tied on the earlier keys (those keys), each item with its own key.
type TieRun<'a> = (Vec<Val<'a>>, Vec<(Val<'a>, Val<'a>)>);

/// The keys of the `orderBy(k1).thenBy(k2)…` chain `e` is, for a following `thenBy`;
/// `None` when `e` is not such a chain.
fn earlier_keys(e: Option<&Expr>) -> Option<Vec<&Expr>> {
    let Some(Expr::Call(c)) = e else {
        return None;
    };
    let key = match c.args.first() {
        Some(crate::yaql::ast::Arg::Pos(k)) if c.args.len() == 1 && c.recv.is_some() => k,
        _ => return None,
    };
    let mut keys = match &*c.name {
        "orderBy" | "orderByDescending" => Vec::new(),
        "thenBy" | "thenByDescending" => earlier_keys(c.recv.as_deref())?,
        _ => return None,
    };
    keys.push(key);
    Some(keys)
}

/// `groupBy(keySelector, valueSelector?, aggregator?)`: `[key, values]` pairs in order of
/// first appearance. The aggregator is applied to the values, giving `[key, aggregate]`;
/// when it does not apply to them, to the `[key, values]` pair, giving the pair to keep
/// (yaql's older form).
fn group_by<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, keySelector, valueSelector?, aggregator?)";
    let a = Args::of(c);
    let mut pos = a.pos.clone();
    let coll = match r {
        Some(v) => v,
        None if !pos.is_empty() => {
            let x = pos.remove(0);
            m.eval(x, sc)?
        }
        None => return Err(a.bad(SIG)),
    };
    let mut agg = pos.get(2).copied();
    for (k, x) in &a.named {
        match &**k {
            "aggregator" => agg = Some(*x),
            "valueSelector" if pos.len() < 2 => pos.push(x),
            _ => return Err(a.bad(SIG)),
        }
    }
    let key = lambda(c, &pos, 0, SIG)?;
    let value = pos.get(1).copied().filter(|e| !matches!(e, Expr::Skip));
    let mut groups: Vec<(Val<'a>, Vec<Val<'a>>)> = Vec::new();
    for x in items_of(m, c, &coll)? {
        let k = m.eval_with(key, sc, x.clone())?;
        let v = match value {
            Some(f) => m.eval_with(f, sc, x)?,
            None => x,
        };
        m.charge(groups.len() as u64 / 8)?;
        match groups.iter_mut().find(|(g, _)| equal(g, &k)) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((k, vec![v])),
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (k, vs) in groups {
        out.push(match agg {
            Some(f) => match m.eval_with(f, sc, Val::list(vs.clone())) {
                Ok(v) => Val::list(vec![k, v]),
                Err(e)
                    if matches!(
                        e.kind,
                        ErrorKind::NoMatchingFunction | ErrorKind::NoFunction | ErrorKind::Index
                    ) =>
                {
                    m.eval_with(f, sc, Val::list(vec![k, Val::list(vs)]))?
                }
                Err(e) => return Err(e),
            },
            None => Val::list(vec![k, Val::list(vs)]),
        });
    }
    Ok(Val::list(out))
}

/// `left.join(right, predicate, selector)`: `selector($1, $2)` for each pair of items where
/// `predicate($1, $2)` holds.
pub(super) fn cross_join<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, collection, predicate, selector)";
    let (left, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let (Some(rx), Some(p), Some(f)) = (l.first(), l.get(1), l.get(2)) else {
        return Err(Args::of(c).bad(SIG));
    };
    let right = m.eval(rx, sc)?;
    let (a, b) = (items_of(m, c, &left)?, items_of(m, c, &right)?);
    let mut out = Vec::new();
    for x in &a {
        for y in &b {
            let pair = [x.clone(), y.clone()];
            if apply(m, sc, p, &pair)?.truthy() {
                out.push(apply(m, sc, f, &pair)?);
            }
        }
    }
    Ok(Val::list(out))
}

fn any_all<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (coll, l) = first_and_lambdas(m, sc, c, r, "(collection, predicate?)")?;
    let all = &*c.name == "all";
    for x in items_of(m, c, &coll)? {
        let t = match l.first() {
            Some(f) => m.eval_with(f, sc, x)?.truthy(),
            // `any()` without a predicate: whether there is an item; `all()`: whether each
            // item is true.
            None => !all || x.truthy(),
        };
        if all && !t {
            return Ok(Val::Bool(false));
        }
        if !all && t {
            return Ok(Val::Bool(true));
        }
    }
    Ok(Val::Bool(all))
}

fn first_last<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(collection, default?)")?;
    let items = items_of(m, c, &v[0])?;
    let found = match &*c.name {
        "first" => items.first().cloned(),
        "last" => items.last().cloned(),
        _ => {
            if items.len() == 1 {
                items.first().cloned()
            } else {
                return Err(err(
                    ErrorKind::Value,
                    format!("single(): the collection has {} items, not 1", items.len()),
                ));
            }
        }
    };
    found.or_else(|| v.get(1).cloned()).ok_or_else(|| {
        err(
            ErrorKind::Value,
            format!("{}(): the collection is empty", c.name),
        )
    })
}

fn count<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    if r.is_none() {
        return Err(err(
            ErrorKind::NoFunction,
            "count() is a method: collection.count()",
        ));
    }
    let (coll, l) = first_and_lambdas(m, sc, c, r, "(collection, predicate?)")?;
    let mut n = 0;
    for x in items_of(m, c, &coll)? {
        if match l.first() {
            Some(f) => m.eval_with(f, sc, x)?.truthy(),
            None => true,
        } {
            n += 1;
        }
    }
    Ok(Val::Int(n))
}

fn sum<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(collection, initial?)")?;
    let items = items_of(m, c, &v[0])?;
    // Without an initial value: the items added up from the first (lists concatenate);
    // 0 for none.
    let mut items = items.into_iter();
    let mut acc = match v.get(1) {
        Some(x) => x.clone(),
        None => match items.next() {
            Some(x) => x,
            None => return Ok(Val::Int(0)),
        },
    };
    for x in items {
        acc = m.binary(crate::yaql::ast::BinOp::Add, &acc, &x)?;
    }
    Ok(acc)
}

/// `max(a, b)` of two values, or `collection.max(initial?)`.
fn max_min<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(collection, initial?) or (a, b)")?;
    let is_max = &*c.name == "max";
    let (items, init) = match v[0].kind() {
        Kind::List | Kind::Set => (items_of(m, c, &v[0])?, v.get(1).cloned()),
        _ if v.len() == 2 => (vec![v[0].clone(), v[1].clone()], None),
        _ => return Err(Args::of(c).bad("(collection, initial?) or (a, b)")),
    };
    let mut best: Option<Val<'a>> = None;
    for x in items {
        best = Some(match best {
            None => x,
            Some(b) => {
                let o = compare(&x, &b).ok_or_else(|| {
                    err(
                        ErrorKind::NoMatchingFunction,
                        format!("{}(): values that cannot be compared", c.name),
                    )
                })?;
                if (is_max && o.is_gt()) || (!is_max && o.is_lt()) {
                    x
                } else {
                    b
                }
            }
        });
    }
    best.or(init).ok_or_else(|| {
        err(
            ErrorKind::Value,
            format!("{}(): the collection is empty", c.name),
        )
    })
}

fn take_skip<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (coll, l) = first_and_lambdas(m, sc, c, r, "(collection, count or predicate)")?;
    let arg = lambda(c, &l, 0, "(collection, count or predicate)")?;
    let items = items_of(m, c, &coll)?;
    let out: Vec<Val<'a>> = match &*c.name {
        "takeWhile" | "skipWhile" => {
            let mut n = 0;
            for x in &items {
                if !m.eval_with(arg, sc, x.clone())?.truthy() {
                    break;
                }
                n += 1;
            }
            if &*c.name == "takeWhile" {
                items[..n].to_vec()
            } else {
                items[n..].to_vec()
            }
        }
        name => {
            let n = int_of(c, &m.eval(arg, sc)?)?.max(0) as usize;
            let n = n.min(items.len());
            if name == "skip" {
                items[n..].to_vec()
            } else {
                items[..n].to_vec()
            }
        }
    };
    Ok(Val::list(out))
}

fn distinct<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (coll, l) = first_and_lambdas(m, sc, c, r, "(collection, keySelector?)")?;
    let mut seen: Vec<Val<'a>> = Vec::new();
    let mut out = Vec::new();
    for x in items_of(m, c, &coll)? {
        let k = match l.first() {
            Some(f) => m.eval_with(f, sc, x.clone())?,
            None => x.clone(),
        };
        m.charge(seen.len() as u64 / 8)?;
        if !seen.iter().any(|s| equal(s, &k)) {
            seen.push(k);
            out.push(x);
        }
    }
    Ok(Val::list(out))
}

fn enumerate<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(collection, start?)")?;
    let start = match v.get(1) {
        Some(x) => int_of(c, x)?,
        None => 0,
    };
    let items = items_of(m, c, &v[0])?;
    Ok(Val::list(
        items
            .into_iter()
            .enumerate()
            .map(|(i, x)| Val::list(vec![Val::Int(start + i as i64), x]))
            .collect(),
    ))
}

fn zip<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let a = Args::of(c);
    let mut lists = Vec::new();
    if let Some(x) = r {
        lists.push(items_of(m, c, &x)?);
    }
    for x in &a.pos {
        let v = m.eval(x, sc)?;
        lists.push(items_of(m, c, &v)?);
    }
    let mut default = Val::Null;
    for (k, x) in &a.named {
        if &**k != "default" {
            return Err(a.bad("collections and 'default => value'"));
        }
        default = m.eval(x, sc)?;
    }
    let n = if &*c.name == "zip" {
        lists.iter().map(Vec::len).min().unwrap_or(0)
    } else {
        lists.iter().map(Vec::len).max().unwrap_or(0)
    };
    Ok(Val::list(
        (0..n)
            .map(|i| {
                Val::list(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or_else(|| default.clone()))
                        .collect(),
                )
            })
            .collect(),
    ))
}

/// `concat(list, list, …)`.
pub(super) fn concat_lists<'a>(m: &mut Machine<'_, 'a>, c: &Call, v: &[Val<'a>]) -> R<Val<'a>> {
    let mut out = Vec::new();
    for x in v {
        out.extend(items_of(m, c, x)?);
    }
    Ok(Val::list(out))
}

fn append<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, usize::MAX, "(collection, values…)")?;
    let mut out = items_of(m, c, &v[0])?;
    out.extend(v[1..].iter().cloned());
    Ok(Val::list(out))
}

fn reverse<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a collection")?;
    let mut out = items_of(m, c, &v[0])?;
    out.reverse();
    Ok(Val::list(out))
}

/// `aggregate(f, seed?)` / `reduce`: folds with `$1` the accumulator and `$2` the item;
/// `accumulate` gives every intermediate value.
fn aggregate<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(collection, function, seed?)";
    let (coll, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let f = lambda(c, &l, 0, SIG)?;
    let mut items = items_of(m, c, &coll)?.into_iter();
    let mut acc = match l.get(1) {
        Some(s) => m.eval(s, sc)?,
        None => items.next().ok_or_else(|| {
            err(
                ErrorKind::Value,
                format!("{}(): an empty collection and no seed", c.name),
            )
        })?,
    };
    let mut all = vec![acc.clone()];
    for x in items {
        acc = apply(m, sc, f, &[acc, x])?;
        all.push(acc.clone());
    }
    Ok(if &*c.name == "accumulate" {
        Val::list(all)
    } else {
        acc
    })
}

fn range<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 3, "(stop) or (start, stop, step?)")?;
    let ints = v.iter().map(|x| int_of(c, x)).collect::<R<Vec<i64>>>()?;
    let (start, stop, step) = match ints.as_slice() {
        [stop] => (0, *stop, 1),
        [a, b] => (*a, *b, 1),
        [a, b, s] => (*a, *b, *s),
        _ => unreachable!("checked by values()"),
    };
    if step == 0 {
        return Err(err(ErrorKind::Value, "range(): the step is 0"));
    }
    let n = if step > 0 {
        (stop - start + step - 1).max(0) / step
    } else {
        (start - stop - step - 1).max(0) / -step
    };
    m.charge(n as u64)?;
    Ok(Val::list(
        (0..n).map(|i| Val::Int(start + i * step)).collect(),
    ))
}

/// `value.repeat(times)`; without `times` it would never end and is refused.
fn repeat<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(value, times)")?;
    let Some(n) = v.get(1) else {
        return Err(err(
            ErrorKind::Limit,
            "repeat() without a count is endless: give repeat(value, times)",
        ));
    };
    let n = int_of(c, n)?.max(0);
    m.charge(n as u64)?;
    Ok(Val::list(vec![v[0].clone(); n as usize]))
}

fn cycle<'a>(
    _: &mut Machine<'_, 'a>,
    _: &Scope<'_, 'a>,
    _: &Call,
    _: Option<Val<'a>>,
) -> R<Val<'a>> {
    Err(err(
        ErrorKind::Limit,
        "cycle() makes an endless collection, which is not supported",
    ))
}

/// `slice(n)`: runs of n; `splitAt(n)`: before and after n; `splitWhere(p)`: split at items
/// where p holds (dropping them); `sliceWhere(p)`: a new run whenever p changes.
fn slice<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (coll, l) = first_and_lambdas(m, sc, c, r, "(collection, count or predicate)")?;
    let arg = lambda(c, &l, 0, "(collection, count or predicate)")?;
    let items = items_of(m, c, &coll)?;
    let out: Vec<Val<'a>> = match &*c.name {
        "slice" => {
            let n = int_of(c, &m.eval(arg, sc)?)?;
            if n <= 0 {
                return Err(err(
                    ErrorKind::Value,
                    "slice(): the length must be positive",
                ));
            }
            items
                .chunks(n as usize)
                .map(|ch| Val::list(ch.to_vec()))
                .collect()
        }
        "splitAt" => {
            let n = (int_of(c, &m.eval(arg, sc)?)?.max(0) as usize).min(items.len());
            vec![
                Val::list(items[..n].to_vec()),
                Val::list(items[n..].to_vec()),
            ]
        }
        "splitWhere" => {
            let mut out = vec![Vec::new()];
            for x in items {
                if m.eval_with(arg, sc, x.clone())?.truthy() {
                    out.push(Vec::new());
                } else if let Some(last) = out.last_mut() {
                    last.push(x);
                }
            }
            out.into_iter().map(Val::list).collect()
        }
        _ => {
            let mut out: Vec<Vec<Val<'a>>> = Vec::new();
            let mut prev: Option<Val<'a>> = None;
            for x in items {
                let k = m.eval_with(arg, sc, x.clone())?;
                match (&prev, out.last_mut()) {
                    (Some(p), Some(run)) if equal(p, &k) => run.push(x),
                    _ => out.push(vec![x]),
                }
                prev = Some(k);
            }
            out.into_iter().map(Val::list).collect()
        }
    };
    Ok(Val::list(out))
}

fn index_where<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let (coll, l) = first_and_lambdas(m, sc, c, r, "(collection, predicate)")?;
    let f = lambda(c, &l, 0, "(collection, predicate)")?;
    let mut found = -1;
    for (i, x) in items_of(m, c, &coll)?.into_iter().enumerate() {
        if m.eval_with(f, sc, x)?.truthy() {
            found = i as i64;
            if &*c.name == "indexWhere" {
                break;
            }
        }
    }
    Ok(Val::Int(found))
}

fn default_if_empty<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 2, "(collection, default)")?;
    let items = items_of(m, c, &v[0])?;
    Ok(if items.is_empty() {
        v[1].clone()
    } else {
        Val::list(items)
    })
}

/// `generate(initial, predicate, producer, selector?)`.
fn generate<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    const SIG: &str = "(initial, predicate, producer, selector?)";
    let (mut x, l) = first_and_lambdas(m, sc, c, r, SIG)?;
    let (p, f) = (lambda(c, &l, 0, SIG)?, lambda(c, &l, 1, SIG)?);
    let mut out = Vec::new();
    while m.eval_with(p, sc, x.clone())?.truthy() {
        out.push(match l.get(2) {
            Some(s) => m.eval_with(s, sc, x.clone())?,
            None => x.clone(),
        });
        x = m.eval_with(f, sc, x)?;
    }
    Ok(Val::list(out))
}

fn memorize<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a collection")?;
    Ok(Val::list(items_of(m, c, &v[0])?))
}
