//! Schema debris: what a small model writes instead of text (a schema key, JSON
//! punctuation, a web address, nothing with letters).

use std::collections::HashSet;

/// Whether `text` is debris, given the schema's `keys` (lowercase).
pub(super) fn is_debris(keys: &HashSet<String>, text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    if !text.chars().any(char::is_alphabetic) {
        return true;
    }
    const JSONISH: [&str; 10] = [
        "{\"", "\"}", "\":", "\",", "[\"", "\"]", "]}", "}]", "\\", "</",
    ];
    if JSONISH.iter().any(|p| text.contains(p)) {
        return true;
    }
    // A small model's web addresses are invented: nothing a teacher can hand out.
    let lower = text.to_lowercase();
    if lower.contains("://") || lower.split_whitespace().any(|w| w.starts_with("www.")) {
        return true;
    }
    let brackets = |c: char| matches!(c, '[' | ']' | '{' | '}');
    let mut run = 0;
    for c in text.chars() {
        run = if brackets(c) { run + 1 } else { 0 };
        if run >= 2 {
            return true;
        }
    }
    let bare: String = text
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
        .replace(' ', "_");
    if keys.contains(&bare) {
        return true;
    }
    keys.iter()
        .any(|k| k.contains('_') && lower.contains(k.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_debris_is_refused() {
        let keys: HashSet<String> = ["learning_objectives", "topics", "audience", "summary"]
            .map(String::from)
            .into();
        for item in [
            "learning\\_objectives",
            "learning_objectives",
            "audience",
            " Audience: ",
            ",",
            "\\]}",
            "]]]]]]{}",
            "1.",
            "Understand tides\"]}",
            "{\"title\":\"x\"}",
            "Topics",
            "https://www.learningobjectives.org/modules/3/learning-objectives-item-8",
            "See www.wikimedia.org for the war",
        ] {
            assert!(is_debris(&keys, item), "{item}");
        }
        for item in [
            "Know your audience",
            "Summary writing in plain words",
            "Tides [optional]",
            "Web design with HTML: pages and links",
        ] {
            assert!(!is_debris(&keys, item), "{item}");
        }
    }
}
