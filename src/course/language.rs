//! The language a syllabus is written in, and whether a text is written in it.
//!
//! `--language` when given; else the topic's own language when the evidence is strong;
//! else English, with the reason recorded. Detection is lingua's (made for short text)
//! over the ten languages the catalog's models write best: a topic switches away from English
//! only when another language leads English by a wide margin (a wrong switch writes the
//! whole course in a language nobody asked for; keeping English at worst asks the teacher
//! to pass `--language`).

use std::sync::OnceLock;

use lingua::Language as L;
use lingua::{LanguageDetector, LanguageDetectorBuilder};
use serde::Serialize;

/// The language used when nothing else decides.
pub const DEFAULT_LANGUAGE: &str = "English";

/// Languages told apart: those the catalog's models (qwen2, llama3.2) write well.
const LANGUAGES: [L; 10] = [
    L::English,
    L::Spanish,
    L::French,
    L::German,
    L::Italian,
    L::Portuguese,
    L::Russian,
    L::Chinese,
    L::Japanese,
    L::Korean,
];

/// Least confidence for a topic's language with accents but no word of it confirmed.
const SWITCH_CONFIDENCE: f64 = 0.6;
/// Least lead of that language over English.
const SWITCH_MARGIN: f64 = 0.3;
/// Least lead when a word of the language confirms it.
const CONFIRMED_MARGIN: f64 = 0.1;
/// Least confidence for a language of its own script (Cyrillic, Chinese, Japanese, Korean).
const SCRIPT_CONFIDENCE: f64 = 0.5;

/// Small words that mark a language and are not English words: lingua alone is not to be
/// trusted on a few ASCII words ("Renaissance Art" scores French 0.90).
const FUNCTION_WORDS: [(L, &[&str]); 5] = [
    (
        L::Spanish,
        &[
            "de", "la", "el", "los", "las", "del", "y", "en", "para", "con", "una", "un", "al",
            "sobre",
        ],
    ),
    (
        L::French,
        &[
            "le", "la", "les", "des", "du", "de", "et", "en", "pour", "dans", "aux", "au", "une",
            "sur", "avec",
        ],
    ),
    (
        L::German,
        &[
            "der", "des", "dem", "den", "und", "mit", "von", "zur", "zum", "im", "ein", "eine",
            "einer", "das", "fur",
        ],
    ),
    (
        L::Italian,
        &[
            "il", "lo", "la", "gli", "le", "di", "del", "della", "dei", "delle", "e", "per", "con",
            "una", "nel", "nella", "alla",
        ],
    ),
    (
        L::Portuguese,
        &[
            "o", "os", "de", "do", "da", "dos", "das", "e", "em", "para", "com", "um", "uma", "na",
        ],
    ),
];

/// Whether a word of `topic` marks `lang`.
fn confirmed(topic: &str, lang: L) -> bool {
    let Some((_, marks)) = FUNCTION_WORDS.iter().find(|(l, _)| *l == lang) else {
        return false;
    };
    topic
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| marks.contains(&w.to_lowercase().as_str()))
}

/// Which language a run writes in, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageChoice {
    /// Language name as the prompt says it, e.g. "Spanish".
    pub name: String,
    /// "flag", "detected" or "default".
    pub source: &'static str,
    /// What the detector said, when it ran, and why English was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn detector() -> &'static LanguageDetector {
    static DETECTOR: OnceLock<LanguageDetector> = OnceLock::new();
    DETECTOR.get_or_init(|| LanguageDetectorBuilder::from_languages(&LANGUAGES).build())
}

/// The detector's confidences for `text`, highest first.
fn confidences(text: &str) -> Vec<(L, f64)> {
    detector().compute_language_confidence_values(text)
}

fn confidence_of(values: &[(L, f64)], lang: L) -> f64 {
    values
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or(0.0, |(_, c)| *c)
}

/// The language a name names ("Spanish", "spanish", "Español" are not all known: English
/// names only), among those told apart.
fn known(name: &str) -> Option<L> {
    let name = name.trim();
    LANGUAGES
        .iter()
        .copied()
        .find(|l| l.to_string().eq_ignore_ascii_case(name))
}

/// `flag` when given, else the topic's language when the evidence is strong, else English.
pub fn choose(flag: Option<&str>, topic: &str) -> LanguageChoice {
    if let Some(flag) = flag {
        return LanguageChoice {
            name: flag.to_string(),
            source: "flag",
            detail: None,
        };
    }
    let values = confidences(topic);
    let Some(&(top, c)) = values.first() else {
        return LanguageChoice {
            name: DEFAULT_LANGUAGE.into(),
            source: "default",
            detail: Some("no letters to detect a language from".into()),
        };
    };
    let english = confidence_of(&values, L::English);
    let mut detail = format!("lingua: {top} {c:.2}, English {english:.2}");
    let lead = c - english;
    let latin = topic
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(|c| c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(&c));
    let accented = topic.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
    let strong = match (latin, accented) {
        // Its own script decides (Cyrillic, Chinese, Japanese, Korean).
        (false, _) => c >= SCRIPT_CONFIDENCE,
        // A word of the language confirms it, or accents and a wide lead do.
        (true, _) if confirmed(topic, top) => lead >= CONFIRMED_MARGIN,
        (true, true) => c >= SWITCH_CONFIDENCE && lead >= SWITCH_MARGIN,
        (true, false) => false,
    };
    if top != L::English && strong {
        return LanguageChoice {
            name: top.to_string(),
            source: "detected",
            detail: Some(detail),
        };
    }
    if top != L::English {
        detail.push_str("; kept English: the evidence for another language is weak");
    }
    LanguageChoice {
        name: DEFAULT_LANGUAGE.into(),
        source: "default",
        detail: Some(detail),
    }
}

