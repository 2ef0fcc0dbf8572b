//! `syllabus batch` on the real binary and the test model: several courses sharing one
//! engine, the summary, resume, `--force`, and a bad row refused before any model work.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use common::cli::{assert_fails, assert_ok, syllabus};
use serde_json::Value;

fn batch(dir: &Path, extra: &[&str]) -> Output {
    syllabus(dir)
        .args(["batch", "courses.jsonl", "--out-dir", "out", "--model"])
        .arg(common::model_path())
        .args(extra)
        .output()
        .unwrap()
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("out/summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn statuses(s: &Value) -> Vec<String> {
    s["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn courses_share_the_engine_then_resume_and_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("courses.jsonl"),
        "{\"topic\":\"Introduction to Marine Biology\",\"modules\":1}\n\
         {\"topic\":\"Urban Gardening\",\"modules\":1,\"audience\":\"Adults\"}\n",
    )
    .unwrap();
    // Seed 2: these two courses in about 28 s here on one thread (two batches side by side,
    // as the tests run), where seeds 1-8 took 25-35 s. A batch writes the same courses run
    // after run, so the figure holds.
    let args = ["--seed", "2", "--format", "markdown"];
    let out = batch(d, &args);
    assert_ok(&out);
    let s = summary(d);
    assert_eq!(statuses(&s), ["written", "written"], "{s:#}");
    for (name, topic) in [
        (
            "introduction-to-marine-biology",
            "Introduction to Marine Biology",
        ),
        ("urban-gardening", "Urban Gardening"),
    ] {
        let text = std::fs::read_to_string(d.join(format!("out/{name}.json"))).unwrap();
        let syllabus: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(syllabus["topic"], topic);
        assert_eq!(syllabus["modules"].as_array().unwrap().len(), 1);
        assert_eq!(syllabus["provenance"]["request"]["topic"], topic);
        let md = std::fs::read_to_string(d.join(format!("out/{name}.md"))).unwrap();
        assert!(md.contains(syllabus["title"].as_str().unwrap()));
    }
    // Both courses ran in one open run of the engine, their calls decoded together.
    assert!(
        s["engine_run"]["max_parallel"].as_u64().unwrap() >= 2,
        "{s:#}"
    );
    let record = &s["courses"][1]["record"];
    assert_eq!(record["modules"], 1);
    assert_eq!(record["module_batches"][0]["prompt_layout"], "continued");

    let before = std::fs::read(d.join("out/urban-gardening.json")).unwrap();
    let t = Instant::now();
    let again = batch(d, &args);
    assert_ok(&again);
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
    assert_eq!(statuses(&summary(d)), ["skipped", "skipped"]);
    assert_eq!(
        std::fs::read(d.join("out/urban-gardening.json")).unwrap(),
        before
    );

    // A damaged output is written again; the other stays.
    std::fs::write(d.join("out/urban-gardening.json"), "{").unwrap();
    let out = batch(d, &args);
    assert_ok(&out);
    assert_eq!(statuses(&summary(d)), ["skipped", "written"]);

    // A teacher's edit of the other file is kept: no new run, no file replaced.
    std::fs::write(
        d.join("out/introduction-to-marine-biology.md"),
        "# edited\n",
    )
    .unwrap();
    let out = batch(d, &args);
    assert_ok(&out);
    let s = summary(d);
    assert_eq!(statuses(&s), ["skipped", "skipped"]);
    assert!(s["courses"][0]["note"].as_str().unwrap().contains("edited"));
    assert_eq!(
        std::fs::read_to_string(d.join("out/introduction-to-marine-biology.md")).unwrap(),
        "# edited\n"
    );
    // A missing other file is made from the JSON, without the model.
    std::fs::remove_file(d.join("out/urban-gardening.md")).unwrap();
    let t = Instant::now();
    let out = batch(d, &args);
    assert_ok(&out);
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
    assert_eq!(statuses(&summary(d)), ["skipped", "rebuilt"]);
    let md = std::fs::read_to_string(d.join("out/urban-gardening.md")).unwrap();
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/urban-gardening.json")).unwrap())
            .unwrap();
    assert!(md.contains(json["title"].as_str().unwrap()));
    assert_eq!(
        json["provenance"]["files"]["urban-gardening.md"],
        syllabus::launch::digest::sha256_hex(md.as_bytes())
    );

    // --force writes again, and the teacher's edit is kept beside the new file.
    let out = batch(d, &[&args[..], &["--force"]].concat());
    assert_ok(&out);
    assert_eq!(statuses(&summary(d)), ["written", "written"]);
    assert_eq!(
        std::fs::read_to_string(d.join("out/introduction-to-marine-biology.previous-1.md"))
            .unwrap(),
        "# edited\n"
    );
    // The same rows and seed write the same course again: each course's calls join the
    // shared batch at the same decode step in every run.
    let course = |bytes: &[u8]| {
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        v.as_object_mut().unwrap().remove("provenance");
        v
    };
    assert_eq!(
        course(&std::fs::read(d.join("out/urban-gardening.json")).unwrap()),
        course(&before)
    );
}

#[test]
fn a_course_keeps_its_files_when_rows_move_and_another_courses_json_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = [
        "{\"topic\":\"Urban Gardening\",\"modules\":1,\"audience\":\"Adults\"}\n",
        "{\"topic\":\"Urban Gardening\",\"modules\":1,\"audience\":\"Teenagers\"}\n",
        "{\"topic\":\"Tides\",\"modules\":1}\n",
    ];
    std::fs::write(d.join("courses.jsonl"), rows.concat()).unwrap();
    // Seed 5: these three courses in about 32 s here on one thread (two batches side by
    // side), where seeds 1-4 and 6-8 took 43-75 s.
    let seed = ["--seed", "5"];
    assert_ok(&batch(d, &seed));
    let s = summary(d);
    assert_eq!(statuses(&s), ["written", "written", "written"], "{s:#}");
    let files: Vec<String> = s["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outputs"][0].as_str().unwrap().to_string())
        .collect();
    let audience = |path: &str| -> Value {
        let text = std::fs::read_to_string(d.join(path)).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["provenance"]["request"]["audience"].clone()
    };
    assert_eq!(audience(&files[0]), "Adults");
    assert_eq!(audience(&files[1]), "Teenagers");

    // The first row removed, the others reordered: each course still has its own files.
    std::fs::write(d.join("courses.jsonl"), [rows[2], rows[1]].concat()).unwrap();
    assert_ok(&batch(d, &seed));
    let s = summary(d);
    assert_eq!(statuses(&s), ["skipped", "skipped"], "{s:#}");
    assert_eq!(s["courses"][1]["outputs"][0], files[1].as_str());
    assert_eq!(audience(&files[0]), "Adults");
    assert_eq!(audience(&files[1]), "Teenagers");

    // A file of the same name holding another course is not written over.
    let tides = d.join(&files[2]);
    let theirs = std::fs::read_to_string(d.join(&files[0])).unwrap();
    std::fs::write(&tides, &theirs).unwrap();
    let out = batch(d, &seed);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds another course"), "{err}");
    assert_eq!(std::fs::read_to_string(&tides).unwrap(), theirs);
    assert_eq!(statuses(&summary(d)), ["failed", "skipped"]);
    // With --force it is, and the file it held is kept beside (the Tides row alone: --force
    // would write every row again).
    std::fs::write(d.join("courses.jsonl"), rows[2]).unwrap();
    assert_ok(&batch(d, &[&seed[..], &["--force"]].concat()));
    assert_eq!(statuses(&summary(d)), ["written"]);
    let kept = tides.with_file_name("tides.previous-1.json");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), theirs);
}

