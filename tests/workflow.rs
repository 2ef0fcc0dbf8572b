//! A teacher's workflow on the real binary and the test model: their own outline, one
//! module written again with a note, and the syllabus as a web page and a Word document.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Output;

use common::cli::{assert_fails, assert_ok, stderr, syllabus};
use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    syllabus(dir)
        .args(args)
        .arg("--model")
        .arg(common::model_path())
        .output()
        .unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const TITLES: [&str; 3] = [
    "Soil and Compost",
    "Watering Small Plots",
    "Pests Without Poison",
];

#[test]
fn own_outline_then_one_module_again_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("o.txt"),
        format!(
            "1. {}\n2. {}: how much and when\n- {}\n",
            TITLES[0], TITLES[1], TITLES[2]
        ),
    )
    .unwrap();
    // Seed 5: this course in about 19 s here on one thread, where seeds 1-4 took 29-41 s.
    let out = run(
        dir.path(),
        &[
            "generate",
            "Urban Gardening",
            "--outline",
            "o.txt",
            "--seed",
            "5",
            "-o",
            "s.json",
        ],
    );
    assert_ok(&out);
    let s = read_json(&dir.path().join("s.json"));
    let titles: Vec<&str> = s["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, TITLES, "exactly the teacher's titles, in order");
    assert_eq!(s["modules"][1]["focus"], "how much and when");
    let p = &s["provenance"];
    assert_eq!(p["format"], 1);
    assert_eq!(p["request"]["topic"], "Urban Gardening");
    assert_eq!(p["model"]["sha256"].as_str().unwrap().len(), 64);
    // --modules may not disagree with the outline.
    let out = run(
        dir.path(),
        &[
            "generate",
            "Urban Gardening",
            "--outline",
            "o.txt",
            "--modules",
            "4",
        ],
    );
    assert_fails(&out, 2, "disagrees with --outline");

    // Marks for review on modules 1 and 2: writing module 2 again clears its own.
    let mut marked = read_json(&dir.path().join("s.json"));
    let provenance = marked
        .as_object_mut()
        .unwrap()
        .remove("provenance")
        .unwrap();
    let mark = |m: u64| serde_json::json!({"module": m, "field": "topics", "reason": "marked by the test"});
    marked["review"] = serde_json::json!([mark(1), mark(2)]);
    marked["provenance"] = provenance;
    let text = serde_json::to_string_pretty(&marked).unwrap() + "\n";
    std::fs::write(dir.path().join("s.json"), text).unwrap();
    let before = std::fs::read_to_string(dir.path().join("s.json")).unwrap();
    let out = run(
        dir.path(),
        &[
            "regenerate",
            "s.json",
            "--module",
            "2",
            "--note",
            "more hands-on activities",
            "-o",
            "r.json",
        ],
    );
    assert_ok(&out);
    let (a, b) = (
        read_json(&dir.path().join("s.json")),
        read_json(&dir.path().join("r.json")),
    );
    assert_ne!(
        a["modules"][1], b["modules"][1],
        "module 2 was written again"
    );
    let marks: Vec<(u64, &str)> = b["review"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["module"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert!(marks.contains(&(1, "marked by the test")), "{marks:?}");
    assert!(!marks.contains(&(2, "marked by the test")), "{marks:?}");
    let mut b_rest = b.clone();
    b_rest["modules"][1] = a["modules"][1].clone();
    b_rest["review"] = a["review"].clone();
    assert_eq!(a, b_rest, "every other field as it was");
    for key in ["number", "title", "focus"] {
        assert_eq!(a["modules"][1][key], b["modules"][1][key], "{key}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.json")).unwrap(),
        before,
        "input untouched"
    );
    let out = run(dir.path(), &["regenerate", "s.json", "--module", "9"]);
    assert_fails(&out, 2, "has 3 modules");
    // In place: the previous version is kept beside the new one, never lost.
    let out = run(dir.path(), &["regenerate", "s.json", "--module", "1"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("s.previous-1.json"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.previous-1.json")).unwrap(),
        before
    );
    assert_ne!(
        read_json(&dir.path().join("s.json"))["modules"][0],
        a["modules"][0]
    );
    // Another format never goes over the JSON, whatever the JSON file is called.
    std::fs::write(dir.path().join("s.syllabus"), &before).unwrap();
    let args = [
        "regenerate",
        "s.syllabus",
        "--module",
        "1",
        "--format",
        "markdown",
    ];
    let out = run(dir.path(), &args);
    assert_ok(&out);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.syllabus")).unwrap(),
        before
    );
    assert!(std::fs::read_to_string(dir.path().join("s.md"))
        .unwrap()
        .starts_with('#'));
    let out = run(dir.path(), &[&args[..], &["-o", "s.syllabus"]].concat());
    assert_fails(&out, 2, "would replace the JSON syllabus");
}

#[test]
fn regenerate_refuses_files_that_are_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("notes.json", "[1, 2, 3]".to_string(), "is not a syllabus"),
        ("text.json", "hello".to_string(), "is not JSON"),
    ];
    let mut s = serde_json::json!({
        "title": "T", "topic": "T", "description": "D", "audience": "A", "language": "English",
        "prerequisites": ["a", "b"], "learning_outcomes": ["c", "d"],
        "modules": [{"number": 1, "title": "M", "focus": "F", "summary": "S",
                     "learning_objectives": ["x", "y"], "topics": ["x", "y"],
                     "activities": ["x", "y"], "assessment": "Q"}]
    });
    let old = s.to_string();
    s["provenance"] = serde_json::json!({"format": 7, "program": "syllabus 9.0", "request": {},
        "backend": "llama", "model": {"name": "m"}, "seed": 1, "strategy": "parallel"});
    let future = s.to_string();
    for (name, text, needle) in cases.into_iter().chain([
        ("old.json", old, "no `provenance`"),
        ("future.json", future, "format 7"),
    ]) {
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = syllabus(dir.path())
            .args(["regenerate", name, "--module", "1"])
            .output()
            .unwrap();
        assert_fails(&out, 2, needle);
    }
}

