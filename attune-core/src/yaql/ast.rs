//! The tree of a parsed YAQL expression.

use super::stdlib::Builtin;
use super::value::Val;
use std::sync::Arc;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    In,
    Match,
    NotMatch,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "mod",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Gt => ">",
            BinOp::Le => "<=",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Match => "=~",
            BinOp::NotMatch => "!~",
        }
    }
}

/// An argument of a call: `expr`, or `key => expr` (a named argument when `key` is a bare
/// word, a mapping otherwise).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Pos(Expr),
    Pair(Expr, Expr),
}

/// A function or method call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) name: Arc<str>,
    /// The standard library function of that name, when there is one.
    pub(crate) builtin: Option<Builtin>,
    /// `recv.name(...)`: the receiver, and whether it was `?.`.
    pub(crate) recv: Option<Box<Expr>>,
    pub(crate) safe: bool,
    pub(crate) args: Vec<Arg>,
    /// Where the name starts (0-based character).
    pub(crate) col: usize,
}

/// An expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Lit(Val<'static>),
    /// An argument left out (`f(a,, c)`): the function's default.
    Skip,
    /// `$` (empty name) or `$name`.
    Var(Arc<str>),
    List(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    /// `recv.name` (or `recv?.name`).
    Attr {
        recv: Box<Expr>,
        name: Arc<str>,
        safe: bool,
    },
    /// `recv[index]` (also `recv[key, default]`).
    Index {
        recv: Box<Expr>,
        args: Vec<Arg>,
    },
    Call(Box<Call>),
    Neg(Box<Expr>),
    Plus(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `left -> right`: `right` evaluated in the context `left` gives.
    Arrow(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Every call in the tree (for checks of unknown function names).
    pub(crate) fn calls<'e>(&'e self, out: &mut Vec<&'e Call>) {
        match self {
            Expr::Lit(_) | Expr::Var(_) | Expr::Skip => {}
            Expr::List(xs) => xs.iter().for_each(|x| x.calls(out)),
            Expr::Dict(xs) => xs.iter().for_each(|(k, v)| {
                k.calls(out);
                v.calls(out);
            }),
            Expr::Attr { recv, .. } => recv.calls(out),
            Expr::Index { recv, args } => {
                recv.calls(out);
                args_calls(args, out);
            }
            Expr::Call(c) => {
                out.push(c);
                if let Some(r) = &c.recv {
                    r.calls(out);
                }
                args_calls(&c.args, out);
            }
            Expr::Neg(x) | Expr::Plus(x) | Expr::Not(x) => x.calls(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Bin(_, a, b) | Expr::Arrow(a, b) => {
                a.calls(out);
                b.calls(out);
            }
        }
    }
}

fn args_calls<'e>(args: &'e [Arg], out: &mut Vec<&'e Call>) {
    for a in args {
        match a {
            Arg::Pos(x) => x.calls(out),
            Arg::Pair(k, v) => {
                k.calls(out);
                v.calls(out);
            }
        }
    }
}
