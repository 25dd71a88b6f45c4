//! `attune pack validate DIR...`

use super::Failure;
use crate::Report;
use crate::output::{Style, count, problem_lines, problems_text, shown};
use serde_json::json;
use std::path::PathBuf;

/// Checks the packs together; exit 1 when any has a problem (with `--partial`, also when a
/// pack loads but leaves something out).
pub(super) async fn run(
    dirs: &[PathBuf],
    setup: &super::Setup,
    style: Style,
) -> Result<Report, Failure> {
    let engine = super::engine(setup).await?;
    let (ok, failed) = engine.check_packs(dirs, &setup.options).await?;
    let mut text = String::new();
    let mut packs = Vec::new();
    let mut left_out = 0;
    for b in &ok {
        let dir = b.pack.path.as_deref().map(shown).unwrap_or_default();
        let n = [
            ("action", b.actions().count()),
            ("trigger type", b.trigger_types().count()),
            ("sensor", b.sensors().count()),
            ("rule", b.rules().count()),
            ("policy", b.policies().count()),
        ];
        let counts = json!({
            "actions": n[0].1,
            "trigger_types": n[1].1,
            "sensors": n[2].1,
            "rules": n[3].1,
            "policies": n[4].1,
        });
        let listed: Vec<String> = n
            .iter()
            .map(|(thing, k)| match *thing {
                "policy" if *k != 1 => format!("{k} policies"),
                _ => count(*k, thing),
            })
            .collect();
        text.push_str(&format!(
            "{} {} ({dir}): {}\n",
            style.good("ok"),
            style.bold(b.pack_ref()),
            listed.join(", ")
        ));
        text.push_str(&problem_lines(
            style,
            b.pack.path.as_ref(),
            b.warnings(),
            "warning: ",
        ));
        text.push_str(&problem_lines(
            style,
            b.pack.path.as_ref(),
            b.left_out(),
            "left out: ",
        ));
        packs.push(json!({
            "pack": b.pack_ref(),
            "dir": dir,
            "ok": true,
            "counts": counts,
            "warnings": b.warnings(),
            "left_out": b.left_out(),
        }));
        left_out += b.left_out().len();
    }
    let mut total = left_out;
    for e in &failed {
        let n = e.problems.len();
        total += n;
        text.push_str(&format!(
            "{} {}: {}\n",
            style.bad("FAILED"),
            style.bold(&e.pack),
            count(n, "problem")
        ));
        text.push_str(&problems_text(style, e));
        packs.push(json!({
            "pack": e.pack,
            "dir": e.dir.as_deref().map(shown),
            "ok": false,
            "problems": e.problems,
        }));
    }
    if total > 0 {
        text.push_str(&format!("{} found\n", count(total, "problem")));
    }
    Ok(Report {
        json: json!({"ok": total == 0, "problems": total, "packs": packs}),
        text,
        code: u8::from(total > 0),
    })
}
