//! A PDF for print (krilla, fonts embedded and subset): A4 pages, the course on the first,
//! each module from a new page, headings, bulleted lists, page numbers. Lines are broken at
//! spaces, and between any two characters of Chinese, Japanese or Korean text.

mod fonts;

use anyhow::Context as _;
use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::text::TextDirection;
use krilla::Document;

use self::fonts::Fonts;
use crate::course::{Module, Syllabus};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const BODY: f32 = 10.5;
const BULLET_INDENT: f32 = 14.0;

/// One piece of the document before it is laid out.
enum Block {
    /// The course title.
    Title(String),
    /// A section or module heading.
    Heading(String),
    /// A heading inside a module ("Topics").
    Subheading(String),
    Paragraph(String),
    /// A list item, drawn with a bullet.
    Item(String),
    /// The next block starts a new page.
    NewPage,
}

impl Block {
    /// Font size, boldness, space before.
    fn style(&self) -> (f32, bool, f32) {
        match self {
            Block::Title(_) => (20.0, true, 0.0),
            Block::Heading(_) => (14.0, true, 12.0),
            Block::Subheading(_) => (11.5, true, 8.0),
            Block::Paragraph(_) => (BODY, false, 4.0),
            Block::Item(_) => (BODY, false, 1.0),
            Block::NewPage => (BODY, false, 0.0),
        }
    }
}

/// The syllabus as a PDF.
pub fn pdf(s: &Syllabus) -> anyhow::Result<Vec<u8>> {
    let fonts = Fonts::get()?;
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(s.title.clone())
            .language(crate::render::lang_tag(&s.language).to_string())
            .creator(format!("syllabus {}", env!("CARGO_PKG_VERSION"))),
    );
    let pages = paginate(fonts, &blocks(s));
    let count = pages.len();
    for (n, lines) in pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H).context("page size")?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        for line in lines {
            draw(&mut surface, fonts, line);
        }
        let number = format!("{} / {count}", n + 1);
        let x = (PAGE_W - fonts.width(&number, 9.0, false)) / 2.0;
        let footer = Line {
            x,
            y: PAGE_H - MARGIN / 2.0,
            size: 9.0,
            bold: false,
            text: number,
        };
        draw(&mut surface, fonts, &footer);
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| anyhow::anyhow!("cannot write the PDF: {e}"))
}

/// The document's blocks, in the order the other formats show them.
fn blocks(s: &Syllabus) -> Vec<Block> {
    let mut out = vec![
        Block::Title(s.title.clone()),
        Block::Paragraph(s.description.clone()),
    ];
    review(&mut out, s, None);
    out.push(Block::Paragraph(format!("Audience: {}", s.audience)));
    if let Some(level) = &s.level {
        out.push(Block::Paragraph(format!("Level: {level}")));
    }
    if let Some(weeks) = s.weeks {
        out.push(Block::Paragraph(format!("Length: {weeks} weeks")));
    }
    out.push(Block::Paragraph(format!("Modules: {}", s.modules.len())));
    list(
        &mut out,
        Block::Heading("Prerequisites".into()),
        &s.prerequisites,
    );
    list(
        &mut out,
        Block::Heading("Learning outcomes".into()),
        &s.learning_outcomes,
    );
    for m in &s.modules {
        out.push(Block::NewPage);
        module(&mut out, s, m);
    }
    out
}

fn module(out: &mut Vec<Block>, s: &Syllabus, m: &Module) {
    let weeks = m
        .weeks
        .as_ref()
        .map(|w| format!(" (week {w})"))
        .unwrap_or_default();
    out.push(Block::Heading(format!(
        "Module {}: {}{weeks}",
        m.number, m.title
    )));
    out.push(Block::Paragraph(m.focus.clone()));
    review(out, s, Some(m.number));
    out.push(Block::Paragraph(m.content.summary.clone()));
    let c = &m.content;
    for (name, items) in [
        ("Learning objectives", &c.learning_objectives),
        ("Topics", &c.topics),
        ("Activities", &c.activities),
    ] {
        list(out, Block::Subheading(name.into()), items);
    }
    out.push(Block::Subheading("Assessment".into()));
    out.push(Block::Paragraph(c.assessment.clone()));
}

fn list(out: &mut Vec<Block>, heading: Block, items: &[String]) {
    out.push(heading);
    out.extend(items.iter().map(|i| Block::Item(i.clone())));
}

fn review(out: &mut Vec<Block>, s: &Syllabus, number: Option<usize>) {
    for line in crate::render::review_lines(s, number) {
        out.push(Block::Paragraph(format!(
            "{}: {line}",
            crate::render::REVIEW_LABEL
        )));
    }
}

/// One line of text at its place on a page (`y` is the baseline).
struct Line {
    x: f32,
    y: f32,
    size: f32,
    bold: bool,
    text: String,
}