#[test]
fn a_web_page_and_a_word_document_a_teacher_can_open() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "Urban Gardening",
        "--outline",
        "o.txt",
        "--seed",
        "3",
    ];
    std::fs::write(dir.path().join("o.txt"), TITLES.join("\n")).unwrap();
    // One course, written as the page and the document (render writes what generate would).
    assert_ok(&run(dir.path(), &[&args[..], &["-o", "s.json"]].concat()));
    let rendered = syllabus(dir.path())
        .args(["render", "s.json", "-o", "s.html"])
        .output()
        .unwrap();
    assert_ok(&rendered);
    let page = dir.path().join("s.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "self-contained"
    );
    if let Some(dom) = common::browser::dom(&page) {
        assert!(dom.contains("<h1>"), "{dom}");
        for (i, t) in TITLES.iter().enumerate() {
            assert!(
                dom.contains(&format!("Module {}: {t}", i + 1)),
                "{t} in {dom}"
            );
        }
        common::browser::screenshot(&page, (1000, 1400));
    }

    let rendered = syllabus(dir.path())
        .args(["render", "s.json", "-o", "s.docx"])
        .output()
        .unwrap();
    assert_ok(&rendered);
    let bytes = std::fs::read(dir.path().join("s.docx")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut body = String::new();
    zip.by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut body)
        .unwrap();
    for (i, t) in TITLES.iter().enumerate() {
        let heading = format!("Module {}: {t}", i + 1);
        let at = body
            .find(&heading)
            .unwrap_or_else(|| panic!("{heading} missing"));
        let paragraph = &body[body[..at]
            .rfind("<w:p>")
            .or(body[..at].rfind("<w:p "))
            .unwrap()..at];
        assert!(
            paragraph.contains("Heading2"),
            "{heading} is a heading: {paragraph}"
        );
    }
    assert!(zip.by_name("word/styles.xml").is_ok());

    let out = run(
        dir.path(),
        &["generate", "X", "--format", "html", "-o", "x.docx"],
    );
    assert_fails(&out, 2, "disagrees");
    let out = run(dir.path(), &["generate", "X", "--format", "docx"]);
    assert_fails(&out, 2, "give -o NAME.docx");
    let _ = stderr(&out);
}
