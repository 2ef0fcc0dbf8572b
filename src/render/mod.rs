//! Rendering a syllabus for people and programs: Markdown (to print or paste), JSON (for
//! programs, and for `regenerate`), one self-contained HTML page, a Word document, a PDF for
//! print, and an IMS Common Cartridge course package for learning management systems.

mod cartridge;
mod docx;
mod html;
mod markdown;
mod pdf;

use std::path::Path;

use crate::course::Syllabus;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Headings and lists a teacher can print.
    Markdown,
    /// The syllabus object, pretty-printed.
    Json,
    /// One self-contained, printable web page.
    Html,
    /// A Word document (Office Open XML).
    Docx,
    /// A PDF for print, fonts inside (Latin, Greek, Cyrillic, Chinese, Japanese, Korean).
    Pdf,
    /// An IMS Common Cartridge 1.3 course package: Canvas, Schoology, Brightspace,
    /// Blackboard.
    Imscc,
    /// The same as Common Cartridge 1.1, the version Moodle imports.
    #[value(name = "imscc-1.1")]
    Imscc11,
}

impl Format {
    /// The format a file name's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(Self::Markdown),
            "json" => Some(Self::Json),
            "html" | "htm" => Some(Self::Html),
            "docx" => Some(Self::Docx),
            "pdf" => Some(Self::Pdf),
            "imscc" => Some(Self::Imscc),
            _ => None,
        }
    }

    /// Whether the format is text that may go to a terminal.
    pub fn is_text(self) -> bool {
        !matches!(self, Self::Docx | Self::Pdf | Self::Imscc | Self::Imscc11)
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Imscc11 => "imscc",
            other => other.name(),
        }
    }

    /// Name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::Json => "json",
            Self::Html => "html",
            Self::Docx => "docx",
            Self::Pdf => "pdf",
            Self::Imscc => "imscc",
            Self::Imscc11 => "imscc-1.1",
        }
    }

    /// What a file of this format is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Markdown => "Markdown text",
            Self::Json => "JSON",
            Self::Html => "a web page",
            Self::Docx => "a Word document",
            Self::Pdf => "a PDF",
            Self::Imscc => "a Common Cartridge 1.3 package",
            Self::Imscc11 => "a Common Cartridge 1.1 package",
        }
    }
}

/// Renders `syllabus` in `format`; text formats end with a newline.
pub fn render(syllabus: &Syllabus, format: Format) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        Format::Json => json(syllabus).into_bytes(),
        Format::Markdown => markdown::markdown(syllabus).into_bytes(),
        Format::Html => html::html(syllabus)?.into_bytes(),
        Format::Docx => docx::docx(syllabus)?,
        Format::Pdf => pdf::pdf(syllabus)?,
        Format::Imscc => cartridge::cartridge(syllabus, cartridge::Version::V1p3)?,
        Format::Imscc11 => cartridge::cartridge(syllabus, cartridge::Version::V1p1)?,
    })
}

/// A BCP 47 tag for a language name, so readers hyphenate and read aloud in the right
/// language; "und" when unknown.
pub(crate) fn lang_tag(language: &str) -> &'static str {
    match language.to_ascii_lowercase().as_str() {
        "english" => "en",
        "spanish" => "es",
        "german" => "de",
        "french" => "fr",
        "italian" => "it",
        "portuguese" => "pt",
        "dutch" => "nl",
        "russian" => "ru",
        "chinese" | "mandarin" => "zh",
        "japanese" => "ja",
        "korean" => "ko",
        _ => "und",
    }
}

/// What a review mark says beside its part: "Needs review — assessment: why".
pub(crate) const REVIEW_LABEL: &str = "Needs review";

/// Lines for the review marks of module `number` (`None`: the course-level fields), each
/// "field: reason".
pub(crate) fn review_lines(s: &Syllabus, number: Option<usize>) -> Vec<String> {
    s.review
        .iter()
        .filter(|r| r.module == number)
        .map(|r| format!("{}: {}", r.field.replace('_', " "), r.reason))
        .collect()
}

