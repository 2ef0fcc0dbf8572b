//! Reporting on the real binary: `syllabus bench` (table, JSON, SVG) and the progress display.

mod common;

use std::path::Path;

use common::cli::{assert_ok, stderr, syllabus, MARINE_BENCH, SHORT};
use serde_json::Value;

fn model() -> String {
    common::model_path().display().to_string()
}

#[test]
fn bench_compares_strategies_in_a_table_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(MARINE_BENCH)
        .args([
            "--strategies",
            "sequential,parallel",
            "--json",
            "b.json",
            "--svg",
            "b.svg",
        ])
        .args(["--model", &model()])
        .output()
        .unwrap();
    assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("Marine Biology") && lines[0].contains("1 module"),
        "{table}"
    );
    assert!(
        lines[1].contains("median s") && lines[1].contains("vs first"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("llama")
            && lines[2].contains("sequential")
            && lines[2].contains("1.00x"),
        "{table}"
    );
    assert!(lines[3].contains("parallel"), "{table}");
    assert_eq!(lines[4], "llama device: CPU", "{table}");

    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("b.json")).unwrap()).unwrap();
    let results = b["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        2,
        "one run per strategy, warm-up not counted"
    );
    let ok: Vec<&Value> = results.iter().filter(|r| r["ok"] == true).collect();
    assert!(!ok.is_empty());
    for r in ok {
        let rec = &r["record"];
        assert_eq!(rec["strategy"], r["strategy"]);
        assert_eq!(rec["backend"], "llama");
        assert!(rec["calls"].as_array().unwrap().len() >= 2);
        assert_eq!(
            rec["phases"]["load_ms"], 0.0,
            "the model is loaded once, before the runs"
        );
    }
    assert_eq!(b["summary"].as_array().unwrap().len(), 2);

    let svg = std::fs::read_to_string(dir.path().join("b.svg")).unwrap();
    assert!(
        svg.starts_with("<svg")
            && svg.contains("llama parallel")
            && svg.contains("llama sequential")
    );
    check_svg_in_browser(&dir.path().join("b.svg"));
}

#[test]
fn bench_times_courses_one_after_another_against_together() {
    let dir = tempfile::tempdir().unwrap();
    // Seeds 11 and 12 (the courses'): the two shortest of the SHORT request's seeds 1-15.
    let out = syllabus(dir.path())
        .args([
            "bench",
            SHORT[0],
            "--modules",
            "1",
            "--seed",
            "11",
            "--runs",
            "1",
        ])
        .args(["--courses", "2", "--at-once", "1,2", "--json", "c.json"])
        .args(["--model", &model()])
        .output()
        .unwrap();
    assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains(&format!("2 courses of \"{}\"", SHORT[0])),
        "{table}"
    );
    assert!(lines[1].contains("vs one after another"), "{table}");
    assert!(
        lines[2].contains("one after another") && lines[2].contains("1.00x"),
        "{table}"
    );
    assert!(
        lines[3].contains("1 at once") && lines[4].contains("2 at once"),
        "{table}"
    );
    let c: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c.json")).unwrap()).unwrap();
    let results = c["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "one run of each configuration");
    for r in results {
        assert_eq!(r["courses"], 2);
        assert_eq!(r["ok_courses"], 2, "{r}");
        assert!(r["wall_ms"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_at_once_without_courses_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--at-once", "2"][..],
        &["--courses", "1"],
        &["--courses", "3", "--at-once", "4"],
        &["--courses", "2", "--svg", "x.svg"],
    ] {
        let out = syllabus(dir.path())
            .args(["bench", "Marine Biology"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// Renders the chart in headless Chromium (CI installs it) and checks the screenshot is a
/// real picture, not a blank page.
fn check_svg_in_browser(svg: &Path) {
    common::browser::screenshot(svg, (900, 300));
}

#[test]
fn no_progress_drawing_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .arg("generate")
        .args(SHORT)
        .args([
            "--model",
            &model(),
            "-o",
            "s.md",
            "--slow-call-secs",
            "0.001",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let err = stderr(&out);
    // Every call is over the limit: the warnings come too, as plain text.
    assert!(err.contains("slow model call"), "{err}");
    assert!(
        !err.contains('\r') && !err.contains("\x1b["),
        "terminal drawing in a pipe: {err:?}"
    );
    assert!(
        err.contains("load") && err.contains("modules"),
        "the report is still there: {err}"
    );
}

#[test]
fn progress_bars_are_drawn_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("syllabus");
    let cmd = format!(
        "{} generate '{}' {} --model {} -o s.md",
        bin.display(),
        SHORT[0],
        SHORT[1..].join(" "),
        model()
    );
    // `script` runs the command on a pseudo-terminal and copies what it drew.
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("HF_HUB_OFFLINE", "1")
        .env("TERM", "xterm")
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env(common::THREADS.0, common::THREADS.1)
        .output()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{drawn}");
    assert!(
        drawn.contains("module 1") && drawn.contains("tok"),
        "{drawn}"
    );
    assert!(drawn.contains("\x1b["), "bars are redrawn in place");
}
