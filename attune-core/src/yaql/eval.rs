//! The evaluator: an [`Expr`] over a scope (`$`, `$name`, functions defined with `def`),
//! with a step budget and a depth limit.

use super::ast::{Arg, BinOp, Call, Expr};
use super::value::{Kind, Num, Val, compare, display, equal};
use super::{ErrorKind, EvalError, Host, MAX_DEPTH, MAX_STEPS, MAX_STRING_BYTES};
use std::sync::Arc;

pub(crate) type R<T> = Result<T, EvalError>;

/// A function defined with `def(name, body)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Def<'e> {
    pub(crate) body: &'e Expr,
}

/// The variables in reach: `$`, `$name`, and functions from `def`, with the scope they were
/// made in as parent.
#[derive(Debug)]
pub(crate) struct Scope<'s, 'a> {
    pub(crate) dollar: Val<'a>,
    pub(crate) vars: Vec<(Arc<str>, Val<'a>)>,
    pub(crate) defs: Vec<(Arc<str>, Def<'s>)>,
    pub(crate) parent: Option<&'s Scope<'s, 'a>>,
}

impl<'s, 'a> Scope<'s, 'a> {
    /// A child scope whose `$` is `dollar`.
    pub(crate) fn child(&'s self, dollar: Val<'a>) -> Scope<'s, 'a> {
        Scope {
            dollar,
            vars: Vec::new(),
            defs: Vec::new(),
            parent: Some(self),
        }
    }

    fn var(&self, name: &str) -> Option<Val<'a>> {
        let mut s = Some(self);
        while let Some(sc) = s {
            if let Some((_, v)) = sc.vars.iter().rev().find(|(k, _)| &**k == name) {
                return Some(v.clone());
            }
            s = sc.parent;
        }
        None
    }

    fn def(&self, name: &str) -> Option<Def<'s>> {
        let mut s = Some(self);
        while let Some(sc) = s {
            if let Some((_, d)) = sc.defs.iter().rev().find(|(k, _)| &**k == name) {
                return Some(*d);
            }
            s = sc.parent;
        }
        None
    }
}

/// One evaluation's budget and host.
pub(crate) struct Machine<'h, 'a> {
    pub(crate) steps: u64,
    pub(crate) depth: usize,
    pub(crate) host: &'h dyn Host<'a>,
}

impl std::fmt::Debug for Machine<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("steps", &self.steps)
            .finish()
    }
}

pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> EvalError {
    EvalError {
        kind,
        message: message.into(),
    }
}

/// The error of an operator given values it does not take.
pub(crate) fn no_operator(op: &str, a: &Val<'_>, b: Option<&Val<'_>>) -> EvalError {
    let what = match b {
        Some(b) => format!("{} and {}", a.kind().name(), b.kind().name()),
        None => a.kind().name().to_string(),
    };
    err(
        ErrorKind::NoMatchingFunction,
        format!("operator '{op}' does not apply to {what}"),
    )
}

impl<'h, 'a> Machine<'h, 'a> {
    /// Spends `n` steps of the budget.
    pub(crate) fn charge(&mut self, n: u64) -> R<()> {
        self.steps += n;
        if self.steps > MAX_STEPS {
            return Err(err(
                ErrorKind::Limit,
                format!("evaluation exceeded {MAX_STEPS} steps"),
            ));
        }
        Ok(())
    }

    /// Checks the length of a string about to be made.
    pub(crate) fn check_len(&mut self, bytes: usize) -> R<()> {
        if bytes > MAX_STRING_BYTES {
            return Err(err(
                ErrorKind::Limit,
                format!("a string would exceed {MAX_STRING_BYTES} bytes"),
            ));
        }
        self.charge((bytes / 64) as u64)
    }

