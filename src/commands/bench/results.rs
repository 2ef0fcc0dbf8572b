//! How a bench reads: one row per backend × strategy (medians, ratios to the first row),
//! the table printed at the end, and an SVG bar chart for a browser.

use serde::Serialize;

use crate::engine::measures::Phase;
use crate::engine::{BackendKind as Backend, Strategy};
use crate::report::timing::RunRecord;

/// One timed run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Backend.
    pub backend: Backend,
    /// Strategy.
    pub strategy: Strategy,
    /// 1-based run number.
    pub run: usize,
    /// Whether the run produced a valid syllabus.
    pub ok: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// Its full timing record (absent when it failed).
    pub record: Option<RunRecord>,
}

/// Summary of one backend × strategy combination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Backend name.
    pub backend: &'static str,
    /// Strategy name.
    pub strategy: &'static str,
    /// Runs that succeeded / all runs.
    pub ok_runs: usize,
    /// All runs.
    pub runs: usize,
    /// Median wall time, ms.
    pub median_ms: f64,
    /// Fastest run, ms.
    pub min_ms: f64,
    /// Slowest run, ms.
    pub max_ms: f64,
    /// Median outline phase, ms.
    pub outline_ms: f64,
    /// Median module phase, ms.
    pub modules_ms: f64,
    /// Median module-phase generation rate.
    pub tokens_per_s: f64,
    /// Median outline-phase generation rate.
    pub outline_tokens_per_s: f64,
    /// Median share of the module phase's drafted tokens the sampling took (NaN: none drafted).
    pub drafts_taken: f64,
    /// Median module-phase drafted tokens a run.
    pub drafted: f64,
    /// Baseline median over this median (above 1 is faster than the first row).
    pub speedup: f64,
}

/// Median of a non-empty list.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Groups results into rows, in the order combinations first appear.
pub fn summarize(results: &[BenchResult]) -> Vec<Row> {
    let mut keys: Vec<(Backend, Strategy)> = Vec::new();
    for r in results {
        if !keys.contains(&(r.backend, r.strategy)) {
            keys.push((r.backend, r.strategy));
        }
    }
    let mut rows: Vec<Row> = keys
        .iter()
        .map(|&(backend, strategy)| {
            let runs: Vec<&BenchResult> = results
                .iter()
                .filter(|r| r.backend == backend && r.strategy == strategy)
                .collect();
            let records: Vec<&RunRecord> = runs.iter().filter_map(|r| r.record.as_ref()).collect();
            let of = |f: &dyn Fn(&RunRecord) -> f64| -> Vec<f64> {
                records.iter().map(|r| f(r)).collect()
            };
            let walls = of(&|r| r.wall_ms);
            Row {
                backend: backend.name(),
                strategy: strategy.name(),
                ok_runs: records.len(),
                runs: runs.len(),
                median_ms: median(&walls),
                min_ms: walls.iter().copied().fold(f64::NAN, f64::min),
                max_ms: walls.iter().copied().fold(f64::NAN, f64::max),
                outline_ms: median(&of(&|r| r.phases.outline_ms)),
                modules_ms: median(&of(&|r| r.phases.modules_ms)),
                tokens_per_s: median(&of(&|r| {
                    r.phase_tokens_per_s(Phase::Module, r.phases.modules_ms)
                })),
                outline_tokens_per_s: median(&of(&|r| {
                    r.phase_tokens_per_s(Phase::Outline, r.phases.outline_ms)
                })),
                drafts_taken: median(&of(&|r| match module_drafts(r) {
                    (0, _) => f64::NAN,
                    (d, a) => a as f64 / d as f64,
                })),
                drafted: median(&of(&|r| module_drafts(r).0 as f64)),
                speedup: f64::NAN,
            }
        })
        .collect();
    let base = rows.first().map_or(f64::NAN, |r| r.median_ms);
    for r in &mut rows {
        r.speedup = base / r.median_ms;
    }
    rows
}

/// Drafted tokens of a run's module phase, and of those the tokens the sampling took.
fn module_drafts(r: &RunRecord) -> (usize, usize) {
    r.module_batches.iter().fold((0, 0), |(d, a), b| {
        (d + b.drafted_tokens, a + b.accepted_draft_tokens)
    })
}

fn secs(ms: f64) -> String {
    if ms.is_nan() {
        "-".into()
    } else {
        format!("{:.2}", ms / 1000.0)
    }
}

/// A rate to one decimal, or "-".
fn rate(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:.1}")
    }
}

