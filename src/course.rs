//! The course data: what the user asked for, what the model returns, and the final syllabus.
//!
//! Model replies are parsed into typed structs (`OutlineReply`, `ModuleReply`) and then
//! checked here for content the grammar cannot enforce: non-empty text, enough distinct
//! items, distinct module titles. Assembly into a `Syllabus` happens without the model.

use serde::{Deserialize, Serialize};

/// Fewest items a list in the syllabus may have.
pub const MIN_ITEMS: usize = 2;

/// What the user asked for, already validated by the command line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CourseRequest {
    /// Subject of the course.
    pub topic: String,
    /// Exact number of modules.
    pub modules: usize,
    /// Intended learners, when given.
    pub audience: Option<String>,
    /// Level such as "introductory", when given.
    pub level: Option<String>,
    /// Course length in weeks, when given.
    pub weeks: Option<u32>,
    /// Language the syllabus is written in.
    pub language: String,
}

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

/// One finished module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    /// 1-based position in the course.
    pub number: usize,
    /// Module title, from the outline.
    pub title: String,
    /// One-line focus, from the outline.
    pub focus: String,
    /// Weeks this module covers, e.g. "1-2", when the course has a length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weeks: Option<String>,
    /// What the module is about.
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

/// The finished syllabus, as rendered to JSON or Markdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Syllabus {
    /// Course title.
    pub title: String,
    /// The topic the user gave.
    pub topic: String,
    /// Short course description.
    pub description: String,
    /// Intended learners.
    pub audience: String,
    /// Level, when the user gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Course length in weeks, when the user gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weeks: Option<u32>,
    /// Language of the text.
    pub language: String,
    /// What learners should know beforehand.
    pub prerequisites: Vec<String>,
    /// Course-level learning outcomes.
    pub learning_outcomes: Vec<String>,
    /// Modules in order.
    pub modules: Vec<Module>,
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

/// Weeks covered by module `index` (0-based) when `weeks` are split over `modules` in order.
pub fn module_weeks(index: usize, modules: usize, weeks: u32) -> String {
    let weeks = weeks as usize;
    let first = index * weeks / modules + 1;
    let last = ((index + 1) * weeks / modules).max(first);
    if first == last {
        format!("{first}")
    } else {
        format!("{first}-{last}")
    }
}

impl Syllabus {
    /// Assembles the syllabus from a validated outline and one validated reply per entry.
    pub fn assemble(
        request: &CourseRequest,
        outline: OutlineReply,
        replies: Vec<ModuleReply>,
    ) -> Self {
        debug_assert_eq!(outline.modules.len(), replies.len());
        let count = outline.modules.len();
        let modules = outline
            .modules
            .into_iter()
            .zip(replies)
            .enumerate()
            .map(|(i, (entry, reply))| Module {
                number: i + 1,
                title: entry.title,
                focus: entry.focus,
                weeks: request.weeks.map(|w| module_weeks(i, count, w)),
                summary: reply.summary,
                learning_objectives: reply.learning_objectives,
                topics: reply.topics,
                activities: reply.activities,
                assessment: reply.assessment,
            })
            .collect();
        Self {
            title: outline.title,
            topic: request.topic.clone(),
            description: outline.description,
            audience: outline.audience,
            level: request.level.clone(),
            weeks: request.weeks,
            language: request.language.clone(),
            prerequisites: outline.prerequisites,
            learning_outcomes: outline.learning_outcomes,
            modules,
        }
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
    fn weeks_are_split_in_order_without_gaps() {
        let spans: Vec<_> = (0..4).map(|i| module_weeks(i, 4, 10)).collect();
        assert_eq!(spans, ["1-2", "3-5", "6-7", "8-10"]);
        let spans: Vec<_> = (0..3).map(|i| module_weeks(i, 3, 2)).collect();
        assert_eq!(spans, ["1", "1", "2"]);
    }

    #[test]
    fn assemble_numbers_modules_from_one() {
        let request = CourseRequest {
            topic: "Marine Biology".into(),
            modules: 2,
            audience: None,
            level: None,
            weeks: Some(4),
            language: "English".into(),
        };
        let outline = OutlineReply::parse_valid(&outline_json(&["A", "B"]), 2).unwrap();
        let reply = ModuleReply::parse_valid(&module_json().to_string()).unwrap();
        let s = Syllabus::assemble(&request, outline, vec![reply.clone(), reply]);
        assert_eq!(
            s.modules.iter().map(|m| m.number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(s.modules[1].weeks.as_deref(), Some("3-4"));
    }
}
