//! What the model returns: one typed reply per call kind, each with its field table (the
//! JSON schema and the prompt's list of keys come from it, see `schema`). `validate` parses
//! replies with serde and checks what the grammar cannot enforce.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod refusal;
pub mod salvage;
pub mod validate;

use crate::course::content::Kind;
use crate::course::given::{GivenModule, GivenOutline};
use crate::course::schema::{self, Field, Writing, MIN_ITEMS};

// Character bounds: the hard stop of the grammar, well above the word counts the prompt
// asks for (about six characters a word), so that a reply that follows the prompt is never
// cut; one that runs on is ended at its last full sentence (see `content`).
/// Title bounds, in characters.
const TITLE_LEN: u64 = 70;
/// One-line bounds, in characters.
const LINE_LEN: u64 = 150;
/// Paragraph bounds, in characters.
const PARAGRAPH_LEN: u64 = 420;
/// A module's focus: every module prompt lists them all, so they are kept short.
const FOCUS_LEN: u64 = 100;

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
        Field::text(
            "title",
            TITLE_LEN,
            Kind::Title,
            "a short title, at most 6 words",
        ),
        Field::text(
            "focus",
            FOCUS_LEN,
            Kind::Line,
            "what it covers, at most 12 words",
        ),
    ];

    /// Schema of a replacement entry (a module title that repeated another, or an entry
    /// that failed its checks); what a teacher gave for it is fixed with `const`.
    pub fn schema(writing: Writing, given: Option<&GivenModule>) -> Value {
        schema::top_level(Self::object(writing, given))
    }

    /// The entry's object schema, with what `given` holds fixed.
    fn object(writing: Writing, given: Option<&GivenModule>) -> Value {
        let mut props = schema::properties(&Self::FIELDS, writing);
        if let Some(g) = given {
            props.insert("title".into(), json!({"const": g.title}));
            if let Some(focus) = &g.focus {
                props.insert("focus".into(), json!({"const": focus}));
            }
        }
        schema::object(props)
    }
}

impl OutlineReply {
    /// The outline's fields but `modules`, whose count each request fixes.
    pub const FIELDS: [Field; 5] = [
        Field::text(
            "title",
            TITLE_LEN,
            Kind::Title,
            "the course title, naming the topic",
        ),
        Field::text(
            "description",
            PARAGRAPH_LEN,
            Kind::Prose,
            "2 or 3 sentences on what the course covers and why (at most 50 words)",
        ),
        Field::text(
            "audience",
            LINE_LEN,
            Kind::Line,
            "who the course is for (one line)",
        ),
        Field::list(
            "prerequisites",
            LINE_LEN,
            MIN_ITEMS, 4,
            "2 to 4 things learners should know first (a few words each)"),
        Field::outcomes(
            "learning_outcomes",
            LINE_LEN,
            MIN_ITEMS, 6,
            "3 to 6 outcomes, each starting with an observable verb, never a question (at most 15 words each)"),
    ];

    /// Schema of the outline reply for exactly `modules` modules; what a teacher's outline
    /// gives is fixed with `const` (the model's tokens for it are forced, not sampled).
    pub fn schema(modules: usize, writing: Writing, given: Option<&GivenOutline>) -> Value {
        let entry = |g: Option<&GivenModule>| OutlineEntry::object(writing, g);
        let mut props = schema::properties(&Self::FIELDS, writing);
        let list = match given {
            Some(g) => {
                let fixed = [
                    ("title", g.title.as_ref().map(|v| json!(v))),
                    ("description", g.description.as_ref().map(|v| json!(v))),
                    ("audience", g.audience.as_ref().map(|v| json!(v))),
                    ("prerequisites", g.prerequisites.as_ref().map(|v| json!(v))),
                    (
                        "learning_outcomes",
                        g.learning_outcomes.as_ref().map(|v| json!(v)),
                    ),
                ];
                for (key, value) in fixed {
                    if let Some(v) = value {
                        props.insert(key.into(), json!({"const": v}));
                    }
                }
                let items: Vec<Value> = g.modules.iter().map(|m| entry(Some(m))).collect();
                json!({"type": "array", "prefixItems": items, "minItems": items.len(), "maxItems": items.len()})
            }
            None => {
                json!({"type": "array", "items": entry(None), "minItems": modules, "maxItems": modules})
            }
        };
        props.insert("modules".into(), list);
        schema::top_level(schema::object(props))
    }

    /// The prompt's list of keys for `modules` modules.
    pub fn prompt_lines(modules: usize) -> String {
        let mut lines: Vec<String> = Self::FIELDS.iter().map(Field::prompt_line).collect();
        lines.push(format!(
            "- modules: exactly {modules} units on the subject itself (not course logistics such \
             as grading or resources), from basics to advanced, each with {} and {}",
            OutlineEntry::FIELDS[0].prompt_item(),
            OutlineEntry::FIELDS[1].prompt_item()
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
            Kind::Prose,
            "2 or 3 sentences, at most 50 words",
        ),
        Field::outcomes(
            "learning_objectives",
            LINE_LEN,
            MIN_ITEMS, 5,
            "3 to 5 things a learner will be able to do, each starting with an observable verb, never a question"),
        Field::list(
            "topics",
            TITLE_LEN,
            MIN_ITEMS, 6,
            "3 to 6 distinct subjects, a few words each"),
        Field::list(
            "activities",
            LINE_LEN,
            MIN_ITEMS, 4,
            "2 to 4 concrete classroom activities"),
        Field::text(
            "assessment",
            LINE_LEN * 2,
            Kind::Prose,
            "1 or 2 sentences on the quiz, task or project that shows learning",
        ),
    ];

    /// Schema of one module reply.
    pub fn schema(writing: Writing) -> Value {
        schema::top_level(schema::object(schema::properties(&Self::FIELDS, writing)))
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
