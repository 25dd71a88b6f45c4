//! An SVG line chart of throughput against backlog, from the harness's JSON lines: one
//! series per (system, storage, workload), both axes logarithmic. Plain text, no
//! dependencies; what `attune-bench peers --chart` writes.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
/// The plot's margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (80.0, 250.0, 40.0, 60.0);
const COLOURS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One series' name and its (backlog, ops/s) points, in backlog order.
fn series(lines: &[Value]) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for l in lines {
        let (Some(b), Some(r)) = (l["backlog"].as_f64(), l["ops_per_sec"].as_f64()) else {
            continue;
        };
        if b <= 0.0 || r <= 0.0 {
            continue;
        }
        let name = format!(
            "{} · {} · {}",
            l["system"].as_str().unwrap_or("?"),
            l["storage"].as_str().unwrap_or("?"),
            l["workload"].as_str().unwrap_or("?")
        );
        out.entry(name).or_default().push((b, r));
    }
    for points in out.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The powers of ten from below `lo` to above `hi`, as exponents.
fn decades(lo: f64, hi: f64) -> std::ops::RangeInclusive<i32> {
    (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32)
}

/// `n` written short: 1k, 20k, 1M.
fn short(n: f64) -> String {
    match n {
        n if n >= 1e6 => format!("{}M", n / 1e6),
        n if n >= 1e3 => format!("{}k", n / 1e3),
        n => format!("{n}"),
    }
}

/// The chart of `lines` (those with `backlog` and `ops_per_sec`) as an SVG document.
pub(crate) fn throughput_svg(lines: &[Value]) -> String {
    let all = series(lines);
    let points = || all.values().flatten();
    let (xmin, xmax) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    if all.is_empty() {
        let _ = writeln!(svg, r#"<text x="20" y="30">no measurements</text></svg>"#);
        return svg;
    }
    let (xd, yd) = (decades(xmin, xmax), decades(ymin, ymax));
    let (x0, x1) = (*xd.start() as f64, (*xd.end()).max(xd.start() + 1) as f64);
    let (y0, y1) = (*yd.start() as f64, (*yd.end()).max(yd.start() + 1) as f64);
    let (l, r, t, b) = MARGIN;
    let px = |x: f64| l + (x.log10() - x0) / (x1 - x0) * (WIDTH - l - r);
    let py = |y: f64| HEIGHT - b - (y.log10() - y0) / (y1 - y0) * (HEIGHT - t - b);
    // Grid and labels, one line per decade.
    for e in yd.clone() {
        let y = py(10f64.powi(e));
        let _ = writeln!(
            svg,
            r##"<line x1="{l}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - r,
            l - 6.0,
            y + 4.0,
            short(10f64.powi(e))
        );
    }
    let mut ticks: Vec<f64> = points().map(|p| p.0).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let xp = px(x);
        let _ = writeln!(
            svg,
            r##"<line x1="{xp:.1}" x2="{xp:.1}" y1="{t}" y2="{:.1}" stroke="#ddd"/><text x="{xp:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            HEIGHT - b,
            HEIGHT - b + 16.0,
            short(x)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">jobs queued before the workers start (backlog), log scale</text>"#,
        l + (WIDTH - l - r) / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">jobs (executions) ended per second, log scale</text>"#,
        t + (HEIGHT - t - b) / 2.0,
        t + (HEIGHT - t - b) / 2.0
    );
    for (i, (name, pts)) in all.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for &(x, y) in pts {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{name}: {} at {}</title></circle>"#,
                px(x),
                py(y),
                y.round(),
                x
            );
        }
        let ly = t + 14.0 + i as f64 * 18.0;
        let lx = WIDTH - r + 12.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            name.replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    svg.push_str("</svg>\n");
    svg
}