/// The table people read: one row per combination, ratios to the first row; tok/s are
/// each phase's generated tokens over its time, drafts the module phase's drafted tokens
/// and the share of them the sampling took.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<8} {:<11} {:>5} {:>9} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>12} {:>9}\n",
        "backend",
        "strategy",
        "ok",
        "median s",
        "min s",
        "max s",
        "outline s",
        "modules s",
        "o tok/s",
        "m tok/s",
        "drafts",
        "vs first"
    );
    for r in rows {
        let drafts = if r.drafts_taken.is_nan() {
            "-".into()
        } else {
            format!("{:.0} {:.0}%", r.drafted, 100.0 * r.drafts_taken)
        };
        out += &format!(
            "{:<8} {:<11} {:>5} {:>9} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>12} {:>9}\n",
            r.backend,
            r.strategy,
            format!("{}/{}", r.ok_runs, r.runs),
            secs(r.median_ms),
            secs(r.min_ms),
            secs(r.max_ms),
            secs(r.outline_ms),
            secs(r.modules_ms),
            rate(r.outline_tokens_per_s),
            rate(r.tokens_per_s),
            drafts,
            if r.speedup.is_nan() {
                "-".into()
            } else {
                format!("{:.2}x", r.speedup)
            },
        );
    }
    out
}

