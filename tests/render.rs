//! `syllabus render` on the real binary: a saved syllabus in every format, the same bytes
//! `generate` writes; course packages read back and checked by a real XML parser
//! (`xmllint`), PDFs by `pdftotext` (both installed by `scripts/setup.sh`); a hand edit that
//! broke the file refused with the field named.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Output;

use common::cli::{assert_fails, assert_ok, syllabus, SHORT};
use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    syllabus(dir).args(args).output().unwrap()
}

fn generate(dir: &Path, out: &str) {
    let model = common::model_path();
    let args = [&SHORT[..], &["--quiet", "-o", out, "--model"]].concat();
    let out = syllabus(dir)
        .arg("generate")
        .args(args)
        .arg(model)
        .output()
        .unwrap();
    assert_ok(&out);
}

/// Every entry of a zip file, by name.
fn entries(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().to_string(), bytes)
        })
        .collect()
}

/// `xmllint --noout` on `xml`: a real parser finds it well formed.
fn well_formed(dir: &Path, name: &str, xml: &[u8]) {
    let path = dir.join(name.replace('/', "_"));
    std::fs::write(&path, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg(&path)
        .output()
        .expect("xmllint runs (Debian package libxml2-utils; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks a package against the saved syllabus: one unit per module holding its page,
/// every reference resolving to a file inside; returns the manifest.
fn check_package(dir: &Path, path: &Path, saved: &Value) -> String {
    let files = entries(path);
    for (name, bytes) in &files {
        if name.ends_with(".xml") {
            well_formed(dir, name, bytes);
        }
    }
    let manifest = String::from_utf8(files["imsmanifest.xml"].clone()).unwrap();
    let modules = saved["modules"].as_array().unwrap();
    for (i, m) in modules.iter().enumerate() {
        let n = format!("{:02}", i + 1);
        assert!(manifest.contains(&format!("<item identifier=\"UNIT_MODULE_{n}\">")));
        let page = String::from_utf8(files[&format!("modules/module-{n}.html")].clone()).unwrap();
        let title = m["title"].as_str().unwrap();
        let shown = title.replace('&', "&amp;").replace('<', "&lt;");
        assert!(page.contains(&shown), "{title} on its page:\n{page}");
    }
    assert!(!manifest.contains(&format!("UNIT_MODULE_{:02}", modules.len() + 1)));
    for href in manifest.split("href=\"").skip(1) {
        let href = &href[..href.find('"').unwrap()];
        assert!(files.contains_key(href), "{href} is in the package");
    }
    manifest
}

#[test]
fn a_saved_syllabus_renders_in_every_format_as_generate_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "s.json");
    generate(d, "s.imscc");
    let saved: Value = serde_json::from_slice(&std::fs::read(d.join("s.json")).unwrap()).unwrap();

    assert_ok(&run(d, &["render", "s.json", "-o", "r.imscc"]));
    assert_eq!(
        std::fs::read(d.join("r.imscc")).unwrap(),
        std::fs::read(d.join("s.imscc")).unwrap(),
        "render writes what generate wrote"
    );
    let manifest = check_package(d, &d.join("r.imscc"), &saved);
    assert!(manifest.contains("<schemaversion>1.3.0</schemaversion>"));
    assert!(manifest.contains("assignment_xmlv1p0"));

    assert_ok(&run(
        d,
        &["render", "s.json", "--format", "imscc-1.1", "-o", "m.imscc"],
    ));
    let manifest = check_package(d, &d.join("m.imscc"), &saved);
    assert!(manifest.contains("<schemaversion>1.1.0</schemaversion>"));
    assert!(!manifest.contains("assignment"));

    let out = run(d, &["render", "s.json"]);
    assert_ok(&out);
    let markdown = String::from_utf8(out.stdout).unwrap();
    assert!(markdown.starts_with(&format!("# {}\n", saved["title"].as_str().unwrap())));
    for (args, file) in [
        (vec!["-o", "r.html"], "r.html"),
        (vec!["--format", "docx", "-o", "r.docx"], "r.docx"),
        (vec!["-o", "r.json"], "r.json"),
    ] {
        assert_ok(&run(d, &[&["render", "s.json"][..], &args].concat()));
        assert!(std::fs::metadata(d.join(file)).unwrap().len() > 0, "{file}");
    }
    assert_eq!(
        std::fs::read(d.join("r.json")).unwrap(),
        std::fs::read(d.join("s.json")).unwrap(),
        "JSON round trips byte for byte"
    );
    let out = run(d, &["render", "s.json", "--format", "imscc"]);
    assert_fails(&out, 2, "give -o NAME.imscc");

    assert_ok(&run(d, &["render", "s.json", "-o", "r.pdf"]));
    let text = pdf_text(&d.join("r.pdf"));
    for m in saved["modules"].as_array().unwrap() {
        let title = words(m["title"].as_str().unwrap());
        assert!(text.contains(&title), "{title} in the PDF:\n{text}");
    }
}

/// The text of a PDF as `pdftotext` reads it, runs of white space made one space.
fn pdf_text(path: &Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext runs (Debian package poppler-utils; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    words(&String::from_utf8(out.stdout).unwrap())
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_chinese_syllabus_prints_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let module = |n: u32, title: &str| {
        serde_json::json!({
            "number": n, "title": title, "focus": "潮汐的成因",
            "summary": "本单元介绍月球引力如何使海水每天两次涨落，以及潮汐表的读法。",
            "learning_objectives": ["解释潮汐的成因", "读懂潮汐表"],
            "topics": ["引力", "潮汐表"], "activities": ["观察记录", "小组讨论"],
            "assessment": "简短测验。"
        })
    };
    let syllabus = serde_json::json!({
        "title": "海洋生物学导论", "topic": "海洋生物学导论", "description": "海洋中的生命。",
        "audience": "高中生", "language": "Chinese",
        "prerequisites": ["基础生物", "基础化学"],
        "learning_outcomes": ["说明海洋分区", "描述食物网"],
        "modules": [module(1, "潮汐与月球"), module(2, "珊瑚礁生态")]
    });
    std::fs::write(d.join("zh.json"), serde_json::to_string(&syllabus).unwrap()).unwrap();
    assert_ok(&run(d, &["render", "zh.json", "-o", "zh.pdf"]));
    let text = pdf_text(&d.join("zh.pdf")).replace(' ', "");
    for needle in [
        "海洋生物学导论",
        "潮汐与月球",
        "珊瑚礁生态",
        "读懂潮汐表",
        "本单元介绍月球引力",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
}

#[test]
fn a_hand_edit_that_removed_a_field_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let syllabus = serde_json::json!({
        "title": "Tides", "topic": "Tides", "description": "The sea rises and falls.",
        "audience": "Students", "language": "English",
        "prerequisites": ["Maps", "Moon phases"],
        "learning_outcomes": ["Explain tides", "Read a tide table"],
        "modules": [{
            "number": 1, "title": "The Moon", "focus": "Gravity",
            "summary": "Why the sea moves.",
            "learning_objectives": ["Name forces", "Draw bulges"],
            "topics": ["Gravity", "Bulges"], "activities": ["Model", "Walk"],
            "assessment": "A short quiz."
        }]
    });
    std::fs::write(
        d.join("ok.json"),
        serde_json::to_string_pretty(&syllabus).unwrap(),
    )
    .unwrap();
    assert_ok(&run(d, &["render", "ok.json", "-o", "ok.imscc"]));
    let mut broken = syllabus.clone();
    broken["modules"][0]
        .as_object_mut()
        .unwrap()
        .remove("assessment");
    std::fs::write(
        d.join("b.json"),
        serde_json::to_string_pretty(&broken).unwrap(),
    )
    .unwrap();
    let err = assert_fails(
        &run(d, &["render", "b.json"]),
        2,
        "missing field `assessment`",
    );
    assert!(err.contains("modules[0]") && err.contains("line "), "{err}");
    assert!(!d.join("b.md").exists());
    std::fs::write(d.join("n.json"), "{\"title\": ").unwrap();
    assert_fails(
        &run(d, &["render", "n.json"]),
        2,
        "n.json is not a syllabus",
    );
    assert_fails(
        &run(d, &["render", "gone.json"]),
        1,
        "cannot read gone.json",
    );
}

#[test]
fn control_characters_never_reach_a_file_or_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = "\u{1}\u{1b}[31m\u{202e}\u{0}";
    let saved = serde_json::json!({
        "title": format!("Tides{bad}"), "topic": "Tides", "description": "The sea rises and falls.",
        "audience": "Students", "language": "English",
        "prerequisites": ["Maps", format!("Moon{bad} phases")],
        "learning_outcomes": ["Explain tides", "Read a tide table"],
        "modules": [{
            "number": 1, "title": format!("The{bad} Moon"), "focus": "Gravity",
            "summary": "Why the sea moves.",
            "learning_objectives": ["Name forces", "Draw bulges"],
            "topics": ["Gravity", format!("Bulges{bad}")], "activities": ["Model", "Walk"],
            "assessment": "A short quiz."
        }]
    });
    std::fs::write(d.join("h.json"), serde_json::to_string(&saved).unwrap()).unwrap();
    for (format, file) in [
        ("imscc", "h.imscc"),
        ("imscc-1.1", "h11.imscc"),
        ("docx", "h.docx"),
    ] {
        assert_ok(&run(
            d,
            &["render", "h.json", "--format", format, "-o", file],
        ));
        for (name, bytes) in entries(&d.join(file)) {
            if name.ends_with(".xml") || name.ends_with(".rels") || name.ends_with(".html") {
                if name.ends_with(".xml") || name.ends_with(".rels") {
                    well_formed(d, &format!("{file}-{name}"), &bytes);
                }
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    !text.contains(['\u{1}', '\u{1b}', '\u{202e}', '\u{0}']),
                    "{file} {name}"
                );
            }
        }
    }
    let out = run(d, &["render", "h.json"]);
    assert_ok(&out);
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains("Tides\\[31m") && !md.contains(['\u{1b}', '\u{202e}', '\u{1}', '\u{0}']),
        "{md}"
    );
    // The same through the command line: an audience with an escape sequence in it.
    let model = common::model_path();
    let args = [
        &SHORT[..],
        &[
            "--quiet",
            "--audience",
            "adults\u{1b}]0;pwned\u{7}\u{202e}",
            "--model",
        ],
    ]
    .concat();
    let out = syllabus(d)
        .arg("generate")
        .args(args)
        .arg(model)
        .output()
        .unwrap();
    assert_ok(&out);
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(!md.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{md}");
    // A file past the size cap is refused, not read.
    std::fs::write(d.join("big.json"), vec![b' '; 5 << 20]).unwrap();
    assert_fails(&run(d, &["render", "big.json"]), 2, "at most");
}
