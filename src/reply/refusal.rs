//! Why a model reply was refused: each check's error, naming the field, for the warning
//! a regeneration prints and the review mark a kept reply carries.

use crate::content::Refusal;
use crate::schema::MIN_ITEMS;

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

impl ContentError {
    /// The error for field `name` whose text `value` the content checks refused as `r`.
    pub fn refused(name: &str, value: &str, r: Refusal) -> Self {
        let field = name.to_string();
        match r {
            Refusal::Empty => Self::Empty(field),
            Refusal::Debris => Self::Debris {
                field,
                text: crate::content::clean(value).chars().take(60).collect(),
            },
            Refusal::Copied(run) => Self::Copied { field, run },
            Refusal::Cut => Self::Cut(field),
            Refusal::Script(sample) => Self::Script { field, sample },
            Refusal::Glued(sample) => Self::Glued { field, sample },
            Refusal::Language { found, expected } => Self::Language {
                field,
                found,
                expected,
            },
        }
    }
}
