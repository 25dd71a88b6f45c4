//! The parser: tokens to an [`Expr`], with YAQL's operator precedence (tightest first):
//! `.` `?.` `[ ]`; unary `+ -`; `=~ !~`; `* / mod`; `+ -`; `< > <= >= = != in`; `not`;
//! `and`; `or`; `->` (right-associative). `=>` appears only inside argument lists and map
//! literals.

use super::ast::{Arg, BinOp, Call, Expr};
use super::lexer::{Tok, Token, lex};
use super::value::Val;
use super::{MAX_PARSE_DEPTH, SyntaxError, stdlib};
use std::sync::Arc;

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> Result<Expr, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expr(0)?;
    if p.peek() != &Tok::End {
        return Err(p.unexpected("an operator or the end of the expression"));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Binding power of a binary operator token (higher binds tighter), and its operator.
fn binary(t: &Tok) -> Option<(u8, Option<BinOp>)> {
    let Tok::Op(o) = t else { return None };
    Some(match *o {
        "->" => (1, None),
        "or" => (2, None),
        "and" => (3, None),
        "=" => (5, Some(BinOp::Eq)),
        "!=" => (5, Some(BinOp::Ne)),
        "<" => (5, Some(BinOp::Lt)),
        ">" => (5, Some(BinOp::Gt)),
        "<=" => (5, Some(BinOp::Le)),
        ">=" => (5, Some(BinOp::Ge)),
        "in" => (5, Some(BinOp::In)),
        "+" => (6, Some(BinOp::Add)),
        "-" => (6, Some(BinOp::Sub)),
        "*" => (7, Some(BinOp::Mul)),
        "/" => (7, Some(BinOp::Div)),
        "mod" => (7, Some(BinOp::Mod)),
        "=~" => (8, Some(BinOp::Match)),
        "!~" => (8, Some(BinOp::NotMatch)),
        _ => return None,
    })
}

/// Binding power of the operand of `not` and of unary `+ -`.
const NOT_OPERAND: u8 = 5;
const UNARY_OPERAND: u8 = 10;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn col(&self) -> usize {
        self.toks[self.pos].col
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        SyntaxError {
            column: self.col(),
            message: format!("expected {expected}, found {}", self.peek().describe()),
        }
    }

    fn expect(&mut self, op: &'static str) -> Result<(), SyntaxError> {
        if self.peek() == &Tok::Op(op) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{op}'")))
        }
    }

    fn expr(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(SyntaxError {
                column: self.col(),
                message: format!("expression nested deeper than {MAX_PARSE_DEPTH} levels"),
            });
        }
        let r = self.expr_inner(min);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        let mut left = self.prefix()?;
        while let Some((bp, op)) = binary(self.peek()) {
            if bp < min {
                break;
            }
            let word = self.next().tok;
            // `->` is right-associative; the others are left-associative.
            let right = if bp == 1 {
                self.expr(bp)?
            } else {
                self.expr(bp + 1)?
            };
            left = match (op, word) {
                (Some(op), _) => Expr::Bin(op, Box::new(left), Box::new(right)),
                (None, Tok::Op("and")) => Expr::And(Box::new(left), Box::new(right)),
                (None, Tok::Op("or")) => Expr::Or(Box::new(left), Box::new(right)),
                _ => Expr::Arrow(Box::new(left), Box::new(right)),
            };
        }
        Ok(left)
    }

    fn prefix(&mut self) -> Result<Expr, SyntaxError> {
        match self.peek() {
            Tok::Op("not") => {
                self.next();
                Ok(Expr::Not(Box::new(self.expr(NOT_OPERAND)?)))
            }
            Tok::Op("-") => {
                self.next();
                Ok(Expr::Neg(Box::new(self.expr(UNARY_OPERAND)?)))
            }
            Tok::Op("+") => {
                self.next();
                Ok(Expr::Plus(Box::new(self.expr(UNARY_OPERAND)?)))
            }
            _ => {
                let p = self.primary()?;
                self.postfix(p)
            }
        }
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, SyntaxError> {
        loop {
            match self.peek() {
                Tok::Op(op @ ("." | "?.")) => {
                    let safe = *op == "?.";
                    self.next();
                    let col = self.col();
                    match self.next().tok {
                        Tok::Word(w)
                            if self.peek() == &Tok::Op("(")
                                && self.col() == col + w.chars().count() =>
                        {
                            let args = self.args(")")?;
                            e = Expr::Call(Box::new(Call {
                                builtin: stdlib::lookup(&w),
                                name: Arc::from(w.as_str()),
                                recv: Some(Box::new(e)),
                                safe,
                                args,
                                col,
                            }));
                        }
                        Tok::Word(w) => {
                            e = Expr::Attr {
                                recv: Box::new(e),
                                name: Arc::from(w.as_str()),
                                safe,
                            };
                        }
                        other => {
                            return Err(SyntaxError {
                                column: col,
                                message: format!(
                                    "expected a key or a method name after '.', found {}",
                                    other.describe()
                                ),
                            });
                        }
                    }
                }
                Tok::Op("[") => {
                    let args = self.args("]")?;
                    if args.is_empty() {
                        return Err(SyntaxError {
                            column: self.toks[self.pos - 1].col,
                            message: "expected an index inside '[ ]'".into(),
                        });
                    }
                    e = Expr::Index {
                        recv: Box::new(e),
                        args,
                    };
                }
                _ => return Ok(e),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        if self.peek() == &Tok::End {
            return Err(self.unexpected("a value"));
        }
        let col = self.col();
        let t = self.next();
        Ok(match t.tok {
            Tok::Int(i) => Expr::Lit(Val::Int(i)),
            Tok::Float(f) => Expr::Lit(Val::Float(f)),
            Tok::Str(s) => Expr::Lit(Val::str(&s)),
            Tok::True => Expr::Lit(Val::Bool(true)),
            Tok::False => Expr::Lit(Val::Bool(false)),
            Tok::Null => Expr::Lit(Val::Null),
            Tok::Dollar(d) => Expr::Var(Arc::from(d.as_str())),
            Tok::Word(w) => {
                // A call is `name(`, with no space between.
                if self.peek() == &Tok::Op("(") && self.col() == col + w.chars().count() {
                    let args = self.args(")")?;
                    Expr::Call(Box::new(Call {
                        builtin: stdlib::lookup(&w),
                        name: Arc::from(w.as_str()),
                        recv: None,
                        safe: false,
                        args,
                        col,
                    }))
                } else {
                    Expr::Lit(Val::str(&w))
                }
            }
            Tok::Op("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                e
            }
            Tok::Op("[") => {
                self.pos -= 1;
                let args = self.args("]")?;
                let mut items = Vec::with_capacity(args.len());
                for a in args {
                    match a {
                        Arg::Pos(x) => items.push(x),
                        Arg::Pair(..) => {
                            return Err(SyntaxError {
                                column: col,
                                message: "'=>' inside a list literal".into(),
                            });
                        }
                    }
                }
                Expr::List(items)
            }
            Tok::Op("{") => {
                self.pos -= 1;
                let args = self.args("}")?;
                let mut items = Vec::with_capacity(args.len());
                for a in args {
                    match a {
                        Arg::Pair(k, v) => items.push((k, v)),
                        Arg::Pos(_) => {
                            return Err(SyntaxError {
                                column: col,
                                message: "a map literal holds 'key => value' pairs".into(),
                            });
                        }
                    }
                }
                Expr::Dict(items)
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.unexpected("a value"));
            }
        })
    }

    /// An argument list: the opening token is current; `close` ends it.
    fn args(&mut self, close: &'static str) -> Result<Vec<Arg>, SyntaxError> {
        self.next();
        let mut out = Vec::new();
        if self.peek() == &Tok::Op(close) {
            self.next();
            return Ok(out);
        }
        loop {
            if close == ")" && matches!(self.peek(), Tok::Op(",")) {
                // An argument left out: `f(a,, c)`.
                out.push(Arg::Pos(Expr::Skip));
                self.next();
                continue;
            }
            let e = self.expr(0)?;
            if self.peek() == &Tok::Op("=>") {
                self.next();
                let v = self.expr(0)?;
                out.push(Arg::Pair(e, v));
            } else {
                out.push(Arg::Pos(e));
            }
            match self.peek() {
                Tok::Op(",") => {
                    self.next();
                }
                Tok::Op(c) if *c == close => {
                    self.next();
                    return Ok(out);
                }
                _ => return Err(self.unexpected(&format!("',' or '{close}'"))),
            }
        }
    }
}
