//! Rendering a syllabus as Markdown (for printing) or JSON (for programs).

use std::fmt::Write as _;

use crate::course::Syllabus;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Headings and lists a teacher can print.
    Markdown,
    /// The syllabus object, pretty-printed.
    Json,
}

/// Renders `syllabus` in `format`, ending with a newline.
pub fn render(syllabus: &Syllabus, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(syllabus).expect("syllabus serializes");
            s.push('\n');
            s
        }
        Format::Markdown => markdown(syllabus),
    }
}

/// Escapes characters Markdown would read as markup at the start of a line or inline.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn list(out: &mut String, heading: &str, items: &[String]) {
    let _ = writeln!(out, "{heading}\n");
    for item in items {
        let _ = writeln!(out, "- {}", md(item));
    }
    out.push('\n');
}

fn markdown(s: &Syllabus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md(&s.title));
    let _ = writeln!(out, "{}\n", md(&s.description));
    let _ = writeln!(out, "- **Audience:** {}", md(&s.audience));
    if let Some(level) = &s.level {
        let _ = writeln!(out, "- **Level:** {}", md(level));
    }
    if let Some(weeks) = s.weeks {
        let _ = writeln!(out, "- **Length:** {weeks} weeks");
    }
    let _ = writeln!(out, "- **Modules:** {}\n", s.modules.len());
    list(&mut out, "## Prerequisites", &s.prerequisites);
    list(&mut out, "## Learning outcomes", &s.learning_outcomes);
    let _ = writeln!(out, "## Modules\n");
    for m in &s.modules {
        let weeks = m
            .weeks
            .as_deref()
            .map(|w| format!(" (week {w})"))
            .unwrap_or_default();
        let _ = writeln!(out, "### Module {}: {}{}\n", m.number, md(&m.title), weeks);
        let _ = writeln!(out, "*{}*\n", md(&m.focus));
        let c = &m.content;
        let _ = writeln!(out, "{}\n", md(&c.summary));
        list(&mut out, "**Learning objectives**", &c.learning_objectives);
        list(&mut out, "**Topics**", &c.topics);
        list(&mut out, "**Activities**", &c.activities);
        let _ = writeln!(out, "**Assessment:** {}\n", md(&c.assessment));
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::Module;
    use crate::reply::ModuleReply;

    fn syllabus() -> Syllabus {
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
        }
    }

    #[test]
    fn markdown_has_headings_lists_and_no_raw_json() {
        let text = render(&syllabus(), Format::Markdown);
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
    fn json_round_trips_with_the_required_fields() {
        let text = render(&syllabus(), Format::Json);
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
