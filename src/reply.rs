//! What the model returns: one typed reply per call kind, each with its field table (the
//! JSON schema and the prompt's list of keys come from it, see `schema`), parsed with serde
//! and then checked for what the grammar cannot enforce: non-empty text, enough distinct
//! items, distinct module titles.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::{self, Field, MIN_ITEMS};

/// Title bounds, in characters.
const TITLE_LEN: u64 = 60;
/// One-line bounds, in characters.
const LINE_LEN: u64 = 120;
/// Paragraph bounds, in characters.
const PARAGRAPH_LEN: u64 = 320;

/// One outline entry as the model plans it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlineEntry {
    /// Module title.
    pub title: String,
    /// One line on what the module covers.
    pub focus: String,
}

/// The outline call's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlineReply {
    /// Course title.
    pub title: String,
    /// Short course description.
    pub description: String,
    /// Intended learners.
    pub audience: String,
    /// What learners should know beforehand.
    pub prerequisites: Vec<String>,
    /// Course-level learning outcomes.
    pub learning_outcomes: Vec<String>,
    /// Planned modules, in order.
    pub modules: Vec<OutlineEntry>,
}

/// One module call's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleReply {
    /// What the module is about, in a few sentences.
    pub summary: String,
    /// What learners can do after the module.
    pub learning_objectives: Vec<String>,
    /// Topics covered.
    pub topics: Vec<String>,
    /// Learning activities.
    pub activities: Vec<String>,
    /// How learning is assessed.
    pub assessment: String,
}

impl OutlineEntry {
    /// The entry's fields.
    pub const FIELDS: [Field; 2] = [
        Field::text("title", TITLE_LEN, "a short title of its own"),
        Field::text("focus", LINE_LEN, "a one-line focus"),
    ];

    /// Schema of a replacement entry (a module title that repeated another).
    pub fn schema() -> Value {
        schema::top_level(schema::object(schema::properties(&Self::FIELDS)))
    }
}

impl OutlineReply {
    /// The outline's fields but `modules`, whose count each request fixes.
    pub const FIELDS: [Field; 5] = [
        Field::text("title", TITLE_LEN, "the course title"),
        Field::text(
            "description",
            PARAGRAPH_LEN,
            "two or three sentences on what the course covers and why",
        ),
        Field::text("audience", LINE_LEN, "who the course is for"),
        Field::list(
            "prerequisites",
            LINE_LEN,
            (MIN_ITEMS, 4),
            "2 to 4 different things learners should know first",
        ),
        Field::list(
            "learning_outcomes",
            LINE_LEN,
            (MIN_ITEMS, 6),
            "3 to 6 different outcomes, each starting with a verb",
        ),
    ];

    /// Schema of the outline reply for exactly `modules` modules.
    pub fn schema(modules: usize) -> Value {
        let entry = schema::object(schema::properties(&OutlineEntry::FIELDS));
        let mut props = schema::properties(&Self::FIELDS);
        props.insert(
            "modules".into(),
            serde_json::json!({"type": "array", "items": entry, "minItems": modules, "maxItems": modules}),
        );
        schema::top_level(schema::object(props))
    }

    /// The prompt's list of keys for `modules` modules.
    pub fn prompt_lines(modules: usize) -> String {
        let mut lines: Vec<String> = Self::FIELDS.iter().map(Field::prompt_line).collect();
        lines.push(format!(
            "- modules: exactly {modules} modules in teaching order, from foundations to advanced, \
             each with {} and {}",
            OutlineEntry::FIELDS[0].ask,
            OutlineEntry::FIELDS[1].ask
        ));
        lines.join("\n")
    }
}

impl ModuleReply {
    /// The module reply's fields.
    pub const FIELDS: [Field; 5] = [
        Field::text(
            "summary",
            PARAGRAPH_LEN,
            "two or three sentences on what the module teaches",
        ),
        Field::list(
            "learning_objectives",
            LINE_LEN,
            (MIN_ITEMS, 5),
            "3 to 5 different objectives, each starting with a verb",
        ),
        Field::list(
            "topics",
            TITLE_LEN,
            (MIN_ITEMS, 6),
            "3 to 6 different topics covered",
        ),
        Field::list(
            "activities",
            LINE_LEN,
            (MIN_ITEMS, 4),
            "2 to 4 different, concrete learning activities",
        ),
        Field::text(
            "assessment",
            LINE_LEN * 2,
            "how learning in this module is assessed",
        ),
    ];

    /// Schema of one module reply.
    pub fn schema() -> Value {
        schema::top_level(schema::object(schema::properties(&Self::FIELDS)))
    }

