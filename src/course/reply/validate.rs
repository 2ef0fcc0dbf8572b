//! Parsing and checking replies: what the grammar cannot enforce (non-empty text, enough
//! distinct items, distinct module titles) and what `content` refuses (debris, copies, cut
//! text, another script), field by field with each field's bounds.

use serde::Deserialize;

use super::{ModuleReply, OutlineEntry, OutlineReply};
use crate::course::content::{near_duplicate, Checker, TextRefusal};
use crate::course::schema::{Field, Shape, MIN_ITEMS};

pub use super::refusal::ReplyRefusal;

/// The field of `fields` named `key` (the tables are constants: a missing key is a bug).
fn field<'f>(fields: &'f [Field], key: &str) -> &'f Field {
    fields
        .iter()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("no field {key}"))
}

/// Checks replies field by field with the field's bounds.
struct Check<'a>(&'a Checker);

impl Check<'_> {
    /// A text field's value, cleaned and ended safely.
    fn text(&self, f: &Field, name: &str, value: &str) -> Result<String, ReplyRefusal> {
        let Shape::Text(max, kind) = f.shape else {
            panic!("{} is not a text field", f.key)
        };
        self.0
            .text(value, kind, max)
            .map_err(|r| ReplyRefusal::refused(name, value, r))
    }

    /// A list field's items: cleaned, empty ones and repeats (case-insensitive) dropped,
    /// at least `MIN_ITEMS` left; debris, copies and cut items refuse the reply.
    fn list(&self, f: &Field, items: &[String]) -> Result<Vec<String>, ReplyRefusal> {
        let Shape::List { item, kind, .. } = f.shape else {
            panic!("{} is not a list field", f.key)
        };
        let mut cleaned: Vec<String> = Vec::new();
        for value in items {
            match self.0.text(value, kind, item) {
                Ok(text) => keep_distinct(&mut cleaned, text),
                Err(TextRefusal::Empty) => {}
                // One item cut at its bound is left out, not the whole reply regenerated;
                // the list must still have enough items.
                Err(TextRefusal::Cut) => {
                    tracing::debug!(field = f.key, item = %value, "cut item left out")
                }
                Err(r) => return Err(ReplyRefusal::refused(f.key, value, r)),
            }
        }
        if cleaned.len() < MIN_ITEMS {
            return Err(ReplyRefusal::TooFew {
                field: f.key.to_string(),
                found: cleaned.len(),
            });
        }
        // Items of a few words each are judged together ("testing", "strings").
        let joined = cleaned.join(". ");
        self.0
            .in_language(&joined)
            .map_err(|r| ReplyRefusal::refused(f.key, &joined, r))?;
        Ok(cleaned)
    }
}

