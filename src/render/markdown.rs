//! Markdown: headings and lists a teacher can print or paste, model text escaped.

use std::fmt::Write as _;

use crate::course::Syllabus;

/// Escapes characters Markdown would read as markup at the start of a line or inline.
fn md(text: &str) -> String {
    let text = crate::course::content::without_controls(text, true);
    let mut out = String::with_capacity(text.len());
    let mut line_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let inline = matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
        );
        // What starts a list, a heading underline or a rule only at a line's start.
        let starts_markup = line_start && matches!(c, '-' | '+' | '=' | '~');
        if inline || starts_markup {
            out.push('\\');
        }
        out.push(c);
        // "1. " or "1) " at a line's start is an ordered list.
        if line_start && c.is_ascii_digit() {
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            out.push_str(&digits);
            if let Some(&mark @ ('.' | ')')) = chars.peek() {
                out.push('\\');
                out.push(mark);
                chars.next();
            }
        }
        line_start = c == '\n';
    }
    out
}

/// Review marks as a quoted block a reader cannot miss.
fn review(out: &mut String, lines: &[String]) {
    for line in lines {
        let _ = writeln!(out, "> **{}:** {}", super::REVIEW_LABEL, md(line));
    }
    if !lines.is_empty() {
        out.push('\n');
    }
}

fn list(out: &mut String, heading: &str, items: &[String]) {
    let _ = writeln!(out, "{heading}\n");
    for item in items {
        let _ = writeln!(out, "- {}", md(item));
    }
    out.push('\n');
}

/// The syllabus as Markdown, ending with a newline.
pub fn markdown(s: &Syllabus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md(&s.title));
    let _ = writeln!(out, "{}\n", md(&s.description));
    review(&mut out, &super::review_lines(s, None));
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
        review(&mut out, &super::review_lines(s, Some(m.number)));
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
    use super::md;

    #[test]
    fn what_could_start_markup_is_escaped_and_controls_are_dropped() {
        assert_eq!(md("- not a list"), "\\- not a list");
        assert_eq!(
            md("12. not a list\n+ nor this"),
            "12\\. not a list\n\\+ nor this"
        );
        assert_eq!(md("Year 1. Tides - waves"), "Year 1. Tides - waves");
        assert_eq!(md("red\u{1b}[31m\u{202e}"), "red\\[31m");
    }
}