    /// The prompt's list of keys.
    pub fn prompt_lines() -> String {
        Self::FIELDS
            .iter()
            .map(Field::prompt_line)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why a model reply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The reply is not JSON of the expected shape.
    #[error("reply is not valid JSON for the schema: {0}")]
    Parse(String),
    /// A text field is empty.
    #[error("field `{0}` is empty")]
    Empty(String),
    /// A list has fewer distinct, non-empty items than required.
    #[error(
        "list `{field}` has {found} distinct non-empty items, at least {MIN_ITEMS} are required"
    )]
    TooFew {
        /// Field name.
        field: String,
        /// Items found after cleaning.
        found: usize,
    },
    /// The outline has the wrong number of modules.
    #[error("outline has {found} modules, {expected} were asked for")]
    ModuleCount {
        /// Modules asked for.
        expected: usize,
        /// Modules returned.
        found: usize,
    },
    /// Two modules share a title.
    #[error("modules {first} and {second} have the same title \"{title}\"")]
    DuplicateTitle {
        /// 1-based number of the first module.
        first: usize,
        /// 1-based number of the second module.
        second: usize,
        /// The shared title.
        title: String,
    },
}

fn clean_text(field: &str, value: &str) -> Result<String, ContentError> {
    let text = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(ContentError::Empty(field.to_string()));
    }
    Ok(text)
}

/// Trims items, drops empty ones and repeats (case-insensitive), and requires `MIN_ITEMS`.
fn clean_list(field: &str, items: &[String]) -> Result<Vec<String>, ContentError> {
    let mut seen = std::collections::HashSet::new();
    let cleaned: Vec<String> = items
        .iter()
        .filter_map(|item| clean_text(field, item).ok())
        .filter(|item| seen.insert(item.to_lowercase()))
        .collect();
    if cleaned.len() < MIN_ITEMS {
        return Err(ContentError::TooFew {
            field: field.to_string(),
            found: cleaned.len(),
        });
    }
    Ok(cleaned)
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ContentError> {
    serde_json::from_str(text.trim()).map_err(|e| ContentError::Parse(e.to_string()))
}

impl OutlineReply {
    /// Parses and checks an outline reply for `expected` modules; returns it cleaned.
    pub fn parse_valid(text: &str, expected: usize) -> Result<Self, ContentError> {
        let outline = Self::parse_clean(text, expected)?;
        match outline.first_duplicate() {
            Some(err) => Err(err),
            None => Ok(outline),
        }
    }

    /// Parses and cleans an outline reply, checking everything but distinct titles.
    pub fn parse_clean(text: &str, expected: usize) -> Result<Self, ContentError> {
        let raw = parse::<Self>(text)?;
        if raw.modules.len() != expected {
            return Err(ContentError::ModuleCount {
                expected,
                found: raw.modules.len(),
            });
        }
        let modules = raw
            .modules
            .iter()
            .enumerate()
            .map(|(i, e)| OutlineEntry::parse_clean_entry(e, i))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            title: clean_text("title", &raw.title)?,
            description: clean_text("description", &raw.description)?,
            audience: clean_text("audience", &raw.audience)?,
            prerequisites: clean_list("prerequisites", &raw.prerequisites)?,
            learning_outcomes: clean_list("learning_outcomes", &raw.learning_outcomes)?,
            modules,
        })
    }

    /// Whether a module already has `title` (case-insensitive).
    pub fn has_title(&self, title: &str) -> bool {
        let title = title.to_lowercase();
        self.modules.iter().any(|m| m.title.to_lowercase() == title)
    }

    /// The first module whose title repeats an earlier one (case-insensitive), if any.
    pub fn first_duplicate(&self) -> Option<ContentError> {
        let titles: Vec<String> = self
            .modules
            .iter()
            .map(|m| m.title.to_lowercase())
            .collect();
        titles.iter().enumerate().find_map(|(i, t)| {
            titles[..i]
                .iter()
                .position(|u| u == t)
                .map(|first| ContentError::DuplicateTitle {
                    first: first + 1,
                    second: i + 1,
                    title: self.modules[i].title.clone(),
                })
        })
    }
}

impl OutlineEntry {
    fn parse_clean_entry(entry: &OutlineEntry, i: usize) -> Result<Self, ContentError> {
        Ok(Self {
            title: clean_text(&format!("modules[{i}].title"), &entry.title)?,
            focus: clean_text(&format!("modules[{i}].focus"), &entry.focus)?,
        })
    }

    /// Parses and cleans a replacement entry for module `index` (0-based).
    pub fn parse_valid(text: &str, index: usize) -> Result<Self, ContentError> {
        Self::parse_clean_entry(&parse::<Self>(text)?, index)
    }
}

impl ModuleReply {
    /// Parses and checks a module reply; returns it cleaned.
    pub fn parse_valid(text: &str) -> Result<Self, ContentError> {
        parse::<Self>(text)?.validated()
    }

