//! Tokens of a YAQL expression, each with the column (0-based character offset) where it
//! starts.

use super::SyntaxError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Int(i64),
    Float(f64),
    /// A quoted string (`'…'`, `"…"` with escapes; `` `…` `` as written).
    Str(String),
    /// A bare word that is not an operator or literal: a string, or a function's name.
    Word(String),
    /// `$` (empty name) or `$name`.
    Dollar(String),
    True,
    False,
    Null,
    /// An operator or punctuation: `. ?. ( ) [ ] { } , => -> = != < > <= >= + - * / =~ !~`
    /// and the word operators `and or not in mod`.
    Op(&'static str),
    End,
}

impl Tok {
    /// How the token is named in "expected …, found …" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Word(w) => format!("'{w}'"),
            Tok::Dollar(d) => format!("'${d}'"),
            Tok::True => "'true'".into(),
            Tok::False => "'false'".into(),
            Tok::Null => "'null'".into(),
            Tok::Op(o) => format!("'{o}'"),
            Tok::End => "the end of the expression".into(),
        }
    }
}

/// A token and its column.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) col: usize,
}

const PUNCT: [&str; 24] = [
    "=>", "->", "?.", "!=", "<=", ">=", "=~", "!~", ".", "(", ")", "[", "]", "{", "}", ",", "=",
    "<", ">", "+", "-", "*", "/", ":",
];

/// Splits `src` into tokens (the last is [`Tok::End`]).
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let col = i;
        let tok = if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                Tok::Float(s.parse().map_err(|_| err(col, "a valid number"))?)
            } else {
                let s: String = chars[start..i].iter().collect();
                Tok::Int(s.parse().map_err(|_| SyntaxError {
                    column: col,
                    message: format!("integer {s} is too large (at most {})", i64::MAX),
                })?)
            }
        } else if c == '\'' || c == '"' || c == '`' {
            let (s, next) = string(&chars, i)?;
            i = next;
            Tok::Str(s)
        } else if c == '$' {
            i += 1;
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            Tok::Dollar(chars[start..i].iter().collect())
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            let w: String = chars[start..i].iter().collect();
            if w.starts_with("__") {
                return Err(SyntaxError {
                    column: col,
                    message: format!("a name cannot start with '__' ('{w}')"),
                });
            }
            match w.as_str() {
                "true" => Tok::True,
                "false" => Tok::False,
                "null" => Tok::Null,
                "and" => Tok::Op("and"),
                "or" => Tok::Op("or"),
                "not" => Tok::Op("not"),
                "in" => Tok::Op("in"),
                "mod" => Tok::Op("mod"),
                _ => Tok::Word(w),
            }
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            match PUNCT.iter().find(|p| rest.starts_with(**p)) {
                Some(p) => {
                    i += p.chars().count();
                    Tok::Op(p)
                }
                None => {
                    return Err(SyntaxError {
                        column: col,
                        message: format!("unexpected character '{c}'"),
                    });
                }
            }
        };
        out.push(Token { tok, col });
    }
    out.push(Token {
        tok: Tok::End,
        col: chars.len(),
    });
    Ok(out)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn err(column: usize, expected: &str) -> SyntaxError {
    SyntaxError {
        column,
        message: format!("expected {expected}"),
    }
}

/// The string starting at `chars[i]` (a quote) and the index after it.
fn string(chars: &[char], i: usize) -> Result<(String, usize), SyntaxError> {
    let q = chars[i];
    let mut s = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        let c = chars[j];
        if c == q {
            return Ok((s, j + 1));
        }
        if c == '\\' && q == '`' && j + 1 < chars.len() {
            // In `…`, only \` is an escape; any other pair stays as written.
            if chars[j + 1] != '`' {
                s.push('\\');
            }
            s.push(chars[j + 1]);
            j += 2;
            continue;
        }
        if c == '\\' && q != '`' && j + 1 < chars.len() {
            let e = chars[j + 1];
            j += 2;
            match e {
                'n' => s.push('\n'),
                't' => s.push('\t'),
                'r' => s.push('\r'),
                '0' => s.push('\0'),
                'a' => s.push('\x07'),
                'b' => s.push('\x08'),
                'f' => s.push('\x0c'),
                'v' => s.push('\x0b'),
                '\\' | '\'' | '"' => s.push(e),
                'u' | 'x' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars[j..chars.len().min(j + n)].iter().collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) if hex.len() == n => s.push(ch),
                        _ => {
                            return Err(SyntaxError {
                                column: j - 2,
                                message: format!("bad escape '\\{e}{hex}'"),
                            });
                        }
                    }
                    j += n;
                }
                other => {
                    s.push('\\');
                    s.push(other);
                }
            }
            continue;
        }
        s.push(c);
        j += 1;
    }
    Err(SyntaxError {
        column: i,
        message: format!("unterminated string (no closing {q})"),
    })
}