/// Adds `text` to a list's `kept` items unless it says what one of them says: of two
/// near-duplicates ("Coral reefs", "Coral reefs and their fish") the longer is kept.
pub(super) fn keep_distinct(kept: &mut Vec<String>, text: String) {
    match kept
        .iter()
        .position(|k| k.to_lowercase() == text.to_lowercase() || near_duplicate(k, &text))
    {
        Some(i) if text.chars().count() > kept[i].chars().count() => kept[i] = text,
        Some(_) => tracing::debug!(item = %text, "near-duplicate item left out"),
        None => kept.push(text),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ReplyRefusal> {
    serde_json::from_str(text.trim()).map_err(|e| ReplyRefusal::Parse(e.to_string()))
}

impl OutlineReply {
    /// Parses and checks an outline reply for `expected` modules; returns it cleaned.
    pub fn parse_valid(
        text: &str,
        expected: usize,
        checker: &Checker,
    ) -> Result<Self, ReplyRefusal> {
        let (outline, unusable) = Self::parse_clean(text, expected, checker)?;
        if let Some((_, err)) = unusable.into_iter().next() {
            return Err(err);
        }
        match outline.first_duplicate() {
            Some(err) => Err(err),
            None => Ok(outline),
        }
    }

    /// Parses and cleans an outline reply, checking everything but distinct titles. Module
    /// entries that fail their checks are kept with their text cleaned and returned by
    /// index with the reason: one entry is cheaper to rewrite than the whole outline.
    pub fn parse_clean(
        text: &str,
        expected: usize,
        checker: &Checker,
    ) -> Result<(Self, Vec<(usize, ReplyRefusal)>), ReplyRefusal> {
        let raw = parse::<Self>(text)?;
        if raw.modules.len() != expected {
            return Err(ReplyRefusal::ModuleCount {
                expected,
                found: raw.modules.len(),
            });
        }
        let (c, f) = (Check(checker), &Self::FIELDS);
        let mut outline = Self {
            // A title cut at its bound (a long topic copied) gives way to one made from
            // the topic (`title::course_title`), instead of the outline written again.
            title: match c.text(field(f, "title"), "title", &raw.title) {
                Err(ReplyRefusal::Cut(_)) => String::new(),
                other => other?,
            },
            description: c.text(field(f, "description"), "description", &raw.description)?,
            audience: c.text(field(f, "audience"), "audience", &raw.audience)?,
            prerequisites: c.list(field(f, "prerequisites"), &raw.prerequisites)?,
            learning_outcomes: c.list(field(f, "learning_outcomes"), &raw.learning_outcomes)?,
            modules: raw.modules,
        };
        let unusable = outline.check_entries(checker);
        Ok((outline, unusable))
    }

    /// Checks the module entries in place: each cleaned, and those that fail returned by
    /// index with why (one entry is cheaper to rewrite than the whole outline).
    pub fn check_entries(&mut self, checker: &Checker) -> Vec<(usize, ReplyRefusal)> {
        let mut unusable = Vec::new();
        for (i, e) in self.modules.iter_mut().enumerate() {
            match e.checked(i, checker) {
                Ok(entry) => *e = entry,
                Err(err) => {
                    unusable.push((i, err));
                    *e = OutlineEntry {
                        title: crate::course::content::clean(&e.title),
                        focus: crate::course::content::clean(&e.focus),
                    };
                }
            }
        }
        unusable
    }

    /// Whether a module other than `index` has `title` (case-insensitive).
    pub fn has_title_besides(&self, title: &str, index: usize) -> bool {
        let title = title.to_lowercase();
        self.modules
            .iter()
            .enumerate()
            .any(|(i, m)| i != index && m.title.to_lowercase() == title)
    }

    /// The first module whose title repeats an earlier one (case-insensitive), if any.
    pub fn first_duplicate(&self) -> Option<ReplyRefusal> {
        let titles: Vec<String> = self
            .modules
            .iter()
            .map(|m| m.title.to_lowercase())
            .collect();
        titles.iter().enumerate().find_map(|(i, t)| {
            titles[..i]
                .iter()
                .position(|u| u == t)
                .map(|first| ReplyRefusal::DuplicateTitle {
                    first: first + 1,
                    second: i + 1,
                    title: self.modules[i].title.clone(),
                })
        })
    }
}

impl OutlineEntry {
    fn checked(&self, i: usize, checker: &Checker) -> Result<Self, ReplyRefusal> {
        let (c, f) = (Check(checker), &Self::FIELDS);
        Ok(Self {
            title: c.text(
                field(f, "title"),
                &format!("modules[{i}].title"),
                &self.title,
            )?,
            focus: c.text(
                field(f, "focus"),
                &format!("modules[{i}].focus"),
                &self.focus,
            )?,
        })
    }

    /// Parses and checks a replacement entry for module `index` (0-based).
    pub fn parse_valid(text: &str, index: usize, checker: &Checker) -> Result<Self, ReplyRefusal> {
        parse::<Self>(text)?.checked(index, checker)
    }
}

impl ModuleReply {
    /// Parses and checks a module reply; returns it cleaned.
    pub fn parse_valid(text: &str, checker: &Checker) -> Result<Self, ReplyRefusal> {
        let raw = parse::<Self>(text)?;
        let (c, f) = (Check(checker), &Self::FIELDS);
        Ok(Self {
            summary: c.text(field(f, "summary"), "summary", &raw.summary)?,
            learning_objectives: c
                .list(field(f, "learning_objectives"), &raw.learning_objectives)?,
            topics: c.list(field(f, "topics"), &raw.topics)?,
            activities: c.list(field(f, "activities"), &raw.activities)?,
            assessment: c.text(field(f, "assessment"), "assessment", &raw.assessment)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::schema::{Letters, Writing};
    use serde_json::Value;

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
        let outline = OutlineReply::parse_valid(&text, 2, &Checker::default()).unwrap();
        assert_eq!(outline.modules[0].title, "Ocean zones");
    }

    #[test]
    fn outline_with_wrong_count_is_refused() {
        let err = OutlineReply::parse_valid(&outline_json(&["A", "B"]), 3, &Checker::default())
            .unwrap_err();
        assert_eq!(
            err,
            ReplyRefusal::ModuleCount {
                expected: 3,
                found: 2
            }
        );
    }

    #[test]
    fn duplicate_titles_are_refused_case_insensitively() {
        let err = OutlineReply::parse_valid(
            &outline_json(&["Reefs", "Plankton", "reefs "]),
            3,
            &Checker::default(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ReplyRefusal::DuplicateTitle {
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
        let err = ModuleReply::parse_valid(&value.to_string(), &Checker::default()).unwrap_err();
        assert_eq!(err, ReplyRefusal::Empty("assessment".into()));
    }

    #[test]
    fn list_with_one_distinct_item_is_refused() {
        let mut value = module_json();
        value["topics"] = serde_json::json!(["Light", "light", " "]);
        let err = ModuleReply::parse_valid(&value.to_string(), &Checker::default()).unwrap_err();
        assert_eq!(
            err,
            ReplyRefusal::TooFew {
                field: "topics".into(),
                found: 1
            }
        );
    }

    #[test]
    fn truncated_json_is_a_parse_error() {
        let text = module_json().to_string();
        let err =
            ModuleReply::parse_valid(&text[..text.len() - 5], &Checker::default()).unwrap_err();
        assert!(matches!(err, ReplyRefusal::Parse(_)));
    }

    #[test]
    fn debris_copies_and_cut_text_refuse_a_module_reply() {
        let checker = Checker::new(
            crate::pipeline::prompt::schema_keys(),
            crate::pipeline::prompt::fixed_texts()
                .iter()
                .map(String::as_str),
        );
        let with = |key: &str, value: serde_json::Value| {
            let mut v = module_json();
            v[key] = value;
            ModuleReply::parse_valid(&v.to_string(), &checker)
        };
        assert!(with("summary", serde_json::json!("Tides and waves.")).is_ok());
        let err = with(
            "topics",
            serde_json::json!(["Light", "learning\\_objectives"]),
        )
        .unwrap_err();
        assert!(
            matches!(err, ReplyRefusal::Debris { ref field, .. } if field == "topics"),
            "{err}"
        );
        let err = with("activities", serde_json::json!(["Lab", "]]]]{}"])).unwrap_err();
        assert!(matches!(err, ReplyRefusal::Debris { .. }), "{err}");
        let copied = "Name 3 to 5 things a learner will be able to do, each starting with a verb";
        let err = with(
            "learning_objectives",
            serde_json::json!(["Name zones", copied]),
        )
        .unwrap_err();
        assert!(matches!(err, ReplyRefusal::Copied { .. }), "{err}");
        assert!(
            err.to_string().contains("copies the prompt's instructions"),
            "{err}"
        );
        let sentences: String = (1..=30).map(|i| format!("Tide {i} rises. ")).collect();
        let cut = format!("{sentences} which is a");
        let err = with(
            "summary",
            serde_json::json!(cut.chars().take(420).collect::<String>()),
        );
        assert_eq!(
            err.unwrap().summary.chars().last(),
            Some('.'),
            "ended at a full sentence"
        );
        // A list item cut at its bound with no clause to end on is left out...
        let cut_item: String = "Tides and currents in the open ocean and the deep sea floor eco"
            .chars()
            .chain(std::iter::repeat('x'))
            .take(70)
            .collect();
        let reply = with("topics", serde_json::json!(["Light", "Pressure", cut_item])).unwrap();
        assert_eq!(reply.topics, ["Light", "Pressure"]);
        // ...unless too few items would be left.
        let err = with("topics", serde_json::json!(["Light", cut_item])).unwrap_err();
        assert!(matches!(err, ReplyRefusal::TooFew { .. }), "{err}");
    }

    #[test]
    fn field_tables_name_the_fields_serde_writes_in_order() {
        let reply =
            ModuleReply::parse_valid(&module_json().to_string(), &Checker::default()).unwrap();
        let v = serde_json::to_value(&reply).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let table: Vec<&str> = ModuleReply::FIELDS.iter().map(|f| f.key).collect();
        assert_eq!(keys, table);
        let outline =
            OutlineReply::parse_valid(&outline_json(&["A", "B"]), 2, &Checker::default()).unwrap();
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
        let s = OutlineReply::schema(7, Writing::for_language("German"), None);
        assert_eq!(s["properties"]["modules"]["minItems"], 7);
        assert_eq!(s["properties"]["modules"]["maxItems"], 7);
        for schema in [
            OutlineReply::schema(4, Writing::ANY, None),
            ModuleReply::schema(Writing::for_language("English")),
            OutlineEntry::schema(
                Writing {
                    letters: Letters::NoCjk,
                    verbs: None,
                },
                None,
            ),
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
