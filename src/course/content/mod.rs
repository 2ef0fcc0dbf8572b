//! Model text made fit to hand out, or refused so the call is regenerated: whitespace and
//! control characters cleaned; schema debris (keys, JSON punctuation, text without letters)
//! and runs copied from the prompt's own fixed text refused; a string cut by its length
//! bound ended at its last full sentence or clause, never mid-word; what small models write
//! instead of text (stutters, file names, the prompt's guidance, the template restated,
//! objectives as questions) refused.

mod controls;
mod debris;
mod ends;
mod flaws;
mod glue;
mod near;
mod template;
mod tokens;

use std::collections::HashSet;

pub use self::controls::without_controls;
use self::debris::is_debris;
pub use self::ends::Kind;
use self::ends::{
    at_last_word, close_prose, end_cut, first_of_run_on, is_sentence_end, last_sentence,
    unfinished_tail,
};
use self::flaws::{
    hanging_end, is_bare_word, is_guidance, is_label_behind_verb, is_question, machine_name,
    stutter,
};
pub use self::glue::glued;
pub use self::near::near_duplicate;
use self::template::restates_template;
use self::tokens::is_cjk;
pub use self::tokens::words;

/// Words in a row that make a copy of the prompt's fixed text.
const COPY_WORDS: usize = 6;
/// In a short text, fewer words in a row make a copy when they are most of it
/// ("How learning is checked (1 sentence)").
const SHORT_COPY_WORDS: usize = 4;

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextRefusal {
    /// Nothing left after cleaning.
    Empty,
    /// A schema key, JSON punctuation, a web address, or no letters at all.
    Debris,
    /// A run of the prompt's own fixed text (instructions).
    Copied(String),
    /// Cut at its length bound with no full sentence or clause to end on.
    Cut,
    /// Written partly in another script than the syllabus's language (a small model
    /// drifting into Chinese in an English text).
    Script(String),
    /// A stray fragment glued to a word: a digit ("and2", "balance,2") or a word cut
    /// and left dangling ("the light-h").
    Glued(String),
    /// A word or short phrase written three or more times in a row.
    Stutter(String),
    /// A file name, path or machine identifier in place of text.
    MachineName(String),
    /// The prompt's own length guidance ("one line") as content.
    Guidance,
    /// The course's frame restated ("This module is designed to ...", "Objective 2").
    Template,
    /// A learning objective written as a question, a bare word ("Identify"), or a label
    /// behind a verb ("Analyze of the cipher").
    Question,
    /// Written in another language than the syllabus's.
    Language {
        /// The language it is written in.
        found: String,
        /// The syllabus's language.
        expected: String,
    },
}

/// Checks texts against the schema's keys, the prompt's fixed text and the language.
#[derive(Debug, Clone, Default)]
pub struct Checker {
    keys: HashSet<String>,
    /// Every run of `SHORT_COPY_WORDS` to `COPY_WORDS` words of the fixed text.
    fixed: HashSet<Vec<String>>,
    /// Whether the language is written in CJK scripts.
    cjk_language: bool,
    /// The syllabus's language: a text confidently in another is refused.
    language: Option<String>,
    /// Texts a teacher gave: taken as they are.
    trusted: HashSet<String>,
}

/// Whether `language` is written in Chinese, Japanese or Korean scripts.
pub fn is_cjk_language(language: &str) -> bool {
    let l = language.to_lowercase();
    ["chinese", "mandarin", "cantonese", "japanese", "korean"]
        .iter()
        .any(|c| l.contains(c))
        || language.chars().any(is_cjk)
}