/// Letters a text needs before its language is judged (shorter texts are names, terms).
const JUDGED_LETTERS: usize = 16;
/// A text is in another language when that language has this confidence...
const OTHER_CONFIDENCE: f64 = 0.8;
/// ...and the expected one at most this.
const EXPECTED_AT_MOST: f64 = 0.1;

/// The language `text` is written in when it is confidently not `language` (one of those
/// told apart), else `None`: short texts, names and mixed texts pass.
pub fn other_language(text: &str, language: &str) -> Option<String> {
    let expected = known(language)?;
    if text.chars().filter(|c| c.is_alphabetic()).count() < JUDGED_LETTERS {
        return None;
    }
    let values = confidences(text);
    let &(top, c) = values.first()?;
    let wrong = top != expected
        && c >= OTHER_CONFIDENCE
        && confidence_of(&values, expected) <= EXPECTED_AT_MOST;
    wrong.then(|| top.to_string())
}

/// Every name of the languages told apart, in English and in the language itself, as a
/// title might carry them ("Bokmål", "in Spanish", "(Español)"), lowercase.
pub fn language_names() -> &'static [&'static str] {
    &[
        "english",
        "spanish",
        "español",
        "french",
        "français",
        "german",
        "deutsch",
        "italian",
        "italiano",
        "portuguese",
        "português",
        "dutch",
        "nederlands",
        "polish",
        "polski",
        "russian",
        "русский",
        "chinese",
        "中文",
        "japanese",
        "日本語",
        "korean",
        "한국어",
        "afrikaans",
        "bokmål",
        "bokmal",
        "norwegian",
        "danish",
        "swedish",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_topics_stay_english_and_others_are_told_apart() {
        for topic in [
            "Introduction to Marine Biology",
            "History of Jazz",
            "Urban Gardening",
            "Computer Networks",
            "Renaissance Art",
            "Algebra",
            "Beginner Watercolor Painting",
            "Medieval European History",
            "Introduction to Economics",
            "Film History",
            "Sustainable Farming",
            "Spanish for Travelers",
            "Robotics for Kids",
            "Geology of Volcanoes",
            "Music Theory",
            "Ancient Egypt",
            "First Aid",
            "Public Speaking",
            "Creative Writing",
            "Statistics for Social Sciences",
            "Renaissance Art",
            "Ancient Egypt",
            "Human Anatomy",
            "Geometry",
            "Piano",
            "Origami",
            "Calculus II",
            "German Expressionism",
            "Italian Cooking",
            "French Revolution",
            "World War I",
            "Opera",
            "Tango",
        ] {
            let c = choose(None, topic);
            assert_eq!(c.name, "English", "{topic}: {:?}", c.detail);
        }
        for (topic, expected) in [
            ("Historia de la música latinoamericana", "Spanish"),
            ("Introducción a la biología marina", "Spanish"),
            ("Introducción a la Economía", "Spanish"),
            ("Einführung in die Meeresbiologie für Anfänger", "German"),
            ("Geschichte des Jazz", "German"),
            ("Introduction à la biologie marine", "French"),
            ("Storia della musica", "Italian"),
            ("Historia de la musica", "Spanish"),
            ("Introduction à la philosophie", "French"),
            ("Grundlagen der Chemie", "German"),
            ("海洋生物学入门", "Chinese"),
            ("Введение в астрономию", "Russian"),
        ] {
            let c = choose(None, topic);
            assert_eq!(c.name, expected, "{topic}: {:?}", c.detail);
        }
    }

    #[test]
    fn the_flag_wins_and_the_choice_says_why() {
        let c = choose(Some("French"), "Historia de la música latinoamericana");
        assert_eq!((c.name.as_str(), c.source), ("French", "flag"));
        let c = choose(None, "Historia de la música latinoamericana");
        assert_eq!(c.source, "detected");
        assert!(c.detail.unwrap().contains("lingua: Spanish"));
        assert_eq!(choose(None, "History of Jazz").source, "default");
    }

    #[test]
    fn a_text_in_another_language_is_found_and_short_ones_pass() {
        let english = "Learners compare the main ideas of supply and demand in markets.";
        assert_eq!(
            other_language(english, "Spanish").as_deref(),
            Some("English")
        );
        assert_eq!(other_language(english, "English"), None);
        let spanish = "Los estudiantes comparan las ideas principales de la oferta y la demanda.";
        assert_eq!(other_language(spanish, "Spanish"), None);
        assert_eq!(
            other_language("Marketing", "Spanish"),
            None,
            "too short to judge"
        );
        assert_eq!(
            other_language(english, "Klingon"),
            None,
            "a language not told apart"
        );
    }
}
