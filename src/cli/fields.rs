//! One course as people ask for it: `generate`'s arguments, a row of a `batch` file, the
//! body of `POST /api/syllabus`. One type for the three, checked by one function into the
//! request the pipeline runs; messages name a flag or a field, as the course came.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::outline_file;
use super::usage::{within, UsageError, MAX_MODULES, MAX_TOPIC_CHARS};
use crate::course::content::without_controls;
use crate::course::language::{self, LanguageChoice};
use crate::course::{CourseRequest, GivenOutline};

/// Modules when neither `modules` nor an outline says.
pub const DEFAULT_MODULES: usize = 6;
/// Longest audience, level or language, in characters.
pub const MAX_FIELD_CHARS: usize = 200;

/// A course as asked for, before any check.
#[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseFields {
    /// Course topic, e.g. "Introduction to Marine Biology".
    pub topic: String,
    /// Number of modules [default: 6, or as many as the outline lists].
    #[arg(long)]
    pub modules: Option<usize>,
    /// Your own module list: a text file (one title per line, optionally `Title: focus`),
    /// or the JSON of an earlier run (or its `modules` array). Those titles are kept, in
    /// that order; the model writes the rest.
    #[arg(long, value_name = "FILE")]
    pub outline: Option<PathBuf>,
    /// Intended learners.
    #[arg(long)]
    pub audience: Option<String>,
    /// Level, e.g. introductory or advanced.
    #[arg(long)]
    pub level: Option<String>,
    /// Course length in weeks; modules are spread over them.
    #[arg(long)]
    pub weeks: Option<u32>,
    /// Language the syllabus is written in [default: the topic's language when it can be
    /// told, else English].
    #[arg(long)]
    pub language: Option<String>,
}

/// How a course's values are named in messages: as flags (`--modules`) or as the fields
/// of a file or a request body (`modules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Command-line flags.
    Flags,
    /// Fields of a course file or an API body.
    Fields,
}

impl Naming {
    fn name(self, field: &str) -> String {
        match self {
            Self::Flags => format!("--{field}"),
            Self::Fields => field.to_string(),
        }
    }
}

/// A course checked: the request the pipeline runs, and how its language was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct CoursePlan {
    /// What to write.
    pub request: CourseRequest,
    /// The language written in, and why.
    pub language: LanguageChoice,
}

impl CourseFields {
    /// Checks every value once (reading the outline file when one is named), with at most
    /// `max_modules` modules; messages name values as `naming` says.
    pub fn check(&self, naming: Naming, max_modules: usize) -> Result<CoursePlan, UsageError> {
        let name = |field: &str| naming.name(field);
        let given = self
            .outline
            .as_deref()
            .map(outline_file::read)
            .transpose()?;
        let modules = match (&given, self.modules) {
            (Some(g), Some(m)) if m != g.modules.len() => {
                return Err(UsageError(format!(
                    "{} {m} disagrees with {}, which lists {} modules; leave {} out",
                    name("modules"),
                    name("outline"),
                    g.modules.len(),
                    name("modules"),
                )))
            }
            (Some(g), _) => g.modules.len(),
            (None, m) => m.unwrap_or(DEFAULT_MODULES),
        };
        let topic = without_controls(&self.topic, false);
        let topic = topic.split_whitespace().collect::<Vec<_>>().join(" ");
        if topic.is_empty() {
            return Err(UsageError("the topic is empty; say what the course is about, e.g. \"Introduction to Marine Biology\"".into()));
        }
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(UsageError(format!(
                "the topic is longer than {MAX_TOPIC_CHARS} characters; shorten it"
            )));
        }
        let text = |field: &str, value: &Option<String>| optional_text(&name(field), value);
        let flag = text("language", &self.language)?;
        let language = language::choose(flag.as_deref(), &topic);
        let request = CourseRequest {
            modules: within(&name("modules"), modules, 1, max_modules.min(MAX_MODULES))?,
            audience: text("audience", &self.audience)?,
            level: text("level", &self.level)?,
            weeks: self
                .weeks
                .map(|w| within(&name("weeks"), w, 1, 104))
                .transpose()?,
            language: language.name.clone(),
            topic,
            outline: given,
        };
        Ok(CoursePlan { request, language })
    }
}