impl Checker {
    /// A checker for replies whose schemas use `keys`, to prompts whose fixed (not
    /// user-given) text is `fixed`.
    pub fn new<'a>(
        keys: impl IntoIterator<Item = &'a str>,
        fixed: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut grams = HashSet::new();
        for text in fixed {
            let w = words(text);
            for n in SHORT_COPY_WORDS..=COPY_WORDS {
                for gram in w.windows(n) {
                    grams.insert(gram.to_vec());
                }
            }
        }
        Self {
            keys: keys.into_iter().map(str::to_lowercase).collect(),
            fixed: grams,
            cjk_language: false,
            language: None,
            trusted: HashSet::new(),
        }
    }

    /// The same checker taking `texts` (a teacher's own) as they are.
    pub fn trusting<'a>(mut self, texts: impl IntoIterator<Item = &'a str>) -> Self {
        self.trusted.extend(texts.into_iter().map(clean));
        self
    }

    /// The same checker for text in `language` ("Chinese", "Japanese", ...).
    pub fn for_language(mut self, language: &str) -> Self {
        self.cjk_language = is_cjk_language(language);
        self.language = Some(language.to_string());
        self
    }

    /// The cleaned text, or why it is refused. `max` is the field's length bound in
    /// characters: a text that reached it was cut by the grammar.
    pub fn text(&self, value: &str, kind: Kind, max: u64) -> Result<String, TextRefusal> {
        let cleaned = clean(value);
        if self.trusted.contains(&cleaned) {
            return Ok(cleaned);
        }
        if is_debris(&self.keys, &cleaned) {
            return Err(TextRefusal::Debris);
        }
        // Items often come numbered, bulleted or quoted: ". Activity 2", "'Jazz'".
        let cleaned = cleaned
            .trim_start_matches(|c: char| !c.is_alphanumeric() && c != '(' && c != '¿' && c != '¡')
            .trim_end_matches(['\'', '`'])
            .to_string();
        if cleaned.is_empty() {
            return Err(TextRefusal::Empty);
        }
        if let Some(run) = self.copied_run(&cleaned) {
            return Err(TextRefusal::Copied(run));
        }
        if !self.cjk_language {
            if let Some(c) = cleaned.chars().find(|&c| is_cjk(c)) {
                return Err(TextRefusal::Script(c.to_string()));
            }
        }
        if let Some(bit) = glued(&cleaned) {
            return Err(TextRefusal::Glued(bit));
        }
        small_model_flaws(&cleaned, kind)?;
        self.in_language(&cleaned)?;
        // Counted before cleaning: the grammar stops at the bound, trailing space included.
        let was_cut = value.chars().count() as u64 >= max;
        let ended = match kind {
            _ if was_cut => end_cut(&cleaned, kind).ok_or(TextRefusal::Cut)?,
            // Prose the model closed mid-sentence ends at its last full one, or is closed
            // with a stop when it ends on a word that can end it.
            Kind::Prose if !cleaned.ends_with(is_sentence_end) => match last_sentence(&cleaned) {
                Some(s) => s,
                None => close_prose(&cleaned).ok_or(TextRefusal::Cut)?,
            },
            Kind::Line | Kind::Item | Kind::Outcome => unfinished_tail(&cleaned).unwrap_or(cleaned),
            Kind::Title | Kind::Prose => cleaned,
        };
        let ended = trim_separators(&ended);
        // Checked after the cut and the trim: a run-on item is often cut at its bound, and
        // "... pollinate the," hangs once its comma goes.
        let ended = match kind {
            Kind::Item | Kind::Outcome => {
                let ended = first_of_run_on(&ended).unwrap_or(ended);
                match hanging_end(&ended) {
                    Some(kept) => trim_separators(&kept.ok_or(TextRefusal::Cut)?),
                    None => ended,
                }
            }
            _ => ended,
        };
        if ended.is_empty() {
            return Err(TextRefusal::Cut);
        }
        Ok(ended)
    }

    /// What a refused text still offers a reader, with the refusal: a cut text ended at its
    /// last word with an ellipsis, another script kept as written; debris, copies, empty
    /// text and what small models write instead of text give nothing.
    pub fn best_effort(&self, value: &str, kind: Kind, max: u64) -> (String, Option<TextRefusal>) {
        match self.text(value, kind, max) {
            Ok(text) => (text, None),
            Err(TextRefusal::Cut) => (at_last_word(&clean(value)), Some(TextRefusal::Cut)),
            Err(r @ (TextRefusal::Script(_) | TextRefusal::Language { .. })) => {
                (clean(value), Some(r))
            }
            Err(TextRefusal::Glued(bit)) => {
                // The fragment taken off: "and2" → "and", "real-5-0" → "real", "light-h" →
                // "light".
                let mended = bit
                    .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                    .trim_end_matches(',');
                let mended = match mended.rsplit_once('-') {
                    Some((word, tail)) if tail.chars().count() == 1 => word,
                    _ => mended,
                };
                let text = clean(value).replacen(bit.as_str(), mended, 1);
                (text, Some(TextRefusal::Glued(bit)))
            }
            Err(r) => (String::new(), Some(r)),
        }
    }

    /// Refuses `text` when it is confidently written in another language than the
    /// syllabus's (short texts, names and terms pass: see `language::other_language`).
    pub fn in_language(&self, text: &str) -> Result<(), TextRefusal> {
        let Some(expected) = self.language.as_deref() else {
            return Ok(());
        };
        if self.trusted.contains(text) {
            return Ok(());
        }
        match crate::course::language::other_language(text, expected) {
            Some(found) => Err(TextRefusal::Language {
                found,
                expected: expected.to_string(),
            }),
            None => Ok(()),
        }
    }

    fn copied_run(&self, text: &str) -> Option<String> {
        let w = words(text);
        let long = w.windows(COPY_WORDS).find(|g| self.fixed.contains(*g));
        // A short text copied when most of it is one run of the instructions.
        let short = || {
            (SHORT_COPY_WORDS..COPY_WORDS.min(w.len() + 1))
                .rev()
                .filter(|&n| n * 2 > w.len())
                .find_map(|n| w.windows(n).find(|g| self.fixed.contains(*g)))
        };
        long.or_else(short).map(|g| g.join(" "))
    }
}

/// What small models write instead of text, refused whatever the language: a stutter, a
/// file name, the prompt's guidance; in titles and items the frame restated; in
/// objectives a question.
fn small_model_flaws(text: &str, kind: Kind) -> Result<(), TextRefusal> {
    if let Some(run) = stutter(text) {
        return Err(TextRefusal::Stutter(run));
    }
    if let Some(name) = machine_name(text) {
        return Err(TextRefusal::MachineName(name));
    }
    if is_guidance(text) {
        return Err(TextRefusal::Guidance);
    }
    if matches!(kind, Kind::Title | Kind::Item | Kind::Outcome) && restates_template(text) {
        return Err(TextRefusal::Template);
    }
    if kind == Kind::Outcome
        && (is_question(text) || is_bare_word(text) || is_label_behind_verb(text))
    {
        return Err(TextRefusal::Question);
    }
    Ok(())
}

/// Whitespace runs made one space, control characters removed, ends trimmed.
pub fn clean(value: &str) -> String {
    value
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` without the separators and spaces a cut or a model leaves at its end.
fn trim_separators(text: &str) -> String {
    text.trim_end_matches(|c: char| {
        matches!(c, ',' | ';' | ':' | '-' | '–' | '—' | '(') || c.is_whitespace()
    })
    .to_string()
}

#[cfg(test)]
mod tests;
