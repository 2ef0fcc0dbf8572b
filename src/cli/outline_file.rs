//! A teacher's outline file for `--outline`: plain text, one module a line (`Title` or
//! `Title: focus`, list markers and numbers allowed), or the JSON of an earlier run (its
//! course fields are kept too), or a JSON array of modules.

use std::path::Path;

use serde_json::Value;

use super::usage::{UsageError, MAX_MODULES};
use crate::course::content::clean;
use crate::course::{GivenModule, GivenOutline};

/// Longest title a teacher may give, in characters.
const MAX_TITLE: usize = 200;
/// Longest focus or course text a teacher may give, in characters.
const MAX_TEXT: usize = 1000;

/// Reads and checks `path`.
pub fn read(path: &Path) -> Result<GivenOutline, UsageError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read the outline {shown}: {e}")))?;
    parse(&text).map_err(|why| UsageError(format!("the outline {shown} {why}")))
}

/// Parses an outline from text or JSON.
pub fn parse(text: &str) -> Result<GivenOutline, String> {
    let trimmed = text.trim_start();
    let outline = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value =
            serde_json::from_str(trimmed).map_err(|e| format!("is not valid JSON: {e}"))?;
        from_json(&v)?
    } else {
        from_lines(text)?
    };
    check(&outline)?;
    Ok(outline)
}

/// A module line without its list marker: "- ", "* ", "• ", "3. ", "3) ".
fn without_marker(line: &str) -> &str {
    let line = line.trim();
    for marker in ["- ", "* ", "• "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return rest.trim_start();
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        if let Some(rest) = line[digits..]
            .strip_prefix(". ")
            .or_else(|| line[digits..].strip_prefix(") "))
        {
            return rest.trim_start();
        }
    }
    line
}

fn from_lines(text: &str) -> Result<GivenOutline, String> {
    let modules = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let l = without_marker(l);
            match l.split_once(": ") {
                Some((title, focus)) => GivenModule {
                    title: clean(title),
                    focus: Some(clean(focus)).filter(|f| !f.is_empty()),
                },
                None => GivenModule {
                    title: clean(l),
                    focus: None,
                },
            }
        })
        .collect();
    Ok(GivenOutline {
        modules,
        ..GivenOutline::default()
    })
}

fn module(v: &Value, i: usize) -> Result<GivenModule, String> {
    match v {
        Value::String(t) => Ok(GivenModule {
            title: clean(t),
            focus: None,
        }),
        Value::Object(o) => {
            let title = o
                .get("title")
                .and_then(Value::as_str)
                .ok_or(format!("has a module {} without a title", i + 1))?;
            let focus = o.get("focus").and_then(Value::as_str).map(clean);
            Ok(GivenModule {
                title: clean(title),
                focus: focus.filter(|f| !f.is_empty()),
            })
        }
        _ => Err(format!(
            "has a module {} that is neither text nor an object",
            i + 1
        )),
    }
}

fn from_json(v: &Value) -> Result<GivenOutline, String> {
    let (list, course) = match v {
        Value::Array(list) => (list, None),
        Value::Object(o) => match o.get("modules") {
            Some(Value::Array(list)) => (list, Some(o)),
            _ => return Err("is JSON without a `modules` list".into()),
        },
        _ => return Err("is JSON but neither an object nor a list".into()),
    };
    let modules = list
        .iter()
        .enumerate()
        .map(|(i, m)| module(m, i))
        .collect::<Result<_, _>>()?;
    let text = |key: &str| {
        course
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
            .map(clean)
            .filter(|t| !t.is_empty())
    };
    let list = |key: &str| {
        let items: Vec<String> = course
            .and_then(|o| o.get(key))
            .and_then(Value::as_array)?
            .iter()
            .filter_map(Value::as_str)
            .map(clean)
            .filter(|t| !t.is_empty())
            .collect();
        (items.len() >= crate::course::schema::MIN_ITEMS).then_some(items)
    };
    Ok(GivenOutline {
        title: text("title"),
        description: text("description"),
        audience: text("audience"),
        prerequisites: list("prerequisites"),
        learning_outcomes: list("learning_outcomes"),
        modules,
    })
}

fn check(o: &GivenOutline) -> Result<(), String> {
    let n = o.modules.len();
    if n == 0 {
        return Err("lists no modules".into());
    }
    if n > MAX_MODULES {
        return Err(format!(
            "lists {n} modules; at most {MAX_MODULES} are supported"
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, m) in o.modules.iter().enumerate() {
        if m.title.is_empty() {
            return Err(format!("has an empty title for module {}", i + 1));
        }
        if m.title.chars().count() > MAX_TITLE {
            return Err(format!(
                "has a title over {MAX_TITLE} characters (module {})",
                i + 1
            ));
        }
        if m.focus
            .as_ref()
            .is_some_and(|f| f.chars().count() > MAX_TEXT)
        {
            return Err(format!(
                "has a focus over {MAX_TEXT} characters (module {})",
                i + 1
            ));
        }
        let key = m.title.to_lowercase();
        if let Some(first) = seen.iter().position(|t| *t == key) {
            return Err(format!(
                "gives modules {} and {} the same title",
                first + 1,
                i + 1
            ));
        }
        seen.push(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_with_markers_and_focus() {
        let o = parse(
            "# my course\n1. Soil: what plants grow in\n- Watering\n\n* Pests and  friends\n",
        )
        .unwrap();
        let titles: Vec<&str> = o.modules.iter().map(|m| m.title.as_str()).collect();
        assert_eq!(titles, ["Soil", "Watering", "Pests and friends"]);
        assert_eq!(o.modules[0].focus.as_deref(), Some("what plants grow in"));
        assert_eq!(o.modules[1].focus, None);
        assert_eq!(o.title, None);
    }

    #[test]
    fn an_earlier_runs_json_keeps_its_course_fields() {
        let json = r#"{"title":"Gardens","description":"Grow food.","prerequisites":["None","Time"],
            "learning_outcomes":["Plant"],"modules":[{"number":1,"title":"Soil","focus":"Dirt"},"Water"]}"#;
        let o = parse(json).unwrap();
        assert_eq!(o.title.as_deref(), Some("Gardens"));
        assert_eq!(
            o.prerequisites.as_deref(),
            Some(&["None".to_string(), "Time".to_string()][..])
        );
        assert_eq!(
            o.learning_outcomes, None,
            "too short a list is written anew"
        );
        assert_eq!(o.modules[1].title, "Water");
        assert_eq!(parse(r#"["A", {"title": "B"}]"#).unwrap().modules.len(), 2);
    }

    #[test]
    fn bad_outlines_say_what_is_wrong() {
        assert!(parse("\n# nothing\n").unwrap_err().contains("no modules"));
        assert!(parse("Soil\nsoil\n")
            .unwrap_err()
            .contains("modules 1 and 2 the same title"));
        assert!(parse("{\"title\": 1}")
            .unwrap_err()
            .contains("without a `modules` list"));
        assert!(parse("[{\"focus\": \"x\"}]")
            .unwrap_err()
            .contains("without a title"));
        let many: String = (1..=30).map(|i| format!("Unit {i}\n")).collect();
        assert!(parse(&many).unwrap_err().contains("at most"));
    }
}
