//! What small models write in place of course text: a word or phrase stuttered, a file
//! name or identifier, the prompt's own length guidance, a learning objective written as
//! a question, an item cut off by a dangling clause.

use super::tokens::{is_cjk, is_number, words};

/// Times in a row a word or short phrase may appear before it is a stutter.
const STUTTER_RUN: usize = 3;
/// Longest phrase (in words) looked at for a stutter.
const STUTTER_WORDS: usize = 3;

/// Words that join the last items of a list: "wavelets, wavelets, and wavelets" is a stutter
/// all the same.
const JOINERS: [&str; 12] = [
    "and", "or", "und", "oder", "et", "ou", "y", "o", "e", "en", "og", "och",
];

/// The first word or phrase of up to three words written three or more times in a row, a
/// joining word allowed before each repeat ("educational educational educational",
/// "wavelets, wavelets, and wavelets"), if any.
pub fn stutter(text: &str) -> Option<String> {
    let w = words(text);
    for n in 1..=STUTTER_WORDS {
        for start in 0..w.len().saturating_sub(n) {
            let gram = &w[start..start + n];
            // Numbers repeat in lists of figures ("1 1 1" is rare but not a stutter of words).
            if gram.iter().all(|x| is_number(x)) {
                continue;
            }
            let (mut copies, mut at) = (1, start + n);
            loop {
                let skip = usize::from(w.get(at).is_some_and(|x| JOINERS.contains(&x.as_str())));
                match w.get(at + skip..at + skip + n) {
                    Some(next) if next == gram => (copies, at) = (copies + 1, at + skip + n),
                    _ => break,
                }
            }
            if copies >= STUTTER_RUN {
                return Some(gram.join(" "));
            }
        }
    }
    None
}

/// Extensions of files a model names instead of writing text.
const FILE_EXTENSIONS: [&str; 22] = [
    "md", "txt", "json", "html", "htm", "pdf", "docx", "doc", "csv", "xml", "yaml", "yml", "toml",
    "py", "ipynb", "png", "jpg", "gguf", "zip", "sh", "pptx", "xlsx",
];

/// A file name, path or machine identifier where text belongs ("modules1.md",
/// "learning-outcomes-12436142862506394-2.md", "src/notes.txt", a run of eight digits), if
/// `text` has one.
pub fn machine_name(text: &str) -> Option<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    for token in &tokens {
        let bare = token.trim_matches(|c: char| {
            !c.is_alphanumeric() && !matches!(c, '/' | '\\' | '_' | '.' | '-')
        });
        let bare = bare.trim_end_matches(['.', '-']);
        if bare.is_empty() {
            continue;
        }
        if long_digit_run(bare) || is_path(bare) {
            return Some(bare.to_string());
        }
        if let Some((name, ext)) = bare.rsplit_once('.') {
            let known = FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str());
            let named = !name.is_empty() && name.chars().any(char::is_alphanumeric);
            // A file named alone, or one whose name is machine-made (digits, '-', '_').
            let machine = name.contains(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
            if known && named && (tokens.len() == 1 || machine) {
                return Some(bare.to_string());
            }
        }
        // snake_case or kebab-case with digits standing alone for the whole text.
        let identifier = bare.contains('_')
            || (bare.matches('-').count() >= 2 && bare.contains(|c: char| c.is_ascii_digit()));
        if tokens.len() == 1 && identifier && bare.chars().any(char::is_alphabetic) {
            return Some(bare.to_string());
        }
    }
    None
}

/// Eight digits in a row, or six glued to letters or hyphens: an identifier, not a figure.
fn long_digit_run(token: &str) -> bool {
    let mut run = 0;
    let mut longest = 0;
    for c in token.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let glued = token.contains(|c: char| c.is_alphabetic() || c == '-' || c == '_');
    longest >= 8 || (longest >= 6 && glued)
}

/// A path: rooted ("/usr/share", "./notes", "~/x", "C:\x"), or folders down to a file
/// ("docs/module-1.md"). "and/or" and "input/output" are words.
fn is_path(token: &str) -> bool {
    let rooted = token.starts_with(['/', '\\'])
        || token.starts_with("./")
        || token.starts_with("~/")
        || token.get(1..3) == Some(":\\");
    let parts: Vec<&str> = token.split(['/', '\\']).collect();
    let to_file = parts.len() >= 2
        && parts.last().is_some_and(|p| {
            p.rsplit_once('.')
                .is_some_and(|(n, e)| !n.is_empty() && e.chars().all(char::is_alphabetic))
        });
    (rooted && token.chars().filter(|c| c.is_alphabetic()).count() >= 2) || to_file
}

