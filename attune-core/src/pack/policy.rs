//! Policy files (`policies/*.yaml`): StackStorm's `policy_type` + `parameters` shape, or the
//! Attune shape (`type: concurrency | rate_limit | retry` with its fields).

use super::files::PackDir;
use super::{Located, qualify};
use crate::document::fields::{Field, Fields};
use crate::document::problem::Report;
use crate::model::{Backoff, ConcurrencyOverflow, Policy, PolicyKind};

const TYPES: &[&str] = &[
    "action.concurrency",
    "action.concurrency.attr",
    "action.retry",
    "concurrency",
    "rate_limit",
    "retry",
];

/// The keys a policy may have beside `type` (Attune) that are settings, or StackStorm
/// metadata, accepted at the top level.
const SETTINGS: &[&str] = &[
    "threshold",
    "limit",
    "action",
    "overflow",
    "attributes",
    "max",
    "window_secs",
    "window",
    "retry_on",
    "on_timeout",
    "max_retry_count",
    "max_attempts",
    "delay",
    "delay_secs",
    "on_abandoned",
    "backoff",
    "max_delay",
    "max_delay_secs",
    "tags",
    "uid",
    "id",
    "metadata_file",
];

/// Reads one policy file.
pub(crate) fn read(
    dir: &PackDir,
    pack: &str,
    file: &str,
    r: &mut Report,
) -> Option<Located<Policy>> {
    let (src, doc) = dir.read_yaml(file, r)?;
    let mut f = Fields::new(&src, "", &doc.value, r)?;
    let name = f.name_in_pack(r, &["ref", "name"], pack);
    let action = f.required_string(r, &["resource_ref", "action"]);
    let kind = f.required_string(r, &["policy_type", "type"]);
    let enabled = f.boolean(r, &["enabled"]).unwrap_or(true);
    f.string(r, &["description"]);
    // Settings live under `parameters` (StackStorm) or beside `type` (Attune).
    let params = f.mapping(r, &["parameters"]);
    let mut pf = match &params {
        Some(p) => Fields::new(&src, &p.path, doc.value.get("parameters")?, r)?,
        None => Fields::new(&src, "", &doc.value, r)?,
    };
    let kind = kind?;
    let policy_kind = read_kind(&kind, &mut pf, params.is_some(), r);
    if params.is_some() {
        pf.finish(r);
    }
    f.accept(SETTINGS);
    f.finish(r);
    let policy_ref = qualify(&src, &name?, pack, r)?;
    let action = action?;
    let paths = vec![("action", action.path.clone())];
    Some(Located {
        def: Policy {
            policy_ref,
            action: action.value,
            kind: policy_kind?,
            enabled,
        },
        src,
        paths,
    })
}

/// The settings of a policy of type `kind`, read from `pf` (`nested`: under `parameters`).
fn read_kind(
    kind: &Field<String>,
    pf: &mut Fields<'_>,
    nested: bool,
    r: &mut Report,
) -> Option<PolicyKind> {
    match kind.value.as_str() {
        "action.concurrency" | "action.concurrency.attr" | "concurrency" => {
            concurrency(pf, nested, r)
        }
        "rate_limit" => rate_limit(pf, r),
        "action.retry" | "retry" => retry(pf, r),
        other => {
            let hint = crate::text::nearest(other, TYPES.iter().copied())
                .map(|h| format!("did you mean '{h}'?"));
            r.push(
                pf.src
                    .hinted(&kind.path, format!("unknown policy type '{other}'"), hint),
            );
            None
        }
    }
}