#[test]
fn topics_named_like_the_summary_keep_their_syllabi() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("courses.jsonl"),
        "{\"topic\":\"Summary\",\"modules\":1}\n{\"topic\":\"summary\",\"modules\":1}\n",
    )
    .unwrap();
    // Seed 2: these two courses in about 22 s here on one thread (two batches side by side),
    // where seeds 1 and 3-8 took 22-35 s.
    assert_ok(&batch(d, &["--seed", "2"]));
    let s = summary(d);
    assert_eq!(statuses(&s), ["written", "written"], "{s:#}");
    for c in s["courses"].as_array().unwrap() {
        let name = c["outputs"][0].as_str().unwrap().trim_start_matches("out/");
        assert!(name.starts_with("summary-"), "{name}");
        let text = std::fs::read_to_string(d.join("out").join(name)).unwrap();
        let syllabus: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(syllabus["modules"].as_array().unwrap().len(), 1);
    }
    assert!(s["courses"].is_array(), "summary.json is the batch's own");
}

#[test]
fn an_outline_outside_the_course_folder_is_refused_with_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for outline in ["/etc/hostname", "../x.txt"] {
        std::fs::write(
            d.join("courses.jsonl"),
            format!("{{\"topic\":\"Tides\",\"modules\":2,\"outline\":\"{outline}\"}}\n"),
        )
        .unwrap();
        let err = assert_fails(&batch(d, &[]), 2, "courses.jsonl row 1");
        assert!(err.contains(outline), "{err}");
        assert!(!d.join("out").exists());
    }
}

#[test]
fn a_bad_row_is_named_before_any_model_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("courses.csv"),
        "topic,modules\nHistory of Jazz,3\nTides,300\n",
    )
    .unwrap();
    let out = syllabus(d)
        .args([
            "batch",
            "courses.csv",
            "--out-dir",
            "out",
            "--model",
            "missing.gguf",
        ])
        .output()
        .unwrap();
    let err = assert_fails(&out, 2, "courses.csv row 2 (line 3)");
    assert!(err.contains("modules"), "{err}");
    assert!(
        !d.join("out").exists(),
        "nothing written for a refused file"
    );
}