/// The syllabus as pretty-printed JSON, ending with a newline.
pub fn json(syllabus: &Syllabus) -> String {
    let mut s = serde_json::to_string_pretty(syllabus).expect("syllabus serializes");
    s.push('\n');
    s
}

#[cfg(test)]
pub(crate) mod tests_support {
    use crate::course::reply::ModuleReply;
    use crate::course::{Module, Syllabus};

    /// A small syllabus with markup in its text.
    pub fn syllabus() -> Syllabus {
        Syllabus {
            title: "Marine Biology".into(),
            topic: "Introduction to Marine Biology".into(),
            description: "Life in the *sea*.".into(),
            audience: "Students".into(),
            level: Some("introductory".into()),
            weeks: Some(4),
            language: "English".into(),
            prerequisites: vec!["Biology".into(), "Chemistry".into()],
            learning_outcomes: vec!["Explain zones".into(), "Map food webs".into()],
            modules: vec![Module {
                number: 1,
                title: "Ocean zones".into(),
                focus: "Light and depth".into(),
                weeks: Some("1-4".into()),
                content: ModuleReply {
                    summary: "Zones.".into(),
                    learning_objectives: vec!["Name zones".into(), "Compare".into()],
                    topics: vec!["Light".into(), "Pressure".into()],
                    activities: vec!["Lab".into(), "Trip".into()],
                    assessment: "Quiz".into(),
                },
            }],
            review: Vec::new(),
            provenance: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::syllabus;
    use super::*;

    #[test]
    fn markdown_has_headings_lists_and_no_raw_json() {
        let text = String::from_utf8(render(&syllabus(), Format::Markdown).unwrap()).unwrap();
        assert!(text.starts_with("# Marine Biology\n"));
        assert!(text.contains("### Module 1: Ocean zones (week 1-4)"));
        assert!(text.contains("- Name zones\n"));
        assert!(text.contains("**Assessment:** Quiz"));
        assert!(
            text.contains(r"Life in the \*sea\*."),
            "markup in model text is escaped"
        );
        assert!(!text.contains('{') && !text.contains("\"title\""));
        assert!(text.ends_with("Quiz\n"));
    }

    #[test]
    fn review_marks_show_beside_their_part_in_every_format() {
        let mut s = syllabus();
        s.review = vec![
            crate::course::Review {
                module: None,
                field: "prerequisites".into(),
                reason: "list has 1 item".into(),
            },
            crate::course::Review {
                module: Some(1),
                field: "assessment".into(),
                reason: "missing: the reply ran out of its token budget before it".into(),
            },
        ];
        let md = String::from_utf8(render(&s, Format::Markdown).unwrap()).unwrap();
        let course = md
            .find("> **Needs review:** prerequisites: list has 1 item")
            .unwrap();
        let module = md.find("> **Needs review:** assessment: missing").unwrap();
        assert!(course < md.find("## Prerequisites").unwrap());
        assert!(module > md.find("### Module 1").unwrap());
        let page = String::from_utf8(render(&s, Format::Html).unwrap()).unwrap();
        assert_eq!(page.matches("class=\"review\"").count(), 2, "{page}");
        let docx = render(&s, Format::Docx).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx)).unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").unwrap(), &mut body)
            .unwrap();
        assert_eq!(body.matches("Needs review: ").count(), 2);
        let v: serde_json::Value = serde_json::from_str(&json(&s)).unwrap();
        assert_eq!(v["review"][0]["module"], serde_json::Value::Null);
        assert_eq!(v["review"][1]["module"], 1);
        assert_eq!(v["review"][1]["field"], "assessment");
        let plain = json(&syllabus());
        assert!(!plain.contains("review"), "no marks, no key");
    }

    #[test]
    fn json_round_trips_with_the_required_fields() {
        let text = json(&syllabus());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "title",
            "description",
            "audience",
            "prerequisites",
            "learning_outcomes",
            "modules",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        let m = &v["modules"][0];
        for key in [
            "number",
            "title",
            "summary",
            "learning_objectives",
            "topics",
            "activities",
            "assessment",
        ] {
            assert!(m.get(key).is_some(), "{key}");
        }
        let back: Syllabus = serde_json::from_str(&text).unwrap();
        assert_eq!(back, syllabus());
    }
}