/// Words that say how long something is, as the prompt's own guidance does.
const MEASURES: [&str; 14] = [
    "line",
    "lines",
    "sentence",
    "sentences",
    "word",
    "words",
    "paragraph",
    "paragraphs",
    "item",
    "items",
    "phrase",
    "phrases",
    "bullet",
    "bullets",
];
/// Words that count or qualify a measure ("at most 15", "a few", "two or three").
const COUNTS: [&str; 30] = [
    "a", "an", "one", "two", "three", "four", "five", "six", "few", "at", "most", "least", "or",
    "to", "each", "short", "brief", "single", "about", "up", "per", "no", "more", "than", "only",
    "max", "maximum", "minimum", "of", "in",
];

/// Whether `text`, or a part of it in brackets, is length guidance ("one line", "three
/// sentences", "(a few words each)") rather than content.
pub fn is_guidance(text: &str) -> bool {
    // Two words at least: "Lines" alone may be an art module's title.
    let measure_only = |t: &str| {
        let w = words(t);
        w.len() >= 2
            && w.iter().any(|x| MEASURES.contains(&x.as_str()))
            && w.iter().all(|x| {
                MEASURES.contains(&x.as_str()) || COUNTS.contains(&x.as_str()) || is_number(x)
            })
    };
    if measure_only(text) {
        return true;
    }
    text.split('(')
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(inside, _)| inside))
        .any(measure_only)
}

/// Words that open a question in English ("What is climate change?").
const QUESTION_WORDS: [&str; 18] = [
    "what", "how", "why", "when", "where", "who", "whom", "whose", "which", "is", "are", "do",
    "does", "did", "can", "could", "should", "would",
];

/// Whether `text` is a bare word where an objective belongs ("Identify", a verb copied from
/// a list): nothing a learner can show. Chinese, Japanese and Korean words are not split.
pub fn is_bare_word(text: &str) -> bool {
    words(text).len() < 2 && !text.chars().any(is_cjk)
}

/// Words after which an objective's "and" cannot be a second verb ("Argue and its
/// application").
const DETERMINERS: [&str; 7] = ["a", "an", "the", "its", "their", "his", "her"];

/// Whether `text` is a label behind its first word where an objective belongs: "Analyze of
/// the Caesar Cipher", "Use of sensors", "Argue and its application" (a model held to open
/// with a verb that wanted to write a noun).
pub fn is_label_behind_verb(text: &str) -> bool {
    let w = words(text);
    match w.get(1).map(String::as_str) {
        Some("of") => true,
        Some("and") => w.get(2).is_some_and(|d| DETERMINERS.contains(&d.as_str())),
        _ => false,
    }
}

/// Whether `text` is a question rather than something a learner can show.
pub fn is_question(text: &str) -> bool {
    let t = text.trim();
    if t.ends_with(['?', '？']) || t.starts_with('¿') {
        return true;
    }
    let w = words(t);
    w.first()
        .is_some_and(|f| QUESTION_WORDS.contains(&f.as_str()))
        && w.len() > 1
        // "How to read a map" and "Which ... " openers followed by a list are kept only
        // when they read as a statement: a second word that is a verb form of the question.
        && !matches!(w.get(1).map(String::as_str), Some("to"))
}

/// Words that open a clause left hanging at the end of an item ("..., when it was taken").
const SUBORDINATORS: [&str; 14] = [
    "when", "which", "where", "while", "because", "although", "since", "until", "if", "who",
    "whose", "whom", "that", "as",
];
/// Words an item never ends on ("Explain what a tide is" may end on "is"; "her" may be
/// an object).
const DANGLING: [&str; 18] = [
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
    "with", "its", "their",
];

