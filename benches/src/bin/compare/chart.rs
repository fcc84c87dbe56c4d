//! `--svg PATH`: the run's standing as a picture — per workload, one bar per peer for
//! corelane's ops/s divided by that peer's (and one for the off-loop path against the best
//! peer), with the 1.0× line drawn, so a reader sees at a glance where corelane leads.
//!
//! Plain SVG written by hand (a few rectangles and labels): no plotting dependency for one
//! chart, and the file diffs readably in git.

use std::fmt::Write as _;

use crate::{Kind, Line};

/// One workload's rows, as `run_workload` and the web side collected them.
pub struct Chart {
    /// The workload's row name (`redis_get_c64`).
    pub workload: String,
    /// Its clients' medians.
    pub lines: Vec<Line>,
}

/// One bar: a label and corelane's ratio against it.
struct Bar {
    label: String,
    ratio: f64,
    offloop: bool,
}

const ROW_H: f64 = 16.0;
const GROUP_GAP: f64 = 10.0;
const LABEL_W: f64 = 360.0;
const PLOT_W: f64 = 420.0;
const TOP: f64 = 40.0;

/// The bars of one workload: corelane against each peer and the ceiling, and the off-loop
/// path against the best peer. Empty when corelane has no row (it failed).
fn bars(chart: &Chart) -> Vec<Bar> {
    let Some(corelane) = crate::best_corelane(&chart.lines) else {
        return Vec::new();
    };
    let mut out: Vec<Bar> = chart
        .lines
        .iter()
        .filter(|l| matches!(l.kind, Kind::Peer | Kind::Ceiling))
        .filter(|l| l.ops_per_sec > 0.0)
        .map(|peer| Bar {
            label: format!("vs {}", peer.client),
            ratio: corelane.ops_per_sec / peer.ops_per_sec,
            offloop: false,
        })
        .collect();
    let best_peer = chart
        .lines
        .iter()
        .filter(|l| l.kind == Kind::Peer)
        .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    if let (Some(off), Some(best)) = (crate::best_offloop(&chart.lines), best_peer) {
        if best.ops_per_sec > 0.0 {
            out.push(Bar {
                label: format!("off-loop vs {}", best.client),
                ratio: off.ops_per_sec / best.ops_per_sec,
                offloop: true,
            });
        }
    }
    out
}

