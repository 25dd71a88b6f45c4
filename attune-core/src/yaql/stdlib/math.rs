//! Numbers: `abs`, `pow`, `round`, `sign`, `int`, `float`, `random`, bit operations,
//! `isInteger`, `isNumber`.

use super::{Builtin, int_of, values};
use crate::yaql::ErrorKind;
use crate::yaql::ast::Call;
use crate::yaql::eval::{Machine, R, Scope, err};
use crate::yaql::value::{Kind, Num, Val};

pub(super) fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "abs" => abs,
        "pow" => pow,
        "round" => round,
        "sign" => sign,
        "int" => int,
        "float" => float,
        "random" => random,
        "bitwiseAnd" | "bitwiseOr" | "bitwiseXor" | "shiftBitsLeft" | "shiftBitsRight" => bits,
        "bitwiseNot" => bitwise_not,
        "isInteger" => is_integer,
        "isNumber" => is_number,
        _ => return None,
    })
}

fn num_of(c: &Call, v: &Val<'_>) -> R<Num> {
    v.as_num().ok_or_else(|| {
        err(
            ErrorKind::NoMatchingFunction,
            format!("{}() expects a number, got {}", c.name, v.kind().name()),
        )
    })
}

fn abs<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a number")?;
    Ok(match num_of(c, &v[0])? {
        Num::Int(i) => Val::Int(
            i.checked_abs()
                .ok_or_else(|| err(ErrorKind::Value, "abs(): overflow"))?,
        ),
        Num::Float(f) => Val::Float(f.abs()),
    })
}

fn pow<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 3, "(base, exponent, modulo?)")?;
    let (b, e) = (num_of(c, &v[0])?, num_of(c, &v[1])?);
    if let (Num::Int(b), Num::Int(e)) = (b, e)
        && e >= 0
    {
        if let Some(md) = v.get(2) {
            let md = int_of(c, md)?;
            if md == 0 {
                return Err(err(ErrorKind::Value, "pow(): modulo is zero"));
            }
            let (mut acc, mut base, mut exp) = (1i128, i128::from(b).rem_euclid(i128::from(md)), e);
            while exp > 0 {
                if exp & 1 == 1 {
                    acc = acc * base % i128::from(md);
                }
                base = base * base % i128::from(md);
                exp >>= 1;
            }
            return Ok(Val::Int(acc as i64));
        }
        let e = u32::try_from(e).map_err(|_| err(ErrorKind::Value, "pow(): exponent too large"))?;
        return b.checked_pow(e).map(Val::Int).ok_or_else(|| {
            err(
                ErrorKind::Value,
                "pow(): integer overflow (integers are 64-bit)",
            )
        });
    }
    Ok(Val::Float(b.f().powf(e.f())))
}

fn round<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 2, "(number, digits?)")?;
    let x = num_of(c, &v[0])?;
    match v.get(1) {
        None => match x {
            Num::Int(i) => Ok(Val::Int(i)),
            Num::Float(f) => Ok(Val::Float(round_half_even(f))),
        },
        Some(d) => {
            let d = int_of(c, d)?;
            match x {
                Num::Int(i) => Ok(Val::Int(i)),
                Num::Float(f) => {
                    let p = 10f64.powi(d as i32);
                    Ok(Val::Float(round_half_even(f * p) / p))
                }
            }
        }
    }
}

fn round_half_even(f: f64) -> f64 {
    let r = f.round();
    if (f - f.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - f.signum()
    } else {
        r
    }
}

fn sign<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a number")?;
    let f = num_of(c, &v[0])?.f();
    Ok(Val::Int(if f > 0.0 {
        1
    } else if f < 0.0 {
        -1
    } else {
        0
    }))
}

fn int<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a number or a string")?;
    let x = &v[0];
    if x.is_null() {
        return Ok(Val::Int(0));
    }
    if let Some(b) = x.as_bool() {
        return Ok(Val::Int(i64::from(b)));
    }
    if let Some(n) = x.as_num() {
        return Ok(Val::Int(match n {
            Num::Int(i) => i,
            Num::Float(f) => f.trunc() as i64,
        }));
    }
    if let Some(s) = x.as_str() {
        return s
            .trim()
            .parse::<i64>()
            .map(Val::Int)
            .map_err(|_| err(ErrorKind::Value, format!("int(): '{s}' is not an integer")));
    }
    Err(err(
        ErrorKind::NoMatchingFunction,
        format!(
            "int() expects a number or a string, got {}",
            x.kind().name()
        ),
    ))
}

fn float<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "a number or a string")?;
    let x = &v[0];
    if x.is_null() {
        return Ok(Val::Float(0.0));
    }
    if let Some(n) = x.as_num() {
        return Ok(Val::Float(n.f()));
    }
    if let Some(b) = x.as_bool() {
        return Ok(Val::Float(f64::from(u8::from(b))));
    }
    if let Some(s) = x.as_str() {
        return s
            .trim()
            .parse::<f64>()
            .map(Val::Float)
            .map_err(|_| err(ErrorKind::Value, format!("float(): '{s}' is not a number")));
    }
    Err(err(
        ErrorKind::NoMatchingFunction,
        format!(
            "float() expects a number or a string, got {}",
            x.kind().name()
        ),
    ))
}

/// `random()`: in [0, 1); `random(a, b)`: an integer in [a, b].
fn random<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 0, 2, "() or (from, to)")?;
    let bits = uuid::Uuid::new_v4().as_u128();
    match v.as_slice() {
        [] => Ok(Val::Float((bits >> 75) as f64 / (1u64 << 53) as f64)),
        [a, b] => {
            let (a, b) = (int_of(c, a)?, int_of(c, b)?);
            if b < a {
                return Err(err(ErrorKind::Value, "random(): empty range"));
            }
            let span = (i128::from(b) - i128::from(a) + 1) as u128;
            Ok(Val::Int((i128::from(a) + (bits % span) as i128) as i64))
        }
        _ => Err(super::Args::of(c).bad("() or (from, to)")),
    }
}

fn bits<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 2, 2, "two integers")?;
    let (a, b) = (int_of(c, &v[0])?, int_of(c, &v[1])?);
    Ok(Val::Int(match &*c.name {
        "bitwiseAnd" => a & b,
        "bitwiseOr" => a | b,
        "bitwiseXor" => a ^ b,
        "shiftBitsLeft" => {
            let s = u32::try_from(b).map_err(|_| err(ErrorKind::Value, "negative shift count"))?;
            a.checked_shl(s)
                .filter(|x| x >> s == a)
                .ok_or_else(|| err(ErrorKind::Value, "shiftBitsLeft(): overflow"))?
        }
        _ => {
            let s = u32::try_from(b).map_err(|_| err(ErrorKind::Value, "negative shift count"))?;
            a >> s.min(63)
        }
    }))
}

fn bitwise_not<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "an integer")?;
    Ok(Val::Int(!int_of(c, &v[0])?))
}

fn is_integer<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(v[0].kind() == Kind::Int))
}

fn is_number<'a>(
    m: &mut Machine<'_, 'a>,
    sc: &Scope<'_, 'a>,
    c: &Call,
    r: Option<Val<'a>>,
) -> R<Val<'a>> {
    let v = values(m, sc, c, r, 1, 1, "one value")?;
    Ok(Val::Bool(matches!(v[0].kind(), Kind::Int | Kind::Float)))
}
