//! The language a syllabus is written in: `--language` when given; else the topic's own
//! language when it can be told (whatlang, on the topic text); else English.

use serde::Serialize;
use whatlang::{Lang, Script};

/// The language used when nothing else decides.
pub const DEFAULT_LANGUAGE: &str = "English";
/// Least confidence for a language told apart within the Latin script from letters all in
/// ASCII: short English topics score up to ~0.17 for other languages ("Computer Networks":
/// French 0.17), short topics in those languages mostly above 0.2.
const LATIN_CONFIDENCE: f64 = 0.2;

/// Which language a run writes in, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageChoice {
    /// Language name as the prompt says it, e.g. "Spanish".
    pub name: String,
    /// "flag", "detected" or "default".
    pub source: &'static str,
    /// What the detector said, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Name of a detected language, as a prompt would say it.
fn name(lang: Lang) -> &'static str {
    match lang {
        Lang::Cmn => "Chinese",
        other => other.eng_name(),
    }
}

/// `flag` when given, else the topic's language when told with confidence, else English.
pub fn choose(flag: Option<&str>, topic: &str) -> LanguageChoice {
    if let Some(flag) = flag {
        return LanguageChoice {
            name: flag.to_string(),
            source: "flag",
            detail: None,
        };
    }
    let fallback = |detail: Option<String>| LanguageChoice {
        name: DEFAULT_LANGUAGE.to_string(),
        source: "default",
        detail,
    };
    let Some(info) = whatlang::detect(topic) else {
        return fallback(None);
    };
    let detail = format!(
        "whatlang: {} ({} script), confidence {:.2}",
        info.lang().eng_name(),
        info.script().name(),
        info.confidence()
    );
    // A script used by few languages decides by itself; Latin needs confidence, or letters
    // English does not use ("música", "Einführung").
    let accented = topic.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
    let sure = info.script() != Script::Latin
        || info.confidence() >= LATIN_CONFIDENCE
        || (accented && info.confidence() > 0.0);
    if sure && info.lang() != Lang::Eng {
        LanguageChoice {
            name: name(info.lang()).to_string(),
            source: "detected",
            detail: Some(detail),
        }
    } else {
        fallback(Some(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_in_other_languages_are_told_apart() {
        // Short English topics that look like other languages stay English.
        for (topic, expected) in [
            ("Introduction to Marine Biology", "English"),
            ("History of Jazz", "English"),
            ("Urban Gardening", "English"),
            ("Computer Networks", "English"),
            ("Renaissance Art", "English"),
            ("Algebra", "English"),
            ("Historia de la música latinoamericana", "Spanish"),
            ("Introducción a la biología marina", "Spanish"),
            ("Einführung in die Meeresbiologie für Anfänger", "German"),
            ("Geschichte des Jazz", "German"),
            ("Introduction à la biologie marine", "French"),
            ("Storia della musica", "Italian"),
            ("海洋生物学入门", "Chinese"),
            ("Введение в астрономию", "Russian"),
        ] {
            assert_eq!(choose(None, topic).name, expected, "{topic}");
        }
    }

    #[test]
    fn the_flag_wins_and_the_choice_says_why() {
        let c = choose(Some("French"), "Historia de la música latinoamericana");
        assert_eq!((c.name.as_str(), c.source), ("French", "flag"));
        let c = choose(None, "Historia de la música latinoamericana");
        assert_eq!(c.source, "detected");
        assert!(c.detail.unwrap().contains("confidence"));
        assert_eq!(choose(None, "History of Jazz").source, "default");
    }
}