    fn validated(self) -> Result<Self, ContentError> {
        Ok(Self {
            summary: clean_text("summary", &self.summary)?,
            learning_objectives: clean_list("learning_objectives", &self.learning_objectives)?,
            topics: clean_list("topics", &self.topics)?,
            activities: clean_list("activities", &self.activities)?,
            assessment: clean_text("assessment", &self.assessment)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline_json(titles: &[&str]) -> String {
        let modules: Vec<_> = titles
            .iter()
            .map(|t| serde_json::json!({"title": t, "focus": format!("about {t}")}))
            .collect();
        serde_json::json!({
            "title": "Marine Biology",
            "description": "Life in the sea.",
            "audience": "First-year students",
            "prerequisites": ["Basic biology", "Basic chemistry"],
            "learning_outcomes": ["Name ocean zones", "Describe food webs"],
            "modules": modules,
        })
        .to_string()
    }

    fn module_json() -> serde_json::Value {
        serde_json::json!({
            "summary": "Ocean zones and their life.",
            "learning_objectives": ["Name zones", "Compare zones"],
            "topics": ["Light", "Pressure"],
            "activities": ["Lab", "Field trip"],
            "assessment": "Quiz",
        })
    }

    #[test]
    fn valid_outline_is_cleaned() {
        let text = outline_json(&["  Ocean   zones ", "Plankton"]);
        let outline = OutlineReply::parse_valid(&text, 2).unwrap();
        assert_eq!(outline.modules[0].title, "Ocean zones");
    }

    #[test]
    fn outline_with_wrong_count_is_refused() {
        let err = OutlineReply::parse_valid(&outline_json(&["A", "B"]), 3).unwrap_err();
        assert_eq!(
            err,
            ContentError::ModuleCount {
                expected: 3,
                found: 2
            }
        );
    }

    #[test]
    fn duplicate_titles_are_refused_case_insensitively() {
        let err = OutlineReply::parse_valid(&outline_json(&["Reefs", "Plankton", "reefs "]), 3)
            .unwrap_err();
        assert!(matches!(
            err,
            ContentError::DuplicateTitle {
                first: 1,
                second: 3,
                ..
            }
        ));
    }

    #[test]
    fn empty_field_is_refused() {
        let mut value = module_json();
        value["assessment"] = serde_json::json!("   ");
        let err = ModuleReply::parse_valid(&value.to_string()).unwrap_err();
        assert_eq!(err, ContentError::Empty("assessment".into()));
    }

    #[test]
    fn list_with_one_distinct_item_is_refused() {
        let mut value = module_json();
        value["topics"] = serde_json::json!(["Light", "light", " "]);
        let err = ModuleReply::parse_valid(&value.to_string()).unwrap_err();
        assert_eq!(
            err,
            ContentError::TooFew {
                field: "topics".into(),
                found: 1
            }
        );
    }

    #[test]
    fn truncated_json_is_a_parse_error() {
        let text = module_json().to_string();
        let err = ModuleReply::parse_valid(&text[..text.len() - 5]).unwrap_err();
        assert!(matches!(err, ContentError::Parse(_)));
    }

    #[test]
    fn field_tables_name_the_fields_serde_writes_in_order() {
        let reply = ModuleReply::parse_valid(&module_json().to_string()).unwrap();
        let v = serde_json::to_value(&reply).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let table: Vec<&str> = ModuleReply::FIELDS.iter().map(|f| f.key).collect();
        assert_eq!(keys, table);
        let outline = OutlineReply::parse_valid(&outline_json(&["A", "B"]), 2).unwrap();
        let v = serde_json::to_value(&outline).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut table: Vec<&str> = OutlineReply::FIELDS.iter().map(|f| f.key).collect();
        table.push("modules");
        assert_eq!(keys, table);
        let v = serde_json::to_value(&outline.modules[0]).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, OutlineEntry::FIELDS.map(|f| f.key));
    }

    #[test]
    fn outline_schema_fixes_the_module_count_and_bounds_everything() {
        let s = OutlineReply::schema(7);
        assert_eq!(s["properties"]["modules"]["minItems"], 7);
        assert_eq!(s["properties"]["modules"]["maxItems"], 7);
        for schema in [
            OutlineReply::schema(4),
            ModuleReply::schema(),
            OutlineEntry::schema(),
        ] {
            walk(&schema, &mut |s| match s["type"].as_str() {
                Some("string") => {
                    assert!(s["maxLength"].as_u64().unwrap() > 0 && s["minLength"] == 1)
                }
                Some("array") => {
                    assert!(s["maxItems"].as_u64().unwrap() >= s["minItems"].as_u64().unwrap())
                }
                Some("object") => assert_eq!(s["additionalProperties"], false),
                other => panic!("unexpected type {other:?}"),
            });
        }
    }

    fn walk(schema: &Value, check: &mut dyn FnMut(&Value)) {
        check(schema);
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            props.values().for_each(|v| walk(v, check));
        }
        if let Some(items) = schema.get("items") {
            walk(items, check);
        }
    }
}
