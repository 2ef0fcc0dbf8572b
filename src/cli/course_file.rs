//! Course files for `syllabus batch`: one course per row, as CSV (with a header), JSON
//! Lines or TOML (`[[course]]` tables), read into rows whose errors name the row.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::fields::CourseFields;
use super::usage::UsageError;

/// Where a row came from, for messages: "courses.csv row 3".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowPlace {
    /// 1-based course number in the file.
    pub row: usize,
    /// How people find it: the file and row (and line for CSV and JSON Lines).
    pub label: String,
}

/// Reads every course of `path`; the kind of file from its extension. An unreadable file
/// is an error; a file we cannot read as courses is a `UsageError` naming the row.
pub fn read(path: &Path) -> anyhow::Result<Vec<(RowPlace, CourseFields)>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let rows = match ext.as_deref() {
        Some("csv") => csv_rows(&shown, &text)?,
        Some("jsonl" | "ndjson") => jsonl_rows(&shown, &text)?,
        Some("toml") => toml_rows(&shown, &text)?,
        _ => {
            return Err(UsageError(format!(
                "{shown}: give courses as .csv (with a header row), .jsonl (one JSON object a line) or .toml ([[course]] tables)"
            ))
            .into())
        }
    };
    if rows.is_empty() {
        return Err(UsageError(format!("{shown} lists no course")).into());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    rows.into_iter()
        .map(|(place, mut row)| {
            if let Some(o) = row.outline.take() {
                row.outline = Some(
                    confined(base, &o)
                        .map_err(|why| UsageError(format!("{}: {why}", place.label)))?,
                );
            }
            Ok((place, row))
        })
        .collect::<Result<_, UsageError>>()
        .map_err(Into::into)
}

/// `outline` within the course file's folder `base`: a relative path without `..` that
/// stays inside it once links are followed; a course file cannot read other files.
fn confined(base: &Path, outline: &Path) -> Result<PathBuf, String> {
    use std::path::Component;
    let shown = outline.display();
    if !outline
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "outline {shown} must be a file in the course file's folder (a relative path without ..)"
        ));
    }
    let path = base.join(outline);
    if let (Ok(real), Ok(root)) = (path.canonicalize(), base.canonicalize()) {
        if !real.starts_with(&root) {
            return Err(format!(
                "outline {shown} leads outside the course file's folder (to {})",
                real.display()
            ));
        }
    }
    Ok(path)
}

fn csv_rows(shown: &str, text: &str) -> Result<Vec<(RowPlace, CourseFields)>, UsageError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.deserialize::<CourseFields>().enumerate() {
        let line = i + 2;
        let label = format!("{shown} row {} (line {line})", i + 1);
        let row = record.map_err(|e| UsageError(format!("{label}: {}", csv_error(&e))))?;
        rows.push((RowPlace { row: i + 1, label }, row));
    }
    Ok(rows)
}

/// A CSV error without the position csv repeats (the row is named already).
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(_) => err.kind().to_string(),
            None => err.to_string(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    }
}

fn jsonl_rows(shown: &str, text: &str) -> Result<Vec<(RowPlace, CourseFields)>, UsageError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row_no = rows.len() + 1;
        let label = format!("{shown} row {row_no} (line {})", i + 1);
        let row: CourseFields =
            serde_json::from_str(line).map_err(|e| UsageError(format!("{label}: {e}")))?;
        rows.push((RowPlace { row: row_no, label }, row));
    }
    Ok(rows)
}