    pub(crate) fn eval(&mut self, e: &Expr, sc: &Scope<'_, 'a>) -> R<Val<'a>> {
        self.charge(1)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(err(
                ErrorKind::Limit,
                format!("evaluation nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let r = self.eval_inner(e, sc);
        self.depth -= 1;
        r
    }

    /// Evaluates `e` with `$` bound to `item` (a lambda argument of `where`, `select`, …).
    pub(crate) fn eval_with(&mut self, e: &Expr, sc: &Scope<'_, 'a>, item: Val<'a>) -> R<Val<'a>> {
        let child = sc.child(item);
        self.eval(e, &child)
    }

    fn eval_inner(&mut self, e: &Expr, sc: &Scope<'_, 'a>) -> R<Val<'a>> {
        match e {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Skip => Ok(Val::Null),
            Expr::Var(name) => Ok(if name.is_empty() {
                sc.dollar.clone()
            } else {
                sc.var(name).unwrap_or(Val::Null)
            }),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    out.push(self.eval(x, sc)?);
                }
                Ok(Val::list(out))
            }
            Expr::Dict(items) => {
                let mut out: Vec<(Val<'a>, Val<'a>)> = Vec::with_capacity(items.len());
                for (k, v) in items {
                    let k = self.eval(k, sc)?;
                    let v = self.eval(v, sc)?;
                    dict_insert(&mut out, k, v);
                }
                Ok(Val::Dict(Arc::new(out)))
            }
            Expr::Attr { recv, name, safe } => {
                let r = self.eval(recv, sc)?;
                if *safe && r.is_null() {
                    return Ok(Val::Null);
                }
                self.attr(&r, name)
            }
            Expr::Index { recv, args } => {
                let r = self.eval(recv, sc)?;
                let mut pos = Vec::with_capacity(args.len());
                let mut default = None;
                for a in args {
                    match a {
                        Arg::Pos(x) => pos.push(self.eval(x, sc)?),
                        Arg::Pair(k, v) if pair_name(k).as_deref() == Some("default") => {
                            default = Some(self.eval(v, sc)?);
                        }
                        Arg::Pair(..) => {
                            return Err(err(
                                ErrorKind::NoMatchingFunction,
                                "an index takes a key and an optional 'default => value'",
                            ));
                        }
                    }
                }
                if pos.len() == 2 && default.is_none() {
                    default = pos.pop();
                }
                let [i] = pos.as_slice() else {
                    return Err(err(
                        ErrorKind::NoMatchingFunction,
                        "an index takes a key and an optional default",
                    ));
                };
                match (index_of(&r, i), default) {
                    (Err(e), Some(d)) if matches!(e.kind, ErrorKind::Key | ErrorKind::Index) => {
                        Ok(d)
                    }
                    (res, _) => res,
                }
            }
            Expr::Call(c) => self.call(c, sc),
            Expr::Neg(x) => {
                let v = self.eval(x, sc)?;
                match (v.as_num(), &v) {
                    (Some(Num::Int(i)), _) => {
                        i.checked_neg().map(Val::Int).ok_or_else(|| overflow("-"))
                    }
                    (Some(Num::Float(f)), _) => Ok(Val::Float(-f)),
                    (None, Val::TimeSpan(t)) => Ok(Val::TimeSpan(-*t)),
                    _ => Err(no_operator("unary -", &v, None)),
                }
            }
            Expr::Plus(x) => {
                let v = self.eval(x, sc)?;
                match v.kind() {
                    Kind::Int | Kind::Float | Kind::TimeSpan => Ok(v.resolved()),
                    _ => Err(no_operator("unary +", &v, None)),
                }
            }
            Expr::Not(x) => Ok(Val::Bool(!self.eval(x, sc)?.truthy())),
            Expr::And(a, b) => {
                let l = self.eval(a, sc)?;
                if !l.truthy() {
                    return Ok(l);
                }
                self.eval(b, sc)
            }
            Expr::Or(a, b) => {
                let l = self.eval(a, sc)?;
                if l.truthy() {
                    return Ok(l);
                }
                self.eval(b, sc)
            }
            Expr::Bin(op, a, b) => {
                let l = self.eval(a, sc)?;
                let r = self.eval(b, sc)?;
                self.binary(*op, &l, &r)
            }
            Expr::Arrow(l, r) => self.arrow(l, r, sc),
        }
    }