/// A concurrency policy: `threshold` (or `limit`), what to do on overflow, the attributes
/// that key it.
fn concurrency(pf: &mut Fields<'_>, nested: bool, r: &mut Report) -> Option<PolicyKind> {
    let src = pf.src;
    let limit = pf.number(r, &["threshold", "limit"]);
    // StackStorm's `parameters.action`; beside `type`, `action` is the action's ref.
    let overflow_key: &[&'static str] = if nested { &["action"] } else { &["overflow"] };
    let overflow = pf.string(r, overflow_key);
    let attributes = pf.strings(r, &["attributes"]);
    let overflow = match overflow.as_ref().map(|o| o.value.as_str()) {
        None | Some("delay") => ConcurrencyOverflow::Delay,
        Some("cancel") => ConcurrencyOverflow::Cancel,
        Some(other) => {
            let path = overflow
                .as_ref()
                .map(|o| o.path.clone())
                .unwrap_or_default();
            r.push(src.problem(&path, format!("'{other}' is neither 'delay' nor 'cancel'")));
            ConcurrencyOverflow::Delay
        }
    };
    match limit {
        Some(l) => count(src, &l, r).map(|limit| PolicyKind::Concurrency {
            limit,
            overflow,
            attributes,
        }),
        None => {
            r.push(src.problem(
                &pf.path,
                "a concurrency policy needs 'threshold' (or 'limit')",
            ));
            None
        }
    }
}

/// A rate limit: at most `max` runs per `window_secs`.
fn rate_limit(pf: &mut Fields<'_>, r: &mut Report) -> Option<PolicyKind> {
    let src = pf.src;
    let max = pf.number(r, &["max"]);
    let window = pf.number(r, &["window_secs", "window"]);
    if max.is_none() || window.is_none() {
        r.push(src.problem(
            &pf.path,
            "a rate_limit policy needs 'max' and 'window_secs'",
        ));
    }
    let max = max.and_then(|m| count(src, &m, r));
    let window = window.and_then(|w| {
        if w.value > 0.0 && w.value.is_finite() {
            Some(w.value)
        } else {
            r.push(src.problem(&w.path, "must be a positive number of seconds"));
            None
        }
    });
    match (max, window) {
        (Some(max), Some(window_secs)) => Some(PolicyKind::RateLimit { max, window_secs }),
        _ => None,
    }
}

/// A retry policy: StackStorm's `retry_on` and `max_retry_count` (or `on_timeout` and
/// `max_attempts`), and the delay between attempts.
fn retry(pf: &mut Fields<'_>, r: &mut Report) -> Option<PolicyKind> {
    let src = pf.src;
    let on = pf.string(r, &["retry_on"]);
    let on_timeout_flag = pf.boolean(r, &["on_timeout"]);
    let st2_count = pf.number(r, &["max_retry_count"]);
    let attempts = pf.number(r, &["max_attempts"]);
    let on_abandoned = pf.boolean(r, &["on_abandoned"]).unwrap_or(false);
    let delay = seconds(src, pf.number(r, &["delay", "delay_secs"]), r).unwrap_or(0.0);
    let max_delay_secs = seconds(src, pf.number(r, &["max_delay", "max_delay_secs"]), r);
    let backoff = match pf.string(r, &["backoff"]) {
        None => Backoff::Constant,
        Some(b) => match b.value.as_str() {
            "constant" => Backoff::Constant,
            "linear" => Backoff::Linear,
            "exponential" => Backoff::Exponential,
            other => {
                let hint = crate::text::nearest(other, ["constant", "linear", "exponential"])
                    .map(|h| format!("did you mean '{h}'?"));
                r.push(src.hinted(
                    &b.path,
                    format!("unknown backoff '{other}' (constant, linear or exponential)"),
                    hint,
                ));
                Backoff::Constant
            }
        },
    };
    let on_timeout = match on.as_ref().map(|o| o.value.as_str()) {
        Some("timeout") => true,
        Some("failure") | None => on_timeout_flag.unwrap_or(false),
        Some(other) => {
            let path = on.as_ref().map(|o| o.path.clone()).unwrap_or_default();
            r.push(src.problem(
                &path,
                format!("'{other}' is neither 'failure' nor 'timeout'"),
            ));
            false
        }
    };
    let max_attempts = match (st2_count, attempts) {
        (Some(c), _) => count(src, &c, r).map(|c| c.saturating_add(1)),
        (None, Some(a)) => count(src, &a, r),
        (None, None) => {
            r.push(src.problem(
                &pf.path,
                "a retry policy needs 'max_retry_count' (or 'max_attempts')",
            ));
            None
        }
    };
    max_attempts.map(|max_attempts| PolicyKind::Retry {
        on_timeout,
        on_abandoned,
        max_attempts,
        delay_secs: delay,
        backoff,
        max_delay_secs,
    })
}

/// A number of seconds, 0 or more (a problem otherwise).
fn seconds(
    src: &crate::document::fields::Source,
    f: Option<Field<f64>>,
    r: &mut Report,
) -> Option<f64> {
    let f = f?;
    if f.value >= 0.0 && f.value.is_finite() {
        Some(f.value)
    } else {
        r.push(src.problem(&f.path, "must be a number of seconds, 0 or more"));
        None
    }
}

fn count(
    src: &crate::document::fields::Source,
    f: &crate::document::fields::Field<f64>,
    r: &mut Report,
) -> Option<u32> {
    if f.value.fract() == 0.0 && f.value >= 1.0 && f.value <= f64::from(u32::MAX) {
        // Checked above: a whole number in range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(f.value as u32)
    } else {
        r.push(src.problem(
            &f.path,
            format!("must be a whole number of at least 1, got {}", f.value),
        ));
        None
    }
}