/// A trimmed text without control characters, `None` when absent; empty or too long is
/// refused, naming `name`.
fn optional_text(name: &str, value: &Option<String>) -> Result<Option<String>, UsageError> {
    let cleaned = value.as_deref().map(|v| without_controls(v, false));
    match cleaned.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(UsageError(format!(
            "{name} is empty; leave it out or give a value"
        ))),
        Some(v) if v.chars().count() > MAX_FIELD_CHARS => Err(UsageError(format!(
            "{name} is longer than {MAX_FIELD_CHARS} characters; shorten it"
        ))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// The largest request a course may make with `modules` modules: every text at its limit,
/// for sizing memory before any course is known (a server's).
pub fn largest(modules: usize) -> CourseRequest {
    let words = |chars: usize| "course ".repeat(chars / 7).trim_end().to_string();
    CourseRequest {
        topic: words(MAX_TOPIC_CHARS),
        modules,
        audience: Some(words(MAX_FIELD_CHARS)),
        level: Some(words(MAX_FIELD_CHARS)),
        weeks: Some(104),
        language: "English".into(),
        outline: None::<GivenOutline>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(topic: &str) -> CourseFields {
        CourseFields {
            topic: topic.into(),
            ..CourseFields::default()
        }
    }

    #[test]
    fn messages_name_flags_or_fields_as_the_course_came() {
        let bad = CourseFields {
            modules: Some(0),
            ..fields("Jazz")
        };
        let flag = bad.check(Naming::Flags, MAX_MODULES).unwrap_err().0;
        let field = bad.check(Naming::Fields, MAX_MODULES).unwrap_err().0;
        assert!(
            flag.starts_with("--modules must be between 1 and"),
            "{flag}"
        );
        assert!(
            field.starts_with("modules must be between 1 and"),
            "{field}"
        );
        let capped = CourseFields {
            modules: Some(6),
            ..fields("Jazz")
        };
        let err = capped.check(Naming::Fields, 5).unwrap_err().0;
        assert!(err.contains("between 1 and 5"), "{err}");
    }

    #[test]
    fn texts_are_trimmed_and_bounded_and_the_topic_is_required() {
        let plan = CourseFields {
            audience: Some("  adults ".into()),
            ..fields("  Urban   Gardening ")
        }
        .check(Naming::Flags, MAX_MODULES)
        .unwrap();
        assert_eq!(plan.request.topic, "Urban Gardening");
        assert_eq!(plan.request.audience.as_deref(), Some("adults"));
        assert_eq!(plan.request.modules, DEFAULT_MODULES);
        for (bad, needle) in [
            (fields(" "), "topic is empty"),
            (fields(&"a".repeat(MAX_TOPIC_CHARS + 1)), "topic is longer"),
            (
                CourseFields {
                    level: Some("x".repeat(MAX_FIELD_CHARS + 1)),
                    ..fields("Jazz")
                },
                "level is longer than 200",
            ),
            (
                CourseFields {
                    language: Some(" ".into()),
                    ..fields("Jazz")
                },
                "language is empty",
            ),
        ] {
            let err = bad.check(Naming::Fields, MAX_MODULES).unwrap_err().0;
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn the_largest_request_is_within_every_limit() {
        let r = largest(12);
        let plan = CourseFields {
            topic: r.topic.clone(),
            modules: Some(12),
            audience: r.audience.clone(),
            level: r.level.clone(),
            weeks: r.weeks,
            language: Some(r.language.clone()),
            outline: None,
        }
        .check(Naming::Fields, 12)
        .unwrap();
        assert!(r.topic.chars().count() >= MAX_TOPIC_CHARS - 7);
        assert_eq!(plan.request.topic, r.topic);
    }
}
