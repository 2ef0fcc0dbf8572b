//! `syllabus render`: a saved syllabus read and checked against the syllabus's shape, with
//! errors that name the field and the line, into a plan of what to write where.

use std::path::Path;

use anyhow::Context as _;

use super::args::RenderArgs;
use super::plan::{output_format, OutputPlan};
use super::usage::UsageError;
use crate::course::Syllabus;
use crate::render::Format;

/// Checked settings of a render run.
#[derive(Debug, Clone)]
pub struct RenderPlan {
    /// The syllabus read.
    pub syllabus: Syllabus,
    /// Format and file (stdout when none).
    pub out: OutputPlan,
}

impl RenderArgs {
    /// Reads the file and checks it once. A file that is not a syllabus is a `UsageError`
    /// naming the field; one that cannot be read is not.
    pub fn plan(&self) -> anyhow::Result<RenderPlan> {
        let syllabus = read_syllabus(&self.file)?;
        let format = output_format(
            self.out.format,
            self.out.output.as_deref(),
            Format::Markdown,
        )?;
        Ok(RenderPlan {
            syllabus,
            out: OutputPlan::new(format, self.out.output.clone(), None)?,
        })
    }
}

/// A JSON syllabus from `path`, checked: every field of the syllabus present with its type
/// (a missing or mistyped one is named, with its line), at least one module, modules
/// numbered 1, 2, 3… in order, no title empty.
pub fn read_syllabus(path: &Path) -> anyhow::Result<Syllabus> {
    let shown = path.display();
    let text = read_capped(path)?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let syllabus: Syllabus = serde_path_to_error::deserialize(de).map_err(|e| {
        let place = match e.path().to_string().as_str() {
            "." => "at the top level".to_string(),
            p => format!("in `{p}{}`", module_field(&text, p)),
        };
        UsageError(format!("{shown} is not a syllabus: {place}: {}", e.inner()))
    })?;
    check(&syllabus).map_err(|why| UsageError(format!("{shown}: {why}")))?;
    // Read as it was written (errors name its lines), then cleaned of what no file holds.
    let mut value = serde_json::to_value(&syllabus).context("syllabus")?;
    clean_strings(&mut value, "").map_err(|why| UsageError(format!("{shown}: {why}")))?;
    serde_json::from_value(value).context("syllabus")
}

/// The largest syllabus file read (a syllabus of 40 modules at every bound is under 200 KB).
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The longest string a syllabus file may hold (the schema bounds model text at 420).
pub const MAX_STRING_CHARS: usize = 8_000;

/// A saved syllabus's text, refused (exit 2) past `MAX_FILE_BYTES`.
pub fn read_capped(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {shown}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(UsageError(format!(
            "{shown} is {size} bytes; a syllabus file is at most {MAX_FILE_BYTES} bytes"
        ))
        .into());
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))
}

/// Every string of `value` without control characters (line breaks kept) or bidirectional
/// controls; a string past `MAX_STRING_CHARS` is refused, named by its place.
pub fn clean_strings(value: &mut serde_json::Value, place: &str) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if s.chars().count() > MAX_STRING_CHARS {
                return Err(format!(
                    "`{}` is longer than {MAX_STRING_CHARS} characters",
                    place.trim_start_matches('.')
                ));
            }
            *s = crate::course::content::without_controls(s, true);
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                clean_strings(item, &format!("{place}[{i}]"))?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                clean_strings(item, &format!("{place}.{key}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// ".field" inside module `path` ("modules[N]") that failed: a module's own fields are
/// flattened into it, where the path stops; read alone, the module's reply names it.
fn module_field(text: &str, path: &str) -> String {
    let Some(index) = path
        .strip_prefix("modules[")
        .and_then(|p| p.strip_suffix(']'))
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return String::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return String::new();
    };
    let module = value["modules"][index].clone();
    match serde_path_to_error::deserialize::<_, crate::course::reply::ModuleReply>(module) {
        Err(e) if e.path().to_string() != "." => format!(".{}", e.path()),
        _ => String::new(),
    }
}

/// What the shape alone does not say: modules there, in order, with titles.
fn check(s: &Syllabus) -> Result<(), String> {
    if s.title.trim().is_empty() {
        return Err("`title` is empty".into());
    }
    if s.modules.is_empty() {
        return Err("`modules` is empty: a syllabus has at least one module".into());
    }
    for (i, m) in s.modules.iter().enumerate() {
        if m.number != i + 1 {
            return Err(format!(
                "`modules[{i}].number` is {}, where {} was expected: modules are numbered 1, 2, 3… in order",
                m.number,
                i + 1
            ));
        }
        if m.title.trim().is_empty() {
            return Err(format!("`modules[{i}].title` is empty"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(edit: impl FnOnce(&mut serde_json::Value)) -> (tempfile::TempDir, std::path::PathBuf) {
        let mut v = serde_json::to_value(crate::render::tests_support::syllabus()).unwrap();
        edit(&mut v);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        (dir, path)
    }

    fn refusal(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let (_dir, path) = saved(edit);
        let err = read_syllabus(&path).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
        err.to_string()
    }

    #[test]
    fn a_missing_or_mistyped_field_is_named_with_its_place_and_line() {
        let (_dir, path) = saved(|_| {});
        assert_eq!(
            read_syllabus(&path).unwrap(),
            crate::render::tests_support::syllabus()
        );
        let e = refusal(|v| {
            v["modules"][0].as_object_mut().unwrap().remove("summary");
        });
        assert!(
            e.contains("missing field `summary`") && e.contains("line "),
            "{e}"
        );
        assert!(e.contains("modules[0]"), "{e}");
        let e = refusal(|v| {
            v.as_object_mut().unwrap().remove("learning_outcomes");
        });
        assert!(
            e.contains("missing field `learning_outcomes`") && e.contains("top level"),
            "{e}"
        );
        let e = refusal(|v| v["modules"][0]["topics"] = serde_json::json!("Light"));
        assert!(
            e.contains("modules[0].topics") && e.contains("invalid type"),
            "{e}"
        );
        let e = refusal(|v| v["modules"][0]["number"] = serde_json::json!(3));
        assert!(e.contains("`modules[0].number` is 3"), "{e}");
        let e = refusal(|v| v["modules"] = serde_json::json!([]));
        assert!(e.contains("`modules` is empty"), "{e}");
    }
}
