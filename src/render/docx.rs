//! A Word document (Office Open XML, docx-rs): a title, real heading styles (so Word's
//! navigation pane and table of contents find every module), and bulleted lists.

use anyhow::Context as _;
use docx_rs::{
    AbstractNumbering, Docx, IndentLevel, Level, LevelJc, LevelText, NumberFormat, Numbering,
    NumberingId, Paragraph, Run, SpecialIndentType, Start, Style, StyleType,
};

use crate::course::Syllabus;

/// The numbering that makes a paragraph a bullet item.
const BULLETS: usize = 1;

fn styles(doc: Docx) -> Docx {
    let heading = |id: &str, name: &str, size: usize, level: usize| {
        Style::new(id, StyleType::Paragraph)
            .name(name)
            .based_on("Normal")
            .next("Normal")
            .q_format(true)
            .bold()
            .size(size)
            .outline_lvl(level)
    };
    doc.add_style(
        Style::new("Title", StyleType::Paragraph)
            .name("Title")
            .based_on("Normal")
            .q_format(true)
            .size(52),
    )
    .add_style(heading("Heading1", "heading 1", 36, 0))
    .add_style(heading("Heading2", "heading 2", 30, 1))
    .add_style(heading("Heading3", "heading 3", 26, 2))
    .add_abstract_numbering(
        AbstractNumbering::new(BULLETS).add_level(
            Level::new(
                0,
                Start::new(1),
                NumberFormat::new("bullet"),
                LevelText::new("•"),
                LevelJc::new("left"),
            )
            .indent(Some(720), Some(SpecialIndentType::Hanging(360)), None, None),
        ),
    )
    .add_numbering(Numbering::new(BULLETS, BULLETS))
}

fn para(text: &str) -> Paragraph {
    Paragraph::new().add_run(Run::new().add_text(text))
}

fn styled(text: &str, style: &str) -> Paragraph {
    para(text).style(style)
}

fn bullets(mut doc: Docx, items: &[String]) -> Docx {
    for item in items {
        doc =
            doc.add_paragraph(para(item).numbering(NumberingId::new(BULLETS), IndentLevel::new(0)));
    }
    doc
}

fn labelled(label: &str, value: &str) -> Paragraph {
    Paragraph::new()
        .add_run(Run::new().add_text(format!("{label}: ")).bold())
        .add_run(Run::new().add_text(value))
}

/// Review marks in bold red, where a teacher reads first.
fn review(mut doc: Docx, lines: &[String]) -> Docx {
    for line in lines {
        doc = doc.add_paragraph(
            Paragraph::new()
                .add_run(
                    Run::new()
                        .add_text(format!("{}: ", super::REVIEW_LABEL))
                        .bold()
                        .color("C00000"),
                )
                .add_run(Run::new().add_text(line).color("C00000")),
        );
    }
    doc
}

/// The syllabus as a .docx file's bytes.
pub fn docx(s: &Syllabus) -> anyhow::Result<Vec<u8>> {
    let mut doc = styles(Docx::new())
        .add_paragraph(styled(&s.title, "Title"))
        .add_paragraph(para(&s.description));
    doc =
        review(doc, &super::review_lines(s, None)).add_paragraph(labelled("Audience", &s.audience));
    if let Some(level) = &s.level {
        doc = doc.add_paragraph(labelled("Level", level));
    }
    if let Some(weeks) = s.weeks {
        doc = doc.add_paragraph(labelled("Length", &format!("{weeks} weeks")));
    }
    doc = doc.add_paragraph(styled("Prerequisites", "Heading1"));
    doc = bullets(doc, &s.prerequisites);
    doc = doc.add_paragraph(styled("Learning outcomes", "Heading1"));
    doc = bullets(doc, &s.learning_outcomes);
    doc = doc.add_paragraph(styled("Modules", "Heading1"));
    for m in &s.modules {
        let weeks = m
            .weeks
            .as_deref()
            .map(|w| format!(" (week {w})"))
            .unwrap_or_default();
        let c = &m.content;
        doc = doc
            .add_paragraph(styled(
                &format!("Module {}: {}{weeks}", m.number, m.title),
                "Heading2",
            ))
            .add_paragraph(Paragraph::new().add_run(Run::new().add_text(&m.focus).italic()));
        doc = review(doc, &super::review_lines(s, Some(m.number)))
            .add_paragraph(para(&c.summary))
            .add_paragraph(styled("Learning objectives", "Heading3"));
        doc = bullets(doc, &c.learning_objectives).add_paragraph(styled("Topics", "Heading3"));
        doc = bullets(doc, &c.topics).add_paragraph(styled("Activities", "Heading3"));
        doc = bullets(doc, &c.activities)
            .add_paragraph(styled("Assessment", "Heading3"))
            .add_paragraph(para(&c.assessment));
    }
    let mut out = std::io::Cursor::new(Vec::new());
    doc.build()
        .pack(&mut out)
        .context("cannot write the Word document")?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_document_is_a_zip_whose_body_has_every_module_as_a_heading() {
        let s = crate::render::tests_support::syllabus();
        let bytes = docx(&s).unwrap();
        assert_eq!(&bytes[..2], b"PK", "an Office Open XML package is a zip");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut body = String::new();
        zip.by_name("word/document.xml")
            .unwrap()
            .read_to_string(&mut body)
            .unwrap();
        assert!(
            body.contains("Heading2") && body.contains("Module 1: Ocean zones"),
            "{body}"
        );
        assert!(body.contains("Marine Biology"));
    }
}
