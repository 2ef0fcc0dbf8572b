//! Where a text cut by its length bound may end: its last full sentence, else (for a line)
//! its last clause; never mid-word.

/// How a text may be ended when its length bound cut it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sentences: end at the last full sentence.
    Prose,
    /// A line: end at the last full sentence or clause.
    Line,
    /// A list item: a line that does not restate the course's frame or hang at its end.
    Item,
    /// A learning objective or outcome: an item a learner can show, not a question.
    Outcome,
    /// A title: never trimmed; regenerated when cut.
    Title,
}

/// A cut text ended at its last whole word, with an ellipsis that shows the cut.
pub(super) fn at_last_word(text: &str) -> String {
    let kept = match text.rfind(char::is_whitespace) {
        Some(i) if i > 0 => &text[..i],
        _ => text,
    };
    let kept = kept.trim_end_matches(|c: char| !c.is_alphanumeric());
    if kept.is_empty() {
        String::new()
    } else {
        format!("{kept}…")
    }
}

pub(super) fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
}

/// Whether `n` of `total` characters is enough of a text to keep: two fifths, and a few words.
fn enough(n: usize, total: usize) -> bool {
    n * 5 >= total * 2 && n >= 12
}

/// The text up to its last full sentence (a stop followed by a space), when that keeps enough.
pub(super) fn last_sentence(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let i = (0..chars.len().saturating_sub(1))
        .rev()
        .find(|&i| is_sentence_end(chars[i]) && (chars[i + 1] == ' ' || !chars[i].is_ascii()))?;
    enough(i + 1, chars.len()).then(|| chars[..=i].iter().collect())
}

/// Words that open a sentence as its subject ("This module covers ...").
const SUBJECTS: [&str; 11] = [
    "this", "these", "that", "those", "it", "they", "we", "you", "he", "she", "there",
];

/// A line or item that goes on past its last full sentence with a sentence of its own left
/// without an end ("Describe the biology of marine ecosystems. This module cover"): its full
/// sentences, when they keep enough. `None` otherwise: "Quiz. Ten questions" is a label.
pub(super) fn unfinished_tail(text: &str) -> Option<String> {
    if text.ends_with(is_sentence_end) {
        return None;
    }
    let kept = last_sentence(text)?;
    let tail = text[kept.len()..].trim_start();
    let first = tail
        .split(|c: char| !c.is_alphanumeric())
        .next()?
        .to_lowercase();
    SUBJECTS.contains(&first.as_str()).then_some(kept)
}

/// An item that runs several into one, each after a comma with the same first word
/// ("Explain the biology of marine ecosystems, Explain the biology of marine organisms"):
/// the first of them.
pub(super) fn first_of_run_on(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?;
    if !first.starts_with(char::is_uppercase) || first.len() < 3 {
        return None;
    }
    let at = text.find(&format!(", {first} "))?;
    Some(text[..at].to_string())
}

/// A text cut at its bound, ended at its last full sentence (or, for a line, clause);
/// `None` when too little would be left.
pub(super) fn end_cut(text: &str, kind: Kind) -> Option<String> {
    if text.ends_with(is_sentence_end) {
        return Some(text.to_string());
    }
    if kind == Kind::Title {
        return None;
    }
    if let Some(s) = last_sentence(text) {
        return Some(s);
    }
    // No full sentence: end at the last clause, a full stop added to prose.
    let kept = before_last_clause(text, &[',', ';', ':', '–', '—', '(', '，', '；'])?;
    Some(match kind {
        Kind::Prose => format!("{kept}."),
        _ => kept,
    })
}

/// Words a sentence does not end on.
const DANGLING: [&str; 16] = [
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
    "with",
];

/// Prose closed without a stop: a stop added when its last word can end a sentence
/// ("A short quiz" → "A short quiz."); else ended at its last clause, when that keeps
/// enough; `None` when neither reads as whole.
pub(super) fn close_prose(text: &str) -> Option<String> {
    let text = text.trim_end_matches(|c: char| !c.is_alphanumeric() && c != ')');
    let ends_badly = ends_on_dangling(text) || last_word(text).chars().all(|c| c.is_ascii_digit());
    if !ends_badly && !text.is_empty() {
        return Some(format!("{text}."));
    }
    let kept = before_last_clause(text, &[',', ';', ':', '，', '；'])?;
    Some(format!("{kept}."))
}

/// `text` up to its last clause mark of `marks`, trimmed, when that keeps enough of it.
fn before_last_clause(text: &str, marks: &[char]) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let clause = (0..chars.len())
        .rev()
        .find(|&i| marks.contains(&chars[i]))
        .filter(|&i| enough(i, chars.len()))?;
    let kept: String = chars[..clause].iter().collect();
    let kept = kept.trim_end();
    // A clause that ends on "the" or "and" is no end either ("... pollinate the,").
    (!ends_on_dangling(kept)).then(|| kept.to_string())
}

/// The last whitespace-separated word of `text`, lowercased.
fn last_word(text: &str) -> String {
    text.rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .to_lowercase()
}

/// Whether `text` ends on a word a sentence does not end on ("the", "and").
fn ends_on_dangling(text: &str) -> bool {
    DANGLING.contains(&last_word(text).as_str())
}