fn toml_rows(shown: &str, text: &str) -> Result<Vec<(RowPlace, CourseFields)>, UsageError> {
    // Each table alone, so an error names its course.
    let value: toml::Value =
        toml::from_str(text).map_err(|e| UsageError(format!("{shown}: {}", e.message())))?;
    let tables = value
        .get("course")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
        let label = format!("{shown} course {}", i + 1);
        let row: CourseFields = table
            .try_into()
            .map_err(|e: toml::de::Error| UsageError(format!("{label}: {}", e.message())))?;
        rows.push((RowPlace { row: i + 1, label }, row));
    }
    if let Some(key) = value
        .as_table()
        .and_then(|t| t.keys().find(|k| *k != "course"))
    {
        return Err(UsageError(format!(
            "{shown}: unknown key `{key}`; courses are [[course]] tables"
        )));
    }
    Ok(rows)
}

/// A file name for `topic`: lowercase letters and digits joined by dashes, at most 60
/// characters, "course" when nothing is left.
pub fn slug(topic: &str) -> String {
    let mut out = String::new();
    for c in topic.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.chars().count() >= 60 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "course".into()
    } else {
        out
    }
}

/// The name of the file the batch writes for itself (`summary.json`): never a course's.
pub const SUMMARY_NAME: &str = "summary";

/// A course's name told apart by its request: `slug` and the first 8 hex digits of the
/// sha256 of `key` (the request as JSON).
pub fn keyed(slug: &str, key: &str) -> String {
    format!(
        "{slug}-{}",
        &crate::launch::digest::sha256_hex(key.as_bytes())[..8]
    )
}