    /// `recv.name`: a map's key, each item's key for a list, a date's or time span's part.
    pub(crate) fn attr(&mut self, r: &Val<'a>, name: &str) -> R<Val<'a>> {
        match r.kind() {
            Kind::Dict => r
                .get_str(name)
                .ok_or_else(|| err(ErrorKind::Key, format!("no key '{name}'"))),
            Kind::List | Kind::Set => {
                let items = r.items().unwrap_or_default();
                self.charge(items.len() as u64)?;
                let mut out = Vec::with_capacity(items.len());
                for x in &items {
                    out.push(self.attr(x, name)?);
                }
                Ok(Val::list(out))
            }
            Kind::DateTime | Kind::TimeSpan => super::stdlib::datetime::property(r, name),
            _ => Err(err(
                ErrorKind::NoFunction,
                format!(
                    "unknown property '{name}' of a {} value (keys are read from maps)",
                    r.kind().name()
                ),
            )),
        }
    }

    fn call(&mut self, c: &Call, sc: &Scope<'_, 'a>) -> R<Val<'a>> {
        let recv = match &c.recv {
            Some(r) => {
                let v = self.eval(r, sc)?;
                if c.safe && v.is_null() {
                    return Ok(Val::Null);
                }
                Some(v)
            }
            None => None,
        };
        if recv.is_none()
            && let Some(d) = sc.def(&c.name)
        {
            return self.call_def(c, d, sc);
        }
        let overridden = recv.is_none() && self.host.overrides(&c.name);
        if let Some(f) = c.builtin.filter(|_| !overridden) {
            return f(self, sc, c, recv);
        }
        let mut args = Vec::with_capacity(c.args.len() + 1);
        args.extend(recv);
        let mut named = Vec::new();
        for a in &c.args {
            match a {
                Arg::Pos(x) => args.push(self.eval(x, sc)?),
                Arg::Pair(k, v) => {
                    let k = pair_name(k).ok_or_else(|| {
                        err(
                            ErrorKind::NoMatchingFunction,
                            format!("{}(): a named argument needs a name left of '=>'", c.name),
                        )
                    })?;
                    named.push((k.to_string(), self.eval(v, sc)?));
                }
            }
        }
        match self.host.call(&c.name, args, named) {
            Some(r) => r.map_err(|m| err(ErrorKind::Host, format!("{}(): {m}", c.name))),
            None => Err(err(
                ErrorKind::NoFunction,
                format!("unknown function '{}' (column {})", c.name, c.col),
            )),
        }
    }

    /// Calls a function defined with `def`: `$` and `$1`… are its positional arguments,
    /// `$name` its named ones.
    fn call_def(&mut self, c: &Call, d: Def<'_>, sc: &Scope<'_, 'a>) -> R<Val<'a>> {
        let mut vars = Vec::new();
        let mut first = None;
        let mut n = 0;
        for a in &c.args {
            match a {
                Arg::Pos(x) => {
                    let v = self.eval(x, sc)?;
                    n += 1;
                    if first.is_none() {
                        first = Some(v.clone());
                    }
                    vars.push((Arc::from(n.to_string().as_str()), v));
                }
                Arg::Pair(k, v) => {
                    let name = pair_name(k)
                        .ok_or_else(|| err(ErrorKind::NoMatchingFunction, "bad argument name"))?;
                    let v = self.eval(v, sc)?;
                    vars.push((name, v));
                }
            }
        }
        let mut child = sc.child(first.unwrap_or_else(|| sc.dollar.clone()));
        child.vars = vars;
        self.eval(d.body, &child)
    }

    /// `left -> right`: `let`, `with`, `def` and `unpack` on the left make the scope
    /// `right` is evaluated in.
    fn arrow(&mut self, l: &Expr, r: &Expr, sc: &Scope<'_, 'a>) -> R<Val<'a>> {
        let Expr::Call(c) = l else {
            return Err(err(
                ErrorKind::NoMatchingFunction,
                "operator '->' needs let(), with(), def() or unpack() on its left",
            ));
        };
        let mut child = sc.child(sc.dollar.clone());
        match &*c.name {
            "let" | "with" if c.recv.is_none() => {
                let mut n = 0;
                for a in &c.args {
                    match a {
                        Arg::Pos(x) => {
                            let v = self.eval(x, sc)?;
                            if n == 0 && &*c.name == "with" {
                                child.dollar = v.clone();
                            }
                            n += 1;
                            child.vars.push((Arc::from(n.to_string().as_str()), v));
                        }
                        Arg::Pair(k, v) => {
                            let name = pair_name(k).ok_or_else(|| {
                                err(ErrorKind::NoMatchingFunction, "let(): bad variable name")
                            })?;
                            let v = self.eval(v, sc)?;
                            child.vars.push((name, v));
                        }
                    }
                }
            }
            "def" if c.recv.is_none() => {
                let (Some(Arg::Pos(name)), Some(Arg::Pos(body)), 2) =
                    (c.args.first(), c.args.get(1), c.args.len())
                else {
                    return Err(err(
                        ErrorKind::NoMatchingFunction,
                        "def() expects a name and a body: def(name, expression)",
                    ));
                };
                let name = self.eval(name, sc)?;
                let Some(name) = name.as_str() else {
                    return Err(err(
                        ErrorKind::NoMatchingFunction,
                        "def(): the name must be a string",
                    ));
                };
                child.defs.push((Arc::from(name), Def { body }));
                return self.eval(r, &child);
            }
            "unpack" => {
                let seq = match &c.recv {
                    Some(x) => self.eval(x, sc)?,
                    None => sc.dollar.clone(),
                };
                let items = seq
                    .items()
                    .ok_or_else(|| err(ErrorKind::NoMatchingFunction, "unpack() expects a list"))?;
                let names: Vec<Arc<str>> = if c.args.is_empty() {
                    (1..=items.len())
                        .map(|i| Arc::from(i.to_string().as_str()))
                        .collect()
                } else {
                    let mut v = Vec::new();
                    for a in &c.args {
                        let Arg::Pos(x) = a else {
                            return Err(err(ErrorKind::NoMatchingFunction, "unpack() takes names"));
                        };
                        let n = self.eval(x, sc)?;
                        v.push(Arc::from(n.as_str().unwrap_or_default()));
                    }
                    v
                };
                if names.len() != items.len() {
                    return Err(err(
                        ErrorKind::Value,
                        format!("unpack(): {} names for {} values", names.len(), items.len()),
                    ));
                }
                child.dollar = seq;
                child.vars.extend(names.into_iter().zip(items));
            }
            other => {
                return Err(err(
                    ErrorKind::NoMatchingFunction,
                    format!(
                        "operator '->' needs let(), with(), def() or unpack() on its left, \
                         not {other}()"
                    ),
                ));
            }
        }
        self.eval(r, &child)
    }