/// Where each backend ran the model, from its first record that says: one line each, so a
/// GPU against a CPU is seen beside the times.
pub fn devices(results: &[BenchResult]) -> String {
    let mut out = String::new();
    let mut seen: Vec<Backend> = Vec::new();
    for r in results {
        let Some(device) = r.record.as_ref().and_then(|rec| rec.device.as_ref()) else {
            continue;
        };
        if !seen.contains(&r.backend) {
            seen.push(r.backend);
            out += &format!("{} device: {}\n", r.backend.name(), device.describe());
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const SVG_W: f64 = 900.0;
const SVG_LEFT: f64 = 190.0;
const SVG_RIGHT: f64 = 150.0;
const SVG_ROW: f64 = 46.0;
const SVG_TOP: f64 = 70.0;
/// Bar parts: colour and name.
const PARTS: [(&str, &str); 3] = [
    ("#8fb3de", "outline"),
    ("#2f6db5", "modules"),
    ("#c8c8c8", "load and finalize"),
];

/// A horizontal bar chart of median wall time per combination, split into outline,
/// modules and the rest, with a min-max whisker. Plain SVG: opens in any browser.
pub fn svg(rows: &[Row], title: &str) -> String {
    let (w, h) = (SVG_W, SVG_TOP + SVG_ROW * rows.len() as f64 + 60.0);
    let max = rows
        .iter()
        .map(|r| r.max_ms.max(r.median_ms))
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let scale = (SVG_W - SVG_LEFT - SVG_RIGHT) / max;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"14\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\">{}</text>\n\
         <text x=\"20\" y=\"52\" fill=\"#555\">median wall time per run (bar), fastest to slowest run (line)</text>\n",
        xml_escape(title)
    );
    for (i, r) in rows.iter().enumerate() {
        out += &svg_row(r, SVG_TOP + SVG_ROW * i as f64, scale);
    }
    let ly = SVG_TOP + SVG_ROW * rows.len() as f64 + 20.0;
    for (k, (color, label)) in PARTS.iter().enumerate() {
        let lx = SVG_LEFT + 170.0 * k as f64;
        out += &format!(
            "<rect x=\"{lx:.1}\" y=\"{ly:.1}\" width=\"14\" height=\"14\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{label}</text>\n",
            lx + 20.0,
            ly + 12.0
        );
    }
    out += "</svg>\n";
    out
}

/// One row of the chart at height `y`: label, stacked bar, whisker and figure.
fn svg_row(r: &Row, y: f64, scale: f64) -> String {
    let mut out = format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} {}</text>\n",
        SVG_LEFT - 10.0,
        y + 22.0,
        r.backend,
        r.strategy
    );
    if !r.median_ms.is_finite() {
        out += &format!(
            "<text x=\"{SVG_LEFT}\" y=\"{:.1}\" fill=\"#a00\">no successful run</text>\n",
            y + 22.0
        );
        return out;
    }
    let rest = (r.median_ms - r.outline_ms - r.modules_ms).max(0.0);
    let mut x = SVG_LEFT;
    for (ms, (color, part)) in [r.outline_ms, r.modules_ms, rest].into_iter().zip(PARTS) {
        let w = (ms * scale).max(0.0);
        out += &format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"28\" fill=\"{color}\"><title>{part}: {:.2} s</title></rect>\n",
            y + 4.0,
            ms / 1000.0
        );
        x += w;
    }
    out += &format!(
        "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-width=\"2\"/>\n",
        SVG_LEFT + r.min_ms * scale,
        SVG_LEFT + r.max_ms * scale,
        y + 18.0,
        y + 18.0
    );
    out += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\">{:.2} s ({:.2}x)</text>\n",
        SVG_LEFT + r.max_ms.max(r.median_ms) * scale + 8.0,
        y + 22.0,
        r.median_ms / 1000.0,
        r.speedup
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::measures::BatchStats;
    use crate::report::timing::Phases;

    fn record(wall: f64, outline: f64, modules: f64) -> RunRecord {
        let info = crate::engine::EngineInfo {
            backend: "llama".into(),
            model: "m".into(),
            path: None,
            size_bytes: None,
            quantization: None,
            chat_template: None,
            threads: 2,
            device: None,
        };
        let phases = Phases {
            load_ms: 0.0,
            outline_ms: outline,
            modules_ms: modules,
            finalize_ms: wall - outline - modules,
        };
        RunRecord::new(info, "x", 3, phases, vec![], vec![])
    }

    fn result(strategy: Strategy, run: usize, wall: Option<f64>) -> BenchResult {
        BenchResult {
            backend: Backend::Llama,
            strategy,
            run,
            ok: wall.is_some(),
            error: wall.is_none().then(|| "bad".to_string()),
            record: wall.map(|w| record(w, 1000.0, w - 1500.0)),
        }
    }

    #[test]
    fn rows_take_medians_and_ratios_to_the_first() {
        let results = vec![
            result(Strategy::Sequential, 1, Some(30_000.0)),
            result(Strategy::Parallel, 1, Some(12_000.0)),
            result(Strategy::Sequential, 2, Some(40_000.0)),
            result(Strategy::Parallel, 2, Some(10_000.0)),
            result(Strategy::Sequential, 3, Some(20_000.0)),
            result(Strategy::Parallel, 3, None),
        ];
        let rows = summarize(&results);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].median_ms,
                rows[0].min_ms,
                rows[0].max_ms,
                rows[0].ok_runs
            ),
            (30_000.0, 20_000.0, 40_000.0, 3)
        );
        assert_eq!(
            (rows[1].median_ms, rows[1].ok_runs, rows[1].runs),
            (11_000.0, 2, 3)
        );
        assert!((rows[1].speedup - 30.0 / 11.0).abs() < 1e-9);
        assert_eq!(rows[0].speedup, 1.0);
        let t = table(&rows);
        assert!(t.lines().next().unwrap().contains("vs first"), "{t}");
        assert!(
            t.contains("parallel") && t.contains("2/3") && t.contains("2.73x"),
            "{t}"
        );
    }

    #[test]
    fn rows_show_the_share_of_drafted_tokens_taken() {
        let mut results = vec![
            result(Strategy::Parallel, 1, Some(30_000.0)),
            result(Strategy::Parallel, 2, Some(30_000.0)),
        ];
        for (r, (drafted, accepted)) in results.iter_mut().zip([(400, 100), (600, 300)]) {
            let rec = r.record.as_mut().unwrap();
            rec.module_batches = vec![
                BatchStats {
                    drafted_tokens: drafted / 2,
                    accepted_draft_tokens: accepted / 2,
                    ..BatchStats::default()
                };
                2
            ];
        }
        let rows = summarize(&results);
        assert_eq!(rows[0].drafted, 500.0);
        assert!((rows[0].drafts_taken - 0.375).abs() < 1e-9);
        assert!(table(&rows).contains("500 38%"), "{}", table(&rows));
        let plain = summarize(&[result(Strategy::Parallel, 1, Some(30_000.0))]);
        assert!(plain[0].drafts_taken.is_nan());
    }

    #[test]
    fn svg_has_one_bar_group_per_row_and_escapes_text() {
        let results = vec![
            result(Strategy::Sequential, 1, Some(30_000.0)),
            result(Strategy::Parallel, 1, None),
        ];
        let rows = summarize(&results);
        let s = svg(&rows, "a <b> & \"c\"");
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(s.contains("no successful run"));
        assert_eq!(
            s.matches("<title>").count(),
            3,
            "three segments for the one good row"
        );
        assert!(!s.contains("NaN"), "{s}");
    }

    #[test]
    fn median_of_even_and_odd_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