/// File names for courses given as (topic, request key) in order: a topic's slug when no
/// other course has it; else `keyed`, so removing or reordering rows never gives one
/// course another's name. Courses with the same key are the same course: "-2", "-3"...
/// in order. Compared without case, as some file systems do; `summary` is the batch's own.
pub fn names<'a>(courses: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let courses: Vec<(String, &str)> = courses.into_iter().map(|(t, k)| (slug(t), k)).collect();
    let mut slugs: std::collections::HashMap<String, usize> =
        [(SUMMARY_NAME.to_string(), 1)].into();
    for (base, _) in &courses {
        *slugs.entry(base.to_lowercase()).or_default() += 1;
    }
    let mut taken: std::collections::HashSet<String> = [SUMMARY_NAME.to_string()].into();
    let mut names = Vec::new();
    for (base, key) in courses {
        let base = if slugs[&base.to_lowercase()] > 1 {
            keyed(&base, key)
        } else {
            base
        };
        let name = std::iter::once(base.clone())
            .chain((2..).map(|k| format!("{base}-{k}")))
            .find(|n| !taken.contains(&n.to_lowercase()))
            .expect("some number is free");
        taken.insert(name.to_lowercase());
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_three_formats_read_the_same_courses() {
        let csv = "topic,modules,audience,level,weeks,language,outline\n\
                   History of Jazz,4,,,,,\n\"Tides, Moon and Sun\",3,Adults,Beginner,6,English,jazz.txt\n";
        let jsonl = "{\"topic\":\"History of Jazz\",\"modules\":4}\n\n\
                     {\"topic\":\"Tides, Moon and Sun\",\"modules\":3,\"audience\":\"Adults\",\"level\":\"Beginner\",\"weeks\":6,\"language\":\"English\",\"outline\":\"jazz.txt\"}\n";
        let toml = "[[course]]\ntopic = \"History of Jazz\"\nmodules = 4\n\n[[course]]\n\
                    topic = \"Tides, Moon and Sun\"\nmodules = 3\naudience = \"Adults\"\nlevel = \"Beginner\"\nweeks = 6\nlanguage = \"English\"\noutline = \"jazz.txt\"\n";
        for (name, text) in [("c.csv", csv), ("c.jsonl", jsonl), ("c.toml", toml)] {
            let (dir, path) = write(name, text);
            let rows = read(&path).unwrap();
            assert_eq!(rows.len(), 2, "{name}");
            assert_eq!(rows[0].1.topic, "History of Jazz");
            assert_eq!(rows[0].1.modules, Some(4));
            assert_eq!(rows[0].1.audience, None, "{name}: an empty cell is absent");
            let second = &rows[1].1;
            assert_eq!(second.weeks, Some(6));
            assert_eq!(second.outline, Some(dir.path().join("jazz.txt")), "{name}");
            assert_eq!(rows[1].0.row, 2);
        }
    }

    #[test]
    fn a_bad_row_is_named() {
        for (name, text, needle) in [
            (
                "c.csv",
                "topic,modules\nJazz,4\nTides,four\n",
                "row 2 (line 3)",
            ),
            ("c.csv", "topic,modules\nJazz,4,9\n", "row 1 (line 2)"),
            (
                "c.jsonl",
                "{\"topic\":\"Jazz\"}\n{\"topic\":\"T\",\"modulez\":3}\n",
                "row 2 (line 2)",
            ),
            ("c.jsonl", "{\"topic\":\"Jazz\"}\nnot json\n", "row 2"),
            (
                "c.toml",
                "[[course]]\ntopic = \"Jazz\"\n[[course]]\nmodules = 3\n",
                "course 2",
            ),
            ("c.csv", "topic,modules\n", "lists no course"),
            ("c.txt", "Jazz\n", ".csv"),
        ] {
            let (_dir, path) = write(name, text);
            let err = read(&path).unwrap_err();
            assert!(err.is::<UsageError>(), "{name}");
            assert!(err.to_string().contains(needle), "{name}: {err}");
        }
    }

    #[test]
    fn names_are_slugs_and_a_shared_slug_is_told_apart_by_its_request() {
        let named = names([
            ("History of Jazz", "a"),
            ("history of jazz!", "b"),
            ("Économie", "c"),
            ("???", "d"),
            ("Jazz-2", "e"),
            ("History of Jazz", "a"),
        ]);
        let a = &crate::launch::digest::sha256_hex(b"a")[..8];
        let b = &crate::launch::digest::sha256_hex(b"b")[..8];
        assert_eq!(
            named,
            [
                format!("history-of-jazz-{a}"),
                format!("history-of-jazz-{b}"),
                "économie".into(),
                "course".into(),
                "jazz-2".into(),
                format!("history-of-jazz-{a}-2"),
            ]
        );
        // Removing or reordering rows leaves every other course its name.
        let reordered = names([("history of jazz!", "b"), ("History of Jazz", "a")]);
        assert_eq!(reordered, [named[1].clone(), named[0].clone()]);
        assert!(slug(&"a ".repeat(100)).chars().count() <= 60);
        let s = &crate::launch::digest::sha256_hex(b"s")[..8];
        assert_eq!(names([("Summary", "s")]), [format!("summary-{s}")]);
    }

    #[test]
    fn an_outline_outside_the_course_folder_is_refused_with_its_row() {
        for outline in ["/etc/hostname", "../x.txt", "a/../../x.txt"] {
            let text = format!("{{\"topic\":\"Tides\",\"modules\":2,\"outline\":\"{outline}\"}}\n");
            let (_dir, path) = write("c.jsonl", &text);
            let err = read(&path).unwrap_err();
            assert!(err.is::<UsageError>(), "{outline}");
            let msg = err.to_string();
            assert!(msg.contains("row 1") && msg.contains(outline), "{msg}");
        }
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("in");
        std::fs::create_dir(&inner).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", inner.join("link.txt")).unwrap();
        let path = inner.join("c.jsonl");
        std::fs::write(
            &path,
            "{\"topic\":\"Tides\",\"modules\":2,\"outline\":\"link.txt\"}\n",
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("outside the course file's folder"), "{err}");
        std::fs::write(inner.join("mine.txt"), "Waves\nTides\n").unwrap();
        std::fs::write(
            &path,
            "{\"topic\":\"Tides\",\"modules\":2,\"outline\":\"mine.txt\"}\n",
        )
        .unwrap();
        assert_eq!(
            read(&path).unwrap()[0].1.outline,
            Some(inner.join("mine.txt"))
        );
    }
}