    pub(crate) fn binary(&mut self, op: BinOp, l: &Val<'a>, r: &Val<'a>) -> R<Val<'a>> {
        use BinOp::*;
        match op {
            Eq => Ok(Val::Bool(equal(l, r))),
            Ne => Ok(Val::Bool(!equal(l, r))),
            Lt | Gt | Le | Ge if l.kind() == Kind::Set && r.kind() == Kind::Set => {
                let (a, b) = (l.items().unwrap_or_default(), r.items().unwrap_or_default());
                self.charge((a.len() * b.len()) as u64 / 8)?;
                let within =
                    |x: &[Val<'a>], y: &[Val<'a>]| x.iter().all(|p| y.iter().any(|q| equal(p, q)));
                Ok(Val::Bool(match op {
                    Lt => a.len() < b.len() && within(&a, &b),
                    Le => within(&a, &b),
                    Gt => a.len() > b.len() && within(&b, &a),
                    _ => within(&b, &a),
                }))
            }
            Lt | Gt | Le | Ge => {
                let ok = match (l.kind(), r.kind()) {
                    (Kind::Null, _) | (_, Kind::Null) => true,
                    (a, b) => {
                        a == b
                            || matches!((a, b), (Kind::Int | Kind::Float, Kind::Int | Kind::Float))
                    }
                } && !matches!(l.kind(), Kind::List | Kind::Dict | Kind::Set)
                    && !matches!(r.kind(), Kind::List | Kind::Dict | Kind::Set);
                let ord = if ok { compare(l, r) } else { None };
                let Some(o) = ord else {
                    return Err(no_operator(op.symbol(), l, Some(r)));
                };
                Ok(Val::Bool(match op {
                    Lt => o.is_lt(),
                    Gt => o.is_gt(),
                    Le => o.is_le(),
                    _ => o.is_ge(),
                }))
            }
            In => match r.kind() {
                Kind::Str if l.kind() == Kind::Str => Ok(Val::Bool(
                    r.as_str().unwrap_or("").contains(l.as_str().unwrap_or("")),
                )),
                Kind::List | Kind::Set => {
                    let items = r.items().unwrap_or_default();
                    self.charge(items.len() as u64)?;
                    Ok(Val::Bool(items.iter().any(|x| equal(x, l))))
                }
                _ => Err(no_operator("in", l, Some(r))),
            },
            Match | NotMatch => {
                let s = l
                    .as_str()
                    .ok_or_else(|| no_operator(op.symbol(), l, Some(r)))?;
                let found = match r {
                    Val::Regex(re) => re.is_match(s),
                    _ => {
                        let p = r
                            .as_str()
                            .ok_or_else(|| no_operator(op.symbol(), l, Some(r)))?;
                        super::stdlib::regex::compile(p)?.is_match(s)
                    }
                };
                Ok(Val::Bool(found == (op == Match)))
            }
            Add | Sub | Mul | Div | Mod => self.arith(op, l, r),
        }
    }

    fn arith(&mut self, op: BinOp, l: &Val<'a>, r: &Val<'a>) -> R<Val<'a>> {
        use BinOp::*;
        if let (Some(a), Some(b)) = (l.as_num(), r.as_num()) {
            return arith_num(op, a, b);
        }
        match (op, l.kind(), r.kind()) {
            (Add, Kind::Str, Kind::Str) => {
                let (a, b) = (l.as_str().unwrap_or(""), r.as_str().unwrap_or(""));
                self.check_len(a.len() + b.len())?;
                Ok(Val::str(&format!("{a}{b}")))
            }
            (Add, Kind::List, Kind::List) => {
                let mut a = l.items().unwrap_or_default();
                let b = r.items().unwrap_or_default();
                self.charge((a.len() + b.len()) as u64)?;
                a.extend(b);
                Ok(Val::list(a))
            }
            (Add, Kind::Dict, Kind::Dict) => {
                let mut a = l.entries().unwrap_or_default();
                let b = r.entries().unwrap_or_default();
                self.charge((a.len() + b.len()) as u64)?;
                for (k, v) in b {
                    dict_insert(&mut a, k, v);
                }
                Ok(Val::Dict(Arc::new(a)))
            }
            (Mul, Kind::Str, Kind::Int) | (Mul, Kind::Int, Kind::Str) => {
                let (s, n) = match (l.as_str(), r.as_str()) {
                    (Some(s), _) => (s, r.as_int().unwrap_or(0)),
                    (_, Some(s)) => (s, l.as_int().unwrap_or(0)),
                    _ => ("", 0),
                };
                let n = usize::try_from(n).unwrap_or(0);
                self.check_len(s.len().saturating_mul(n))?;
                Ok(Val::str(&s.repeat(n)))
            }
            _ => super::stdlib::datetime::arith(op, l, r)
                .unwrap_or_else(|| Err(no_operator(op.symbol(), l, Some(r)))),
        }
    }
}