/// A list item whose end was left hanging: ended at its last full clause ("... until 1923,
/// when it was taken" → "... until 1923"); `None` when it has no hanging end, `Some(None)`
/// when nothing whole is left.
pub fn hanging_end(text: &str) -> Option<Option<String>> {
    let trimmed = text.trim_end_matches(|c: char| !c.is_alphanumeric() && c != ')');
    let last = words(trimmed).pop()?;
    let (head, tail) = match trimmed.rsplit_once([',', ';', '—', '–']) {
        Some((h, t)) => (Some(h.trim_end()), t),
        None => (None, trimmed),
    };
    let tail_words = words(tail);
    // A possessive needs its noun: "... on marine's".
    let possessive = trimmed.ends_with("'s") || trimmed.ends_with("’s");
    let dangling = DANGLING.contains(&last.as_str()) || possessive;
    // A short clause opened by a subordinator after a comma and left without its end.
    let hanging_clause = head.is_some()
        && tail_words.len() <= 4
        && tail_words
            .first()
            .is_some_and(|f| SUBORDINATORS.contains(&f.as_str()))
        && !text.trim_end().ends_with(['.', '!', '?', ')']);
    if !dangling && !hanging_clause {
        return None;
    }
    // What is kept may hang in turn: "... by forensic evidence and, which" → nothing.
    match head.filter(|h| words(h).len() >= 3) {
        Some(h) => Some(hanging_end(h).unwrap_or_else(|| Some(h.to_string()))),
        None => Some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stutters_are_found() {
        let bad = "This module is designed to provide an educational educational educational \
                   educational educational educational educational.";
        assert_eq!(stutter(bad).as_deref(), Some("educational"));
        assert_eq!(
            stutter("learn the tides learn the tides learn the tides today").as_deref(),
            Some("learn the tides")
        );
        // The default model, "Introduction to Marine Biology", the README's first command.
        let listed = "Implement the theory of marine ecosystems in oceanography using \
                      computational modeling, including the use of wavelets, wavelets, and wavelets";
        assert_eq!(stutter(listed).as_deref(), Some("wavelets"));
        for good in [
            "Tides rise and fall, rise and fall again",
            "Very, very cold water",
            "Years 1 1 1 are counted",
            "Bora Bora",
            "Salt and pepper and salt water",
            "Fish, crabs and fish eggs",
        ] {
            assert_eq!(stutter(good), None, "{good}");
        }
    }

    #[test]
    fn file_names_paths_and_identifiers_are_found() {
        for bad in [
            "learning-outcomes-12436142862506394-2.md",
            "modules1.md",
            "Read modules1.md first",
            "See docs/module-2.md",
            "/usr/share/course",
            "learning_outcomes_3",
            "Reference 123456789 in the archive",
            "unit-3-part-2",
        ] {
            assert!(machine_name(bad).is_some(), "{bad}");
        }
        for good in [
            "Node.js and Vue.js basics",
            "Python 3.11 on a laptop",
            "Write a script hello.py that greets the class",
            "Input/output and/or storage",
            "CO2 and H2O in the carbon cycle",
            "The year 1923",
            "Population of 8,000,000 people",
            "Save the notes as index.html",
            "Web 2.0",
        ] {
            assert_eq!(machine_name(good), None, "{good}");
        }
    }

    #[test]
    fn the_prompts_length_guidance_is_not_content() {
        for bad in [
            "one line",
            "three sentences",
            "one sentence",
            "a few words each",
            "2 or 3 sentences",
            "At most 15 words.",
            "Marine biology students (one line)",
        ] {
            assert!(is_guidance(bad), "{bad}");
        }
        for good in [
            "Write one sentence about each tide",
            "Line dancing",
            "A few key words of Spanish",
            "Students aged 14 to 16 (no prior study)",
            "Each learner writes three lines of verse",
            "Lines",
        ] {
            assert!(!is_guidance(good), "{good}");
        }
    }

    #[test]
    fn objectives_written_as_questions_are_found() {
        for bad in [
            "What is climate change?",
            "What is the Ottoman Empire's history? How did it begin",
            "How do tides form",
            "¿Qué es el clima?",
            "海洋是什么？",
        ] {
            assert!(is_question(bad), "{bad}");
        }
        for good in [
            "Explain what climate change is",
            "Identify how tides form",
            "How to read a tide table",
            "Compare reef and kelp ecosystems",
        ] {
            assert!(!is_question(good), "{good}");
        }
    }

    #[test]
    fn labels_behind_a_verb_are_found() {
        for bad in [
            "Analyze of the Caesar Cipher algorithm",
            "Argue and its application in forensic science",
            "Use of sensors in robots",
        ] {
            assert!(is_label_behind_verb(bad), "{bad}");
        }
        for good in [
            "Argue and interpret evidence to make informed decisions",
            "Identify and describe the parts of a hive",
            "Use sensors to measure distance",
            "Explain the use of sensors",
        ] {
            assert!(!is_label_behind_verb(good), "{good}");
        }
    }

    #[test]
    fn items_left_hanging_end_at_their_last_clause() {
        assert_eq!(
            hanging_end("Trace the empire's borders from 1453 until 1923, when it was taken"),
            Some(Some(
                "Trace the empire's borders from 1453 until 1923".into()
            ))
        );
        assert_eq!(
            hanging_end("Compare the reef zones, then map the"),
            Some(Some("Compare the reef zones".into()))
        );
        assert_eq!(hanging_end("Map the"), Some(None));
        assert_eq!(
            hanging_end("Assess the impact of pollution, then on marine's"),
            Some(Some("Assess the impact of pollution".into()))
        );
        assert_eq!(
            hanging_end("The impact of marine pollution on marine's"),
            Some(None)
        );
        // What is kept must not hang in turn.
        assert_eq!(
            hanging_end("The collection of evidence required by forensic evidence and, which"),
            Some(None)
        );
        assert_eq!(
            hanging_end("Map the reef zones, then the, which"),
            Some(Some("Map the reef zones".into()))
        );
        assert!(is_bare_word("Identify") && is_bare_word("explain."));
        assert!(!is_bare_word("Name zones") && !is_bare_word("识别海洋生物"));
        for good in [
            "Explain what a tide is",
            "Describe what happened to her",
            "Compare two maps, noting which is older",
            "Identify the causes of the war",
            "Explain why tides rise, which matters to sailors.",
            "Sing in a choir",
        ] {
            assert_eq!(hanging_end(good), None, "{good}");
        }
    }
}
