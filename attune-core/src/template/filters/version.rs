//! Version filters, with the semantics of Python's `semver` 3: strict `MAJOR.MINOR.PATCH`
//! with an optional `-prerelease` and `+build`; comparison by the numbers, then the
//! prerelease (a version without one is greater; identifiers compare numerically when both
//! are numbers, numbers before words, a shorter list first); the build is ignored.

use super::{Call, FilterResult, py_str};
use minijinja::Value as JValue;
use std::cmp::Ordering;

/// A parsed semantic version.
#[derive(Debug, Clone, PartialEq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Option<String>,
    build: Option<String>,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        if let Some(b) = &self.build {
            write!(f, "+{b}")?;
        }
        Ok(())
    }
}

/// A number without a leading zero.
fn number(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`.
fn identifiers(s: &str) -> bool {
    s.split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn parse(s: &str) -> Option<Version> {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let mut nums = core.split('.');
    let (major, minor, patch) = (
        number(nums.next()?)?,
        number(nums.next()?)?,
        number(nums.next()?)?,
    );
    if nums.next().is_some()
        || pre.is_some_and(|p| !identifiers(p))
        || build.is_some_and(|b| !identifiers(b))
    {
        return None;
    }
    Some(Version {
        major,
        minor,
        patch,
        pre: pre.map(str::to_string),
        build: build.map(str::to_string),
    })
}

fn compare_pre(a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let (mut x, mut y) = (a.split('.'), b.split('.'));
            loop {
                match (x.next(), y.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(p), Some(q)) => {
                        let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                            (Ok(m), Ok(n)) => m.cmp(&n),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => p.cmp(q),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                }
            }
        }
    }
}

fn compare(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| compare_pre(&a.pre, &b.pre))
}

/// The version of argument `i`; an error naming it when it is not a semantic version.
fn arg(call: &Call, i: usize) -> Result<Version, minijinja::Error> {
    let v = call.get(i).expect("a required parameter");
    let Some(s) = v.as_str() else {
        return Err(call.wrong_type(i, "a version string", v));
    };
    parse(s).ok_or_else(|| {
        call.error(format!(
            "got '{}', which is not a semantic version (MAJOR.MINOR.PATCH)",
            py_str(v)
        ))
    })
}

fn cmp_args(call: &Call) -> Result<Ordering, minijinja::Error> {
    Ok(compare(&arg(call, 0)?, &arg(call, 1)?))
}

/// `version_compare(value, pattern)`: -1, 0 or 1.
pub(super) fn version_compare(call: &Call) -> FilterResult {
    Ok(JValue::from(cmp_args(call)? as i64))
}

/// `version_more_than(value, pattern)`.
pub(super) fn version_more_than(call: &Call) -> FilterResult {
    Ok(JValue::from(cmp_args(call)? == Ordering::Greater))
}

/// `version_less_than(value, pattern)`.
pub(super) fn version_less_than(call: &Call) -> FilterResult {
    Ok(JValue::from(cmp_args(call)? == Ordering::Less))
}

/// `version_equal(value, pattern)`.
pub(super) fn version_equal(call: &Call) -> FilterResult {
    Ok(JValue::from(cmp_args(call)? == Ordering::Equal))
}

/// `version_match(value, pattern)`: the pattern is `<`, `<=`, `>`, `>=`, `==` or `!=`
/// followed by a version (a bare version means `==`).
pub(super) fn version_match(call: &Call) -> FilterResult {
    let version = arg(call, 0)?;
    let pattern = call.str(1)?;
    let (op, rest) = ["<=", ">=", "==", "!=", "<", ">"]
        .iter()
        .find_map(|op| pattern.strip_prefix(op).map(|r| (*op, r)))
        .or_else(|| pattern.starts_with(|c: char| c.is_ascii_digit()).then_some(("==", pattern)))
        .ok_or_else(|| {
            call.error(format!(
                "got the pattern '{pattern}': it must be <op><version>, <op> one of <, <=, >, >=, ==, !="
            ))
        })?;
    let other = parse(rest).ok_or_else(|| {
        call.error(format!(
            "got '{rest}' in the pattern, which is not a semantic version"
        ))
    })?;
    let o = compare(&version, &other);
    let yes = match op {
        "<" => o == Ordering::Less,
        "<=" => o != Ordering::Greater,
        ">" => o == Ordering::Greater,
        ">=" => o != Ordering::Less,
        "==" => o == Ordering::Equal,
        _ => o != Ordering::Equal,
    };
    Ok(JValue::from(yes))
}

fn bumped(call: &Call, f: fn(&Version) -> Version) -> FilterResult {
    Ok(JValue::from(f(&arg(call, 0)?).to_string()))
}

/// `version_bump_major(value)`: `MAJOR+1.0.0`.
pub(super) fn version_bump_major(call: &Call) -> FilterResult {
    bumped(call, |v| Version {
        major: v.major + 1,
        minor: 0,
        patch: 0,
        pre: None,
        build: None,
    })
}

/// `version_bump_minor(value)`: `MAJOR.MINOR+1.0`.
pub(super) fn version_bump_minor(call: &Call) -> FilterResult {
    bumped(call, |v| Version {
        minor: v.minor + 1,
        patch: 0,
        pre: None,
        build: None,
        ..*v
    })
}

/// `version_bump_patch(value)`: `MAJOR.MINOR.PATCH+1`.
pub(super) fn version_bump_patch(call: &Call) -> FilterResult {
    bumped(call, |v| Version {
        patch: v.patch + 1,
        pre: None,
        build: None,
        ..*v
    })
}

/// `version_strip_patch(value)`: `MAJOR.MINOR`.
pub(super) fn version_strip_patch(call: &Call) -> FilterResult {
    let v = arg(call, 0)?;
    Ok(JValue::from(format!("{}.{}", v.major, v.minor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_as_semver() {
        for bad in [
            "1.2",
            "01.2.3",
            "1.2.3.4",
            "1.2.3-",
            "1.2.3-a..b",
            "v1.2.3",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
        ];
        for w in order.windows(2) {
            let (a, b) = (parse(w[0]).unwrap(), parse(w[1]).unwrap());
            assert_eq!(compare(&a, &b), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        let a = parse("1.0.0+build.1").unwrap();
        assert_eq!(compare(&a, &parse("1.0.0").unwrap()), Ordering::Equal);
        assert_eq!(a.to_string(), "1.0.0+build.1");
    }
}
