//! The fonts a PDF embeds (subset to the characters used): DejaVu Sans, regular and bold, for
//! Latin, Greek and Cyrillic; Droid Sans Fallback for Chinese and Japanese; Nanum Gothic for
//! Korean. They are
//! inside the binary (`build.rs` finds them), so a PDF needs nothing of the machine. Text is
//! split into runs by the first font that has each character.

use std::sync::LazyLock;

use krilla::text::Font;
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

static SANS: &[u8] = include_bytes!(env!("SYLLABUS_FONT_SANS"));
static SANS_BOLD: &[u8] = include_bytes!(env!("SYLLABUS_FONT_SANS_BOLD"));
static CJK: &[u8] = include_bytes!(env!("SYLLABUS_FONT_CJK"));
static KOREAN: &[u8] = include_bytes!(env!("SYLLABUS_FONT_KOREAN"));

/// One embedded font: what krilla draws with, and what measures it.
pub struct Face {
    pub font: Font,
    reader: FontRef<'static>,
}

impl Face {
    fn new(bytes: &'static [u8]) -> Option<Self> {
        Some(Self {
            font: Font::new(bytes.into(), 0)?,
            reader: FontRef::new(bytes).ok()?,
        })
    }

    /// Whether the font has a glyph for `c`.
    pub fn has(&self, c: char) -> bool {
        self.reader.charmap().map(c).is_some()
    }

    /// Width of `text` at `size` points (advances only; no kerning).
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let charmap = self.reader.charmap();
        let metrics = self
            .reader
            .glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                charmap
                    .map(c)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(size * 0.5)
            })
            .sum()
    }
}

/// The fonts, loaded once.
pub struct Fonts {
    regular: Face,
    bold: Face,
    /// For what the Latin faces lack, in order.
    fallbacks: [Face; 2],
}

static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    Some(Fonts {
        regular: Face::new(SANS)?,
        bold: Face::new(SANS_BOLD)?,
        fallbacks: [Face::new(CJK)?, Face::new(KOREAN)?],
    })
});

/// A piece of text in one font.
pub struct Run<'a> {
    pub face: &'a Face,
    pub text: &'a str,
}

impl Fonts {
    /// The embedded fonts; an error only if the binary's own font data does not read.
    pub fn get() -> anyhow::Result<&'static Fonts> {
        FONTS
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the fonts inside this program do not read"))
    }

    /// The face that draws `c`: the Latin one (bold or not) when it has it, else the first
    /// fallback that has it, else the Latin one (its "missing" glyph).
    fn face(&self, c: char, bold: bool) -> &Face {
        let latin = if bold { &self.bold } else { &self.regular };
        if latin.has(c) {
            return latin;
        }
        self.fallbacks.iter().find(|f| f.has(c)).unwrap_or(latin)
    }

    /// `text` cut into runs of one face each.
    pub fn runs<'a>(&'a self, text: &'a str, bold: bool) -> Vec<Run<'a>> {
        let mut runs: Vec<Run<'a>> = Vec::new();
        let mut start = 0;
        let mut current: Option<&Face> = None;
        for (i, c) in text.char_indices() {
            let face = self.face(c, bold);
            if let Some(f) = current.filter(|f| !std::ptr::eq(*f, face)) {
                runs.push(Run {
                    face: f,
                    text: &text[start..i],
                });
                start = i;
            }
            current = Some(face);
        }
        if let Some(f) = current {
            runs.push(Run {
                face: f,
                text: &text[start..],
            });
        }
        runs
    }

    /// Width of `text` at `size` points, each run in its face.
    pub fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        self.runs(text, bold)
            .iter()
            .map(|r| r.face.width(r.text, size))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_goes_to_the_cjk_face_and_latin_stays_in_dejavu() {
        let fonts = Fonts::get().unwrap();
        let runs = fonts.runs("Ocean 海洋 life", false);
        let texts: Vec<&str> = runs.iter().map(|r| r.text).collect();
        assert_eq!(texts, ["Ocean ", "海洋", " life"]);
        assert!(std::ptr::eq(runs[1].face, &fonts.fallbacks[0]));
        for s in ["Ünïcödé é à ß", "Привет", "한국어", "日本語のかな"] {
            assert!(s.chars().all(|c| fonts.face(c, false).has(c)), "{s}");
        }
        let w = fonts.width("Ocean", 10.0, false);
        assert!(w > 20.0 && w < 40.0, "{w}");
        assert!(fonts.width("Ocean", 10.0, true) > w, "bold is wider");
    }
}
