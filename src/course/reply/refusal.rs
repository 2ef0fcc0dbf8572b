//! Why a model reply was refused: each check's error, naming the field, for the warning
//! a regeneration prints and the review mark a kept reply carries.

use crate::course::content::TextRefusal;
use crate::course::schema::MIN_ITEMS;

/// Why a model reply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefusal {
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
    /// Schema debris: a key, JSON punctuation, or text without letters.
    #[error("`{field}` holds schema debris instead of text: \"{text}\"")]
    Debris {
        /// Field name.
        field: String,
        /// The offending text.
        text: String,
    },
    /// A run copied from the prompt's instructions.
    #[error("`{field}` copies the prompt's instructions (\"{run}\")")]
    Copied {
        /// Field name.
        field: String,
        /// The copied words.
        run: String,
    },
    /// Cut at its length bound with no full sentence to end on.
    #[error("`{0}` was cut at its length limit mid-sentence")]
    Cut(String),
    /// Partly written in another script than the syllabus's language.
    #[error("`{field}` drifts into another script (\"{sample}\")")]
    Script {
        /// Field name.
        field: String,
        /// The first character out of place.
        sample: String,
    },
    /// A stray fragment glued to a word.
    #[error("`{field}` has a stray fragment glued to its words (\"{sample}\")")]
    Glued {
        /// Field name.
        field: String,
        /// The fragment.
        sample: String,
    },
    /// A word or phrase written three or more times in a row.
    #[error("`{field}` stutters (\"{run}\" three or more times in a row)")]
    Stutter {
        /// Field name.
        field: String,
        /// The repeated word or phrase.
        run: String,
    },
    /// A file name, path or identifier in place of text.
    #[error("`{field}` holds a file name or identifier instead of text (\"{name}\")")]
    MachineName {
        /// Field name.
        field: String,
        /// The name.
        name: String,
    },
    /// The prompt's length guidance copied as content.
    #[error("`{field}` copies the prompt's length guidance instead of content (\"{text}\")")]
    Guidance {
        /// Field name.
        field: String,
        /// The text.
        text: String,
    },
    /// The course's frame restated instead of content.
    #[error("`{field}` restates the module template instead of content (\"{text}\")")]
    Template {
        /// Field name.
        field: String,
        /// The text.
        text: String,
    },
    /// A learning objective written as a question, a bare word, or a label behind a verb.
    #[error(
        "`{field}` is a question, a bare word or a label, not something a learner can show \
         (\"{text}\")"
    )]
    Question {
        /// Field name.
        field: String,
        /// The text.
        text: String,
    },
    /// Written in another language than the syllabus's.
    #[error("`{field}` is written in {found}, not {expected}")]
    Language {
        /// Field name.
        field: String,
        /// The language it is written in.
        found: String,
        /// The syllabus's language.
        expected: String,
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

impl ReplyRefusal {
    /// The error for field `name` whose text `value` the content checks refused as `r`.
    pub fn refused(name: &str, value: &str, r: TextRefusal) -> Self {
        let field = name.to_string();
        let text = || {
            crate::course::content::clean(value)
                .chars()
                .take(60)
                .collect::<String>()
        };
        match r {
            TextRefusal::Empty => Self::Empty(field),
            TextRefusal::Debris => Self::Debris {
                field,
                text: text(),
            },
            TextRefusal::Copied(run) => Self::Copied { field, run },
            TextRefusal::Cut => Self::Cut(field),
            TextRefusal::Script(sample) => Self::Script { field, sample },
            TextRefusal::Glued(sample) => Self::Glued { field, sample },
            TextRefusal::Stutter(run) => Self::Stutter { field, run },
            TextRefusal::MachineName(name) => Self::MachineName { field, name },
            TextRefusal::Guidance => Self::Guidance {
                field,
                text: text(),
            },
            TextRefusal::Template => Self::Template {
                field,
                text: text(),
            },
            TextRefusal::Question => Self::Question {
                field,
                text: text(),
            },
            TextRefusal::Language { found, expected } => Self::Language {
                field,
                found,
                expected,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::content::Checker;
    use crate::course::reply::{ModuleReply, OutlineReply};

    #[test]
    fn what_small_models_write_instead_of_text_is_refused() {
        let checker = Checker::new(
            crate::pipeline::prompt::schema_keys(),
            crate::pipeline::prompt::fixed_texts()
                .iter()
                .map(String::as_str),
        );
        let module = |key: &str, value: serde_json::Value| {
            let mut v = serde_json::json!({
                "summary": "Ocean zones and their life.",
                "learning_objectives": ["Name zones", "Compare zones"],
                "topics": ["Light", "Pressure"],
                "activities": ["Lab", "Field trip"],
                "assessment": "Quiz",
            });
            v[key] = value;
            ModuleReply::parse_valid(&v.to_string(), &checker)
        };
        let outline = |key: &str, value: serde_json::Value| {
            let mut v = serde_json::json!({
                "title": "Marine Biology",
                "description": "Life in the sea.",
                "audience": "First-year students",
                "prerequisites": ["Basic biology", "Basic chemistry"],
                "learning_outcomes": ["Name ocean zones", "Describe food webs"],
                "modules": [{"title": "Reefs", "focus": "about reefs"},
                            {"title": "Plankton", "focus": "about plankton"}],
            });
            v[key] = value;
            OutlineReply::parse_valid(&v.to_string(), 2, &checker)
        };
        let stutter = "This module is designed to provide an educational educational educational \
                       educational educational educational educational.";
        let err = module(
            "learning_objectives",
            serde_json::json!(["Name zones", stutter]),
        );
        assert!(matches!(err, Err(ReplyRefusal::Stutter { .. })), "{err:?}");
        let err = module("summary", serde_json::json!(stutter)).unwrap_err();
        assert!(err.to_string().contains("stutters"), "{err}");
        let err = module(
            "learning_objectives",
            serde_json::json!(["Name zones", "learning-outcomes-12436142862506394-2.md"]),
        );
        assert!(
            matches!(err, Err(ReplyRefusal::MachineName { .. })),
            "{err:?}"
        );
        let err = outline(
            "prerequisites",
            serde_json::json!(["Basic biology", "modules1.md"]),
        );
        assert!(
            matches!(err, Err(ReplyRefusal::MachineName { .. })),
            "{err:?}"
        );
        for (key, value) in [
            ("audience", serde_json::json!("one line")),
            (
                "prerequisites",
                serde_json::json!(["three sentences", "Basic biology"]),
            ),
            (
                "learning_outcomes",
                serde_json::json!(["one sentence", "Name ocean zones"]),
            ),
        ] {
            let err = outline(key, value);
            assert!(
                matches!(err, Err(ReplyRefusal::Guidance { .. })),
                "{key}: {err:?}"
            );
        }
        let err = outline(
            "title",
            serde_json::json!("The course is designed to Provide a Comprehensive Course"),
        );
        assert!(matches!(err, Err(ReplyRefusal::Template { .. })), "{err:?}");
        let err = module(
            "activities",
            serde_json::json!(["This module is designed to provide a lab", "Field trip"]),
        );
        assert!(matches!(err, Err(ReplyRefusal::Template { .. })), "{err:?}");
        let err = module(
            "learning_objectives",
            serde_json::json!(["What is climate change?", "Compare zones"]),
        )
        .unwrap_err();
        assert!(matches!(err, ReplyRefusal::Question { .. }), "{err:?}");
        assert!(err.to_string().contains("not something a learner can show"));
        let err = outline(
            "learning_outcomes",
            serde_json::json!(["Name zones", "How do tides form"]),
        );
        assert!(matches!(err, Err(ReplyRefusal::Question { .. })), "{err:?}");
        // Questions are fine as topics; near-duplicates keep the longer item.
        let reply = module(
            "activities",
            serde_json::json!([
                "The Ottoman Empire's Early Life: What is the Ottoman Empire's history? How it began",
                "What is the Ottoman Empire's history? How it began",
                "Trade routes",
            ]),
        )
        .unwrap();
        assert_eq!(reply.activities.len(), 2, "{:?}", reply.activities);
        assert!(reply.activities[0].starts_with("The Ottoman Empire's Early Life"));
        // An item left hanging ends at its last clause.
        let reply = module(
            "activities",
            serde_json::json!([
                "Trace the empire's borders from 1453 until 1923, when it was taken",
                "Field trip"
            ]),
        )
        .unwrap();
        assert_eq!(
            reply.activities[0],
            "Trace the empire's borders from 1453 until 1923"
        );
    }
}