fn overflow(op: &str) -> EvalError {
    err(
        ErrorKind::Value,
        format!("integer overflow in '{op}' (integers are 64-bit)"),
    )
}

/// Arithmetic on numbers as Python does it: `/` of integers floors, `mod` takes the
/// divisor's sign.
pub(crate) fn arith_num<'a>(op: BinOp, a: Num, b: Num) -> R<Val<'a>> {
    use BinOp::*;
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => {
            let r = match op {
                Add => x.checked_add(y),
                Sub => x.checked_sub(y),
                Mul => x.checked_mul(y),
                Div | Mod if y == 0 => {
                    return Err(err(ErrorKind::Value, "division by zero"));
                }
                Div => x.checked_div(y).map(|q| {
                    if x % y != 0 && ((x < 0) != (y < 0)) {
                        q - 1
                    } else {
                        q
                    }
                }),
                Mod => x.checked_rem(y).map(|r| {
                    if r != 0 && ((r < 0) != (y < 0)) {
                        r + y
                    } else {
                        r
                    }
                }),
                _ => None,
            };
            r.map(Val::Int).ok_or_else(|| overflow(op.symbol()))
        }
        _ => {
            let (x, y) = (a.f(), b.f());
            Ok(Val::Float(match op {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                Div | Mod if y == 0.0 => return Err(err(ErrorKind::Value, "division by zero")),
                Div => x / y,
                Mod => x - y * (x / y).floor(),
                _ => return Err(err(ErrorKind::Value, "not arithmetic")),
            }))
        }
    }
}

/// `recv[index]`: a list's item (negative counts from the end) or a map's key.
pub(crate) fn index_of<'a>(r: &Val<'a>, i: &Val<'_>) -> R<Val<'a>> {
    match r.kind() {
        Kind::List => {
            let Some(n) = i.as_int() else {
                return Err(err(
                    ErrorKind::NoMatchingFunction,
                    format!("a list index must be an integer, not {}", i.kind().name()),
                ));
            };
            let items = r.items().unwrap_or_default();
            let len = items.len() as i64;
            let at = if n < 0 { n + len } else { n };
            if at < 0 || at >= len {
                return Err(err(
                    ErrorKind::Index,
                    format!("index {n} out of range (the list has {len} items)"),
                ));
            }
            Ok(items[at as usize].clone())
        }
        Kind::Dict => r
            .get(i)
            .ok_or_else(|| err(ErrorKind::Key, format!("no key {}", display(i)))),
        _ => Err(err(
            ErrorKind::NoMatchingFunction,
            format!("a {} value cannot be indexed", r.kind().name()),
        )),
    }
}

/// Inserts or replaces `k` in map entries.
pub(crate) fn dict_insert<'a>(d: &mut Vec<(Val<'a>, Val<'a>)>, k: Val<'a>, v: Val<'a>) {
    match d.iter_mut().find(|(x, _)| equal(x, &k)) {
        Some(e) => e.1 = v,
        None => d.push((k, v)),
    }
}

/// The name of a named argument: a bare word (or string) on the left of `=>`.
pub(crate) fn pair_name(k: &Expr) -> Option<Arc<str>> {
    match k {
        Expr::Lit(Val::Str(s)) => Some(s.clone()),
        _ => None,
    }
}
