//! The course title: the model's when it names the topic, else the topic itself, or for a
//! topic longer than a title may be, a title made from its first words. A language's name
//! that the topic does not carry never stays in it ("Medieval History in Afrikaans").

use std::collections::HashSet;

use super::content::words;

/// Longest course title, in characters (the outline's `title` bound).
pub const TITLE_CHARS: usize = 70;

/// Words a title does not end on.
const DANGLING: [&str; 24] = [
    "a", "an", "and", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
    "with", "de", "la", "el", "y", "et", "le", "und", "der", "die",
];

/// Words of four letters or more: they carry a topic.
fn significant(words: &[String]) -> Vec<&String> {
    words.iter().filter(|w| w.chars().count() > 3).collect()
}

/// The course title for `topic` from the model's `model_title` (empty when unusable).
pub fn course_title(topic: &str, model_title: &str) -> String {
    let model_title = without_language_name(model_title, topic);
    let t = words(topic);
    let m: HashSet<String> = words(&model_title).into_iter().collect();
    let long = topic.chars().count() > TITLE_CHARS;
    let named = if long {
        // A long topic cannot fit: most of the title's own words must come from it.
        let own = significant(&words(&model_title)).len();
        let from_topic: HashSet<&String> = significant(&t).into_iter().collect();
        let shared = m.iter().filter(|w| from_topic.contains(w)).count();
        own > 0 && shared * 5 >= own * 3
    } else if significant(&t).is_empty() {
        t.iter().all(|w| m.contains(w))
    } else {
        // Two thirds of the topic's words ("Marine Biology: Life in the Oceans" names
        // "Introduction to Marine Biology").
        let sig = significant(&t);
        let found = sig.iter().filter(|w| m.contains(**w)).count();
        found * 3 >= sig.len() * 2
    };
    if named && !model_title.trim().is_empty() && model_title.chars().count() <= TITLE_CHARS {
        model_title
    } else if !long {
        topic.to_string()
    } else {
        short_title(topic)
    }
}

/// A title from a long topic: its first sentence, else its first words up to the limit,
/// ended on a word that carries meaning.
pub fn short_title(topic: &str) -> String {
    let first = topic
        .split(['.', '!', '?', ';', '\n', '。'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or(topic);
    let mut kept: Vec<&str> = Vec::new();
    let mut length = 0;
    for word in first.split_whitespace() {
        let add = word.chars().count() + usize::from(!kept.is_empty());
        if length + add > TITLE_CHARS {
            break;
        }
        length += add;
        kept.push(word);
    }
    if kept.is_empty() {
        return first.chars().take(TITLE_CHARS).collect();
    }
    while kept.len() > 1 {
        let last = kept[kept.len() - 1]
            .trim_end_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if last.is_empty() || DANGLING.contains(&last.as_str()) {
            kept.pop();
        } else {
            break;
        }
    }
    let title = kept.join(" ");
    title
        .trim_end_matches(|c: char| !c.is_alphanumeric() && c != ')')
        .to_string()
}

/// `title` without a language's name the topic does not carry where a title tags its
/// language: "… in Afrikaans", "… (English)", "… - Spanish" at the end, "Bokmal: …" at the
/// start. A name inside the title ("Economics in Korean Markets") stays.
pub fn without_language_name(title: &str, topic: &str) -> String {
    let in_topic = words(topic);
    let is_name = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        super::language::language_names().contains(&w.as_str()) && !in_topic.contains(&w)
    };
    let mut tokens: Vec<&str> = title.split_whitespace().collect();
    // "Bokmal: ...", "Spanish - ...": a name that opens the title with a separator.
    if let Some(first) = tokens.first() {
        let tagged =
            first.ends_with(':') || tokens.get(1).is_some_and(|t| matches!(*t, "-" | "–" | ":"));
        if tagged && is_name(first) {
            tokens.remove(0);
            if tokens
                .first()
                .is_some_and(|t| matches!(*t, "-" | "–" | ":"))
            {
                tokens.remove(0);
            }
        }
    }
    // "... in Afrikaans", "... (English)", "... - Spanish": a name that closes it.
    if let Some(last) = tokens.last().copied() {
        let bracketed = last.starts_with('(') && last.ends_with(')');
        if is_name(last) && (bracketed || tokens.len() >= 2) {
            let before = tokens
                .len()
                .checked_sub(2)
                .map(|i| tokens[i].to_lowercase());
            let tie = matches!(
                before.as_deref(),
                Some("in" | "en" | "auf" | "em" | "-" | "–")
            );
            if bracketed || tie {
                tokens.pop();
                if tie {
                    tokens.pop();
                }
            }
        }
    }
    tokens
        .join(" ")
        .trim_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '–' | ','))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_title_keeps_the_topic() {
        assert_eq!(
            course_title(
                "Introduction to Marine Biology",
                "Marine Biology: Life in the Oceans"
            ),
            "Marine Biology: Life in the Oceans"
        );
        assert_eq!(
            course_title("Introduction to Marine Biology", "Photography Basics"),
            "Introduction to Marine Biology"
        );
        assert_eq!(
            course_title("History of Jazz", "A History of Jazz"),
            "A History of Jazz"
        );
        assert_eq!(course_title("Jazz", "Swing and Bebop"), "Jazz");
        assert_eq!(
            course_title("Historia del jazz", "Historia del Jazz en América"),
            "Historia del Jazz en América"
        );
    }

    #[test]
    fn a_language_name_never_enters_the_title() {
        for (topic, model, expected) in [
            (
                "Medieval European History",
                "Medieval European History in Afrikaans",
                "Medieval European History",
            ),
            (
                "Beginner Watercolor Painting",
                "Bokmal: Beginner Watercolor Painting",
                "Beginner Watercolor Painting",
            ),
            (
                "Spanish for Travelers",
                "Spanish for Travelers",
                "Spanish for Travelers",
            ),
            (
                "History of Jazz",
                "History of Jazz (English)",
                "History of Jazz",
            ),
        ] {
            assert_eq!(course_title(topic, model), expected, "{model}");
        }
    }

    #[test]
    fn a_long_topic_gives_a_title_within_the_limit() {
        let topic = "A practical introduction to the history, science and everyday uses of \
            renewable energy for secondary school students, with field trips to local solar \
            and wind installations, hands-on experiments with small generators, and a final \
            project in which each group designs an energy plan for their own school building";
        assert!(topic.chars().count() > 300);
        let t = course_title(topic, "");
        assert!(t.chars().count() <= TITLE_CHARS, "{t}");
        assert!(
            t.starts_with("A practical introduction to the history"),
            "{t}"
        );
        assert!(!t.ends_with(" and") && !t.ends_with(','), "{t}");
        let good = "Renewable Energy in Everyday School Life";
        assert_eq!(
            course_title(topic, good),
            good,
            "a short title drawn from the topic"
        );
        assert_eq!(course_title(topic, "Photography Basics"), t);
        assert_eq!(short_title("Jazz. Its roots and its sounds"), "Jazz");
    }
}
