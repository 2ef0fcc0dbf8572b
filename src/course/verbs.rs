//! Verbs that open a learning objective: something a learner can be seen to do (Bloom's
//! lists, and the verbs teachers use beside them). In English the grammar lets an objective
//! or outcome open with one of them and nothing else: small models otherwise write labels
//! ("Beekeeping Basics: Selecting the right tools") or questions where an objective belongs.

/// English objective verbs, American and British spellings; never "understand", "know" or
/// "learn", which nobody can observe, nor "argue", which a model held to a verb took for
/// "Ar..." nouns ("Argue Comparison").
pub const ENGLISH: &[&str] = &[
    "Analyse",
    "Analyze",
    "Apply",
    "Assess",
    "Build",
    "Calculate",
    "Categorise",
    "Categorize",
    "Choose",
    "Classify",
    "Collect",
    "Compare",
    "Compose",
    "Conduct",
    "Construct",
    "Contrast",
    "Create",
    "Critique",
    "Debate",
    "Decode",
    "Define",
    "Demonstrate",
    "Describe",
    "Design",
    "Determine",
    "Develop",
    "Diagnose",
    "Differentiate",
    "Discuss",
    "Distinguish",
    "Draw",
    "Estimate",
    "Evaluate",
    "Examine",
    "Explain",
    "Formulate",
    "Identify",
    "Illustrate",
    "Implement",
    "Interpret",
    "Investigate",
    "Justify",
    "Label",
    "List",
    "Locate",
    "Measure",
    "Name",
    "Operate",
    "Organise",
    "Organize",
    "Outline",
    "Perform",
    "Plan",
    "Practise",
    "Practice",
    "Predict",
    "Prepare",
    "Present",
    "Produce",
    "Recall",
    "Recognise",
    "Recognize",
    "Record",
    "Relate",
    "Report",
    "Select",
    "Sketch",
    "Solve",
    "Sort",
    "Summarise",
    "Summarize",
    "Test",
    "Trace",
    "Translate",
    "Use",
    "Write",
];

/// The verbs an objective in `language` must open with, where that language puts the verb
/// first and a list is known; `None` leaves the opening free.
pub fn opening(language: &str) -> Option<&'static [&'static str]> {
    language.eq_ignore_ascii_case("English").then_some(ENGLISH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_objectives_open_with_an_observable_verb() {
        assert_eq!(opening("English"), Some(ENGLISH));
        assert_eq!(opening("German"), None);
        for verb in ENGLISH {
            assert!(verb.chars().all(|c| c.is_ascii_alphabetic()), "{verb}");
            assert!(verb.starts_with(|c: char| c.is_ascii_uppercase()), "{verb}");
        }
        for unseen in ["Understand", "Know", "Learn", "Appreciate"] {
            assert!(!ENGLISH.contains(&unseen), "{unseen}");
        }
    }
}
