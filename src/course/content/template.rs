//! Items that restate the course's own frame instead of saying something: "This module is
//! designed to ...", "Objective 2", "item1", "A-1,A-3,A-5".

use super::tokens::{is_number, words};

/// How a title or list item restates the course's own frame instead of saying something:
/// "This module is designed to ...", "The course is designed to ...", "Objective 2".
pub fn restates_template(text: &str) -> bool {
    let w = words(text);
    let first: Vec<&str> = w.iter().take(4).map(String::as_str).collect();
    let frame = ["module", "course", "unit", "lesson", "class"];
    let opens_with_frame = match first.as_slice() {
        ["this" | "the", noun, ..] if frame.contains(noun) => {
            // "The course of the river" is content; "the course is/will/aims" is the frame.
            matches!(
                first.get(2),
                Some(&("is" | "will" | "aims" | "covers" | "provides" | "introduces" | "designed"))
            ) || first[0] == "this"
        }
        ["in", "this", noun, ..] => frame.contains(noun),
        _ => false,
    };
    let designed = text.to_lowercase().contains("is designed to provide");
    // A label that names the frame: "Learning Outcomes of Module 4: ...".
    let labelled = text.split_once(':').is_some_and(|(label, _)| {
        let l = words(label);
        let numbered_module = l
            .windows(2)
            .any(|p| frame.contains(&p[0].as_str()) && is_number(&p[1]));
        let names_outcomes = l.windows(2).any(|p| {
            p[0] == "learning"
                && matches!(
                    p[1].as_str(),
                    "outcomes" | "objectives" | "outcome" | "objective"
                )
        });
        numbered_module || names_outcomes
    });
    // "item1": a placeholder with its number glued on reads as "item 1".
    let mut w: Vec<&str> = w.iter().flat_map(|x| split_number(x)).collect();
    // "A-1,A-3,A-5": codes, letters and numbers with nothing said.
    let codes = w.len() >= 2
        && w.iter().all(|x| x.chars().count() == 1 || is_number(x))
        && w.iter().any(|x| is_number(x));
    if w.first() == Some(&"learning") {
        w.remove(0);
    }
    let placeholder = match w.as_slice() {
        [one] | [one, _] => {
            let placeholders = [
                "objective",
                "objectives",
                "outcome",
                "outcomes",
                "topic",
                "activity",
                "prerequisite",
                "module",
                "item",
                "aim",
                "goal",
                "task",
                "step",
            ];
            placeholders.contains(one)
                && w.last()
                    .is_some_and(|l| l == one || is_number(l) || placeholders.contains(l))
        }
        _ => false,
    };
    opens_with_frame || designed || labelled || placeholder || codes
}

/// A word of letters then digits ("item1") as its two parts; any other word as it is.
fn split_number(word: &str) -> Vec<&str> {
    match word.find(|c: char| c.is_ascii_digit()) {
        Some(i) if i > 0 && is_number(&word[i..]) => vec![&word[..i], &word[i..]],
        _ => vec![word],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restating_the_template_is_found() {
        for bad in [
            "The course is designed to Provide a Comprehensive Course",
            "This module is designed to provide an overview",
            "This module covers the tides",
            "In this module, learners study reefs",
            "Learning objective 2",
            "Topic 3",
            "Objectives",
            "Learning Outcomes of Module 4: Exploring the implications of pollution",
            "Module 2: Tides",
            // What the test model wrote as items.
            "item1",
            "Aim-1",
            "A-1,A-3,A-5",
        ] {
            assert!(restates_template(bad), "{bad}");
        }
        for good in [
            "The course of the Nile",
            "Explain how a module of a space station docks",
            "Objective lenses in microscopes",
            "Topics in number theory",
            "Design a course for a ship",
            "Activity: map the reef",
            "Vitamin B12 and C",
            "World War 2",
            "Lesson plans for week one",
            "Python3 basics",
            "COVID-19",
            "Unit 1",
            "Week 3",
        ] {
            assert!(!restates_template(good), "{good}");
        }
    }
}
