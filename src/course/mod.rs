//! The course: what the user asked for, and the finished syllabus assembled (without the
//! model) from a validated outline and one validated reply per module (`reply`).

pub mod content;
pub mod given;
pub mod language;
pub mod reply;
pub mod schema;
pub mod title;
pub mod verbs;

use serde::{Deserialize, Serialize};

pub use self::given::{GivenModule, GivenOutline};
use self::reply::{ModuleReply, OutlineReply};

/// What the user asked for, already validated by the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The teacher's own outline (`--outline`), kept exactly; the model writes the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outline: Option<GivenOutline>,
}

/// Version of the `provenance` record in JSON syllabi; `regenerate` refuses other versions.
pub const PROVENANCE_FORMAT: u32 = 1;

/// What a JSON syllabus records of how it was made, so one module can be written again
/// with the same course context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Version of this record (`PROVENANCE_FORMAT`).
    pub format: u32,
    /// The program and version that wrote it.
    pub program: String,
    /// The request, as checked.
    pub request: CourseRequest,
    /// The backend that ran the model: "llama", "ollama" or "openai".
    pub backend: String,
    /// The model.
    pub model: ModelId,
    /// Run seed.
    pub seed: u32,
    /// Module scheduling strategy.
    pub strategy: String,
    /// Files written beside this one from the same syllabus (file name → sha256), written
    /// before it; `batch` checks them when it resumes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub files: std::collections::BTreeMap<String, String>,
}

/// A model by name and, for a local file, its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelId {
    /// Alias, file name or daemon model name.
    pub name: String,
    /// The model file, when local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// sha256 of the model file, when local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
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
    /// What the model wrote for it (its fields appear at this level in JSON).
    #[serde(flatten)]
    pub content: ModuleReply,
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
    /// Parts kept though they failed their checks: a teacher should read them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<Review>,
    /// How it was made (JSON output only; absent in syllabi written before 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// A field kept though it failed its checks (the model could not get it right in every
/// attempt): shown beside it in every format, so a teacher reads it before handing out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// 1-based module number; `None` for a course-level field.
    pub module: Option<usize>,
    /// The field, as JSON names it ("assessment", "learning_outcomes").
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
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
                content: reply,
            })
            .collect();
        Self {
            title: self::title::course_title(&request.topic, &outline.title),
            topic: request.topic.clone(),
            description: outline.description,
            audience: outline.audience,
            level: request.level.clone(),
            weeks: request.weeks,
            language: request.language.clone(),
            prerequisites: outline.prerequisites,
            learning_outcomes: outline.learning_outcomes,
            modules,
            review: Vec::new(),
            provenance: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::reply::OutlineEntry;

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
            outline: None,
        };
        let entry = |t: &str| OutlineEntry {
            title: t.into(),
            focus: format!("about {t}"),
        };
        let outline = OutlineReply {
            title: "Marine Biology".into(),
            description: "Life in the sea.".into(),
            audience: "First-year students".into(),
            prerequisites: vec!["Basic biology".into(), "Basic chemistry".into()],
            learning_outcomes: vec!["Name ocean zones".into(), "Describe food webs".into()],
            modules: vec![entry("A"), entry("B")],
        };
        let reply = ModuleReply {
            summary: "Ocean zones and their life.".into(),
            learning_objectives: vec!["Name zones".into(), "Compare zones".into()],
            topics: vec!["Light".into(), "Pressure".into()],
            activities: vec!["Lab".into(), "Field trip".into()],
            assessment: "Quiz".into(),
        };
        let s = Syllabus::assemble(&request, outline, vec![reply.clone(), reply]);
        assert_eq!(
            s.modules.iter().map(|m| m.number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(s.modules[1].weeks.as_deref(), Some("3-4"));
    }
}