/// Escapes text for an SVG text node or attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart of `charts` as an SVG document; `title` is printed at the top.
pub fn svg(charts: &[Chart], title: &str) -> String {
    let groups: Vec<(&str, Vec<Bar>)> = charts
        .iter()
        .map(|c| (c.workload.as_str(), bars(c)))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    let max_ratio = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|b| b.ratio))
        .filter(|r| r.is_finite())
        .fold(2.0_f64, f64::max)
        .ceil();
    let scale = PLOT_W / max_ratio;
    let rows: usize = groups.iter().map(|(_, b)| b.len() + 1).sum();
    let height = TOP + rows as f64 * ROW_H + groups.len() as f64 * GROUP_GAP + 30.0;
    let width = LABEL_W + PLOT_W + 60.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{width}" height="{height}" fill="white"/><text x="8" y="18" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="8" y="32" fill="#555">corelane ops/s ÷ each peer's, same run (green: corelane ahead; red: behind; blue: the off-loop path)</text>"##
    );
    let mut y = TOP;
    for (workload, bars) in &groups {
        let _ = writeln!(
            s,
            r#"<text x="8" y="{:.1}" font-weight="bold">{}</text>"#,
            y + ROW_H - 4.0,
            escape(workload)
        );
        y += ROW_H;
        for bar in bars {
            let w = if bar.ratio.is_finite() {
                (bar.ratio * scale).clamp(0.0, PLOT_W)
            } else {
                0.0
            };
            let fill = match (bar.offloop, bar.ratio >= 1.0) {
                (true, _) => "#6a8fd0",
                (false, true) => "#3a9d5d",
                (false, false) => "#d0583c",
            };
            let _ = writeln!(
                s,
                r#"<text x="24" y="{:.1}">{}</text><rect x="{LABEL_W}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{fill}"/><text x="{:.1}" y="{:.1}">{:.2}×</text>"#,
                y + ROW_H - 4.0,
                escape(&bar.label),
                y + 2.0,
                ROW_H - 4.0,
                LABEL_W + w + 4.0,
                y + ROW_H - 4.0,
                bar.ratio
            );
            y += ROW_H;
        }
        y += GROUP_GAP;
    }
    // The axis: 0, every whole ratio, and the 1.0× line across the plot.
    let mut tick = 0.0;
    while tick <= max_ratio {
        let x = LABEL_W + tick * scale;
        let (stroke, dash) = if tick == 1.0 {
            ("#000", "")
        } else {
            ("#bbb", r#" stroke-dasharray="2,3""#)
        };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{y:.1}" stroke="{stroke}"{dash}/><text x="{:.1}" y="{:.1}">{tick:.0}×</text>"#,
            x - 6.0,
            y + 14.0
        );
        tick += 1.0;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(client: &str, kind: Kind, ops: f64) -> Line {
        Line {
            client: client.to_owned(),
            kind,
            ops_per_sec: ops,
            cpu_us_per_op: None,
        }
    }

    #[test]
    fn one_bar_per_peer_and_one_for_offloop() {
        let chart = Chart {
            workload: "redis_get_c64".into(),
            lines: vec![
                line("corelane", Kind::Corelane, 300.0),
                line("corelane-offloop", Kind::Offloop, 150.0),
                line("redis-rs-ct", Kind::Peer, 200.0),
                line("fred-mt2", Kind::Peer, 100.0),
                line("corelane-pipeline", Kind::Variant, 900.0),
            ],
        };
        let b = bars(&chart);
        let got: Vec<(String, f64, bool)> = b
            .iter()
            .map(|b| (b.label.clone(), b.ratio, b.offloop))
            .collect();
        assert_eq!(
            got,
            vec![
                ("vs redis-rs-ct".to_owned(), 1.5, false),
                ("vs fred-mt2".to_owned(), 3.0, false),
                ("off-loop vs redis-rs-ct".to_owned(), 0.75, true),
            ]
        );
    }

    #[test]
    fn the_bars_use_the_faster_of_each_worker_count() {
        let chart = Chart {
            workload: "pg_select1_c64".into(),
            lines: vec![
                line("corelane", Kind::Corelane, 300.0),
                line("corelane-1w", Kind::Corelane, 400.0),
                line("corelane-offloop", Kind::Offloop, 50.0),
                line("corelane-offloop-1w", Kind::Offloop, 150.0),
                line("xitca-postgres-ct", Kind::Peer, 200.0),
            ],
        };
        let got: Vec<(String, f64)> = bars(&chart)
            .iter()
            .map(|b| (b.label.clone(), b.ratio))
            .collect();
        assert_eq!(
            got,
            vec![
                ("vs xitca-postgres-ct".to_owned(), 2.0),
                ("off-loop vs xitca-postgres-ct".to_owned(), 0.75),
            ]
        );
    }

    #[test]
    fn a_failed_corelane_row_draws_nothing_and_text_is_escaped() {
        let failed = Chart {
            workload: "pg_rows_1k".into(),
            lines: vec![line("tokio-postgres-ct", Kind::Peer, 10.0)],
        };
        assert!(bars(&failed).is_empty());
        let ok = Chart {
            workload: "a<b&c".into(),
            lines: vec![
                line("corelane", Kind::Corelane, 1.0),
                line("p\"q", Kind::Peer, 2.0),
            ],
        };
        let out = svg(&[failed, ok], "t");
        assert!(out.contains("a&lt;b&amp;c"));
        assert!(out.contains("vs p&quot;q"));
        assert!(out.contains("0.50×"));
        assert!(!out.contains("pg_rows_1k"));
        assert!(out.starts_with("<svg") && out.ends_with("</svg>\n"));
    }
}