/// The blocks broken into lines and the lines into pages.
fn paginate(fonts: &Fonts, blocks: &[Block]) -> Vec<Vec<Line>> {
    let mut pages: Vec<Vec<Line>> = vec![Vec::new()];
    let mut y = MARGIN;
    for block in blocks {
        let (size, bold, before) = block.style();
        let (text, indent) = match block {
            Block::NewPage => {
                pages.push(Vec::new());
                y = MARGIN;
                continue;
            }
            Block::Item(t) => (t, BULLET_INDENT),
            Block::Title(t) | Block::Heading(t) | Block::Subheading(t) | Block::Paragraph(t) => {
                (t, 0.0)
            }
        };
        let width = PAGE_W - 2.0 * MARGIN - indent;
        let leading = size * 1.4;
        // Line breaks and tabs in model text would print as missing glyphs.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let lines = wrap(fonts, &text, size, bold, width);
        // A heading is not left alone at the foot of a page.
        let keep = if matches!(block, Block::Heading(_) | Block::Subheading(_)) {
            leading * 3.0
        } else {
            leading
        };
        if y > MARGIN && y + before + keep > PAGE_H - MARGIN {
            pages.push(Vec::new());
            y = MARGIN;
        } else if y > MARGIN {
            y += before;
        }
        for (i, text) in lines.into_iter().enumerate() {
            if y + leading > PAGE_H - MARGIN {
                pages.push(Vec::new());
                y = MARGIN;
            }
            y += leading;
            let page = pages.last_mut().expect("a page");
            if i == 0 && indent > 0.0 {
                page.push(Line {
                    x: MARGIN + 3.0,
                    y,
                    size,
                    bold,
                    text: "•".into(),
                });
            }
            page.push(Line {
                x: MARGIN + indent,
                y,
                size,
                bold,
                text,
            });
        }
    }
    pages
}

/// Punctuation that never starts a line.
const NO_LINE_START: &str = "，。、；：！？）」』】》〉”’,.;:!?)%";
/// Punctuation that never ends a line.
const NO_LINE_END: &str = "（「『【《〈“‘(";

/// Whether a line may break before or after `c`: CJK text has no spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

/// `text` in lines no wider than `width`: greedy, breaking at spaces and around CJK
/// characters; a word wider than a line is cut where it must be.
fn wrap(fonts: &Fonts, text: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for atom in atoms(text) {
        let candidate = format!("{line}{atom}");
        if line.is_empty() || fonts.width(candidate.trim_end(), size, bold) <= width {
            line = candidate;
            continue;
        }
        lines.push(line.trim_end().to_string());
        line = atom.trim_start().to_string();
        while fonts.width(&line, size, bold) > width && line.chars().count() > 1 {
            let mut head = String::new();
            for c in line.chars() {
                if !head.is_empty() && fonts.width(&format!("{head}{c}"), size, bold) > width {
                    break;
                }
                head.push(c);
            }
            line = line[head.len()..].to_string();
            lines.push(head);
        }
    }
    if !line.trim().is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// The pieces a line is made of: a word with the spaces after it, or one CJK character.
fn atoms(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let boundary = match prev {
            None => false,
            Some(p) => {
                let after_space = p.is_whitespace() && !c.is_whitespace();
                // CJK breaks anywhere but before closing or after opening punctuation.
                let cjk = (is_cjk(c) || is_cjk(p))
                    && !c.is_whitespace()
                    && !NO_LINE_START.contains(c)
                    && !NO_LINE_END.contains(p);
                after_space || cjk
            }
        };
        if boundary {
            out.push(&text[start..i]);
            start = i;
        }
        prev = Some(c);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Draws `line`, each run in its own font.
fn draw(surface: &mut krilla::surface::Surface, fonts: &Fonts, line: &Line) {
    let mut x = line.x;
    for run in fonts.runs(&line.text, line.bold) {
        surface.draw_text(
            Point::from_xy(x, line.y),
            run.face.font.clone(),
            line.size,
            run.text,
            false,
            TextDirection::Auto,
        );
        x += run.face.width(run.text, line.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_at_spaces_and_between_cjk_characters_within_the_width() {
        let fonts = Fonts::get().unwrap();
        let text = "Tides rise and fall twice a day because the Moon pulls on the oceans";
        let lines = wrap(fonts, text, BODY, false, 150.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert!(lines.iter().all(|l| fonts.width(l, BODY, false) <= 150.0));
        let zh = "海洋生物学研究海洋中的生命以及它们与环境的关系";
        let lines = wrap(fonts, zh, BODY, false, 100.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.concat(), zh);
        let punctuated = "海洋生物学研究海洋中的生命，以及它们与环境的关系。（海洋）".repeat(4);
        for width in [60.0, 80.0, 100.0, 130.0] {
            let lines = wrap(fonts, &punctuated, BODY, false, width);
            assert_eq!(lines.concat(), punctuated);
            for l in &lines[1..] {
                let first = l.chars().next().unwrap();
                assert!(!NO_LINE_START.contains(first), "{l}");
            }
            assert!(lines
                .iter()
                .all(|l| !NO_LINE_END.contains(l.chars().last().unwrap())));
        }
        let long = "a".repeat(200);
        let lines = wrap(fonts, &long, BODY, false, 100.0);
        assert_eq!(
            lines.concat(),
            long,
            "a word wider than a line is cut, not lost"
        );
    }

    #[test]
    fn every_module_starts_a_page_and_the_same_syllabus_gives_the_same_bytes() {
        let mut s = crate::render::tests_support::syllabus();
        let mut two = s.modules[0].clone();
        two.number = 2;
        s.modules.push(two);
        s.modules[1].content.summary = "Two\nlines\tand a tab.".into();
        let pages = paginate(Fonts::get().unwrap(), &blocks(&s));
        assert_eq!(pages.len(), 3);
        assert!(pages[2].iter().any(|l| l.text == "Two lines and a tab."));
        assert!(pages[1][0].text.starts_with("Module 1: Ocean zones"));
        let bytes = pdf(&s).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        assert_eq!(bytes, pdf(&s).unwrap());
    }
}
