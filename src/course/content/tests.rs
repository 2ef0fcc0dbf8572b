//! The checker's unit tests, with the strings small models wrote.

use super::*;

fn checker() -> Checker {
    Checker::new(
        ["learning_objectives", "topics", "audience", "summary"],
        ["Reply with a JSON object: 3 to 5 different objectives, each starting with a verb"],
    )
}

#[test]
fn debris_is_refused_after_cleaning() {
    let c = checker();
    for item in [" Audience: ", "{\"title\":\"x\"}", "https://example.org/a"] {
        assert_eq!(
            c.text(item, Kind::Line, 100),
            Err(TextRefusal::Debris),
            "{item}"
        );
    }
}

#[test]
fn runs_copied_from_the_prompt_are_refused() {
    let c = checker();
    let err = c
        .text(
            "Name 3 to 5 different objectives each starting with a verb",
            Kind::Line,
            100,
        )
        .unwrap_err();
    assert!(
        matches!(err, TextRefusal::Copied(ref run) if run.contains("different objectives")),
        "{err:?}"
    );
    assert!(c
        .text(
            "Describe five objectives of coral reef study",
            Kind::Line,
            100
        )
        .is_ok());
}

#[test]
fn cut_prose_ends_at_its_last_full_sentence() {
    let c = Checker::default();
    let text = "Tides rise and fall twice a day. Learners measure them on the shore, which is a";
    let max = text.chars().count() as u64;
    assert_eq!(
        c.text(text, Kind::Prose, max).unwrap(),
        "Tides rise and fall twice a day."
    );
    // Not cut but closed mid-sentence: the same; one clause alone gets its stop.
    assert_eq!(
        c.text(text, Kind::Prose, max + 10).unwrap(),
        "Tides rise and fall twice a day."
    );
    assert_eq!(
        c.text("Weekly quizzes", Kind::Prose, 300).unwrap(),
        "Weekly quizzes."
    );
    // Cut with no sentence to end on: its last clause, with a stop; else regenerate.
    let one = "Learners measure the tides on the shore, then in a variety o";
    assert_eq!(
        c.text(one, Kind::Prose, one.len() as u64).unwrap(),
        "Learners measure the tides on the shore."
    );
    let none = "Learners measure the tides on the shore in a variety o";
    assert_eq!(
        c.text(none, Kind::Prose, none.len() as u64),
        Err(TextRefusal::Cut)
    );
}

#[test]
fn cut_lines_end_at_a_clause_and_titles_are_never_trimmed() {
    let c = Checker::default();
    let line = "Measure the height of the tide at three points, then compare them with the tab";
    let max = line.chars().count() as u64;
    assert_eq!(
        c.text(line, Kind::Line, max).unwrap(),
        "Measure the height of the tide at three points"
    );
    let title = "Introduction to Physical Oceanogr";
    assert_eq!(
        c.text(title, Kind::Title, title.len() as u64),
        Err(TextRefusal::Cut)
    );
    assert_eq!(
        c.text("Waves, Tides,", Kind::Title, 60).unwrap(),
        "Waves, Tides"
    );
}

#[test]
fn short_texts_that_are_mostly_an_instruction_are_copies() {
    let c = Checker::new([], ["how learning is checked (1 or 2 sentences)"]);
    let err = c.text("How learning is checked (1 sentence)", Kind::Prose, 300);
    assert!(matches!(err, Err(TextRefusal::Copied(_))), "{err:?}");
    assert!(c
        .text(
            "A quiz on how learning is checked by peers in class today",
            Kind::Prose,
            300
        )
        .is_ok());
}

#[test]
fn another_script_in_the_text_is_refused_unless_it_is_the_language() {
    let c = Checker::default();
    let drift = "Jazz covers pop, rock and电子音乐.";
    assert_eq!(
        c.text(drift, Kind::Prose, 300),
        Err(TextRefusal::Script("电".into()))
    );
    let zh = Checker::default().for_language("Chinese");
    assert!(zh.text("爵士乐的历史", Kind::Title, 70).is_ok());
}

#[test]
fn prose_closed_mid_sentence_ends_at_its_last_full_one_and_items_lose_bullets() {
    let c = Checker::default();
    let text = "Learners trace jazz from New Orleans to bebop. They compare recordings of";
    assert_eq!(
        c.text(text, Kind::Prose, 420).unwrap(),
        "Learners trace jazz from New Orleans to bebop."
    );
    assert_eq!(
        c.text(". Classroom activity 2: timeline", Kind::Line, 150)
            .unwrap(),
        "Classroom activity 2: timeline"
    );
    assert_eq!(
        c.text("'History of Jazz'", Kind::Line, 150).unwrap(),
        "History of Jazz"
    );
    // Closed without a stop: a stop added, or ended at its last clause, or refused.
    assert_eq!(
        c.text("A short quiz", Kind::Prose, 300).unwrap(),
        "A short quiz."
    );
    assert_eq!(
        c.text(
            "Learners compare the styles of the decade, from swing to the",
            Kind::Prose,
            300
        )
        .unwrap(),
        "Learners compare the styles of the decade."
    );
    assert_eq!(
        c.text("An overview of 20", Kind::Prose, 300),
        Err(TextRefusal::Cut)
    );
    // A cut that only lost its trailing space still counts as cut.
    let cut = format!("{} from ", "Jazz grew in the city. ".repeat(17));
    let max = cut.chars().count() as u64;
    assert!(c.text(&cut, Kind::Prose, max).unwrap().ends_with("city."));
}

#[test]
fn control_characters_and_whitespace_are_cleaned() {
    assert_eq!(
        clean("  Ti\u{0}des\x1b[31m \n and\twaves "),
        "Tides[31m and waves"
    );
    assert_eq!(
        Checker::default().text("\u{7}\u{0}", Kind::Line, 10),
        Err(TextRefusal::Empty)
    );
}

#[test]
fn a_glued_fragment_refuses_the_text_and_best_effort_takes_it_off() {
    let c = checker();
    let bad = "the production and2 of NADPH";
    assert_eq!(
        c.text(bad, Kind::Line, 150),
        Err(TextRefusal::Glued("and2".into()))
    );
    let (text, why) = c.best_effort(bad, Kind::Line, 150);
    assert_eq!(text, "the production and of NADPH");
    assert_eq!(why, Some(TextRefusal::Glued("and2".into())));
    for (bad, mended) in [
        ("Exercises and real-5-0.", "Exercises and real."),
        ("Laboratory20 safety", "Laboratory safety"),
    ] {
        assert_eq!(c.best_effort(bad, Kind::Line, 150).0, mended, "{bad}");
    }
}

#[test]
fn best_effort_keeps_what_a_reader_can_use() {
    let c = checker();
    let cut: String = "Tides rise and fall with the moon and the sun over the open sea floor"
        .chars()
        .take(40)
        .collect();
    let (text, why) = c.best_effort(&cut, Kind::Title, 40);
    assert_eq!(why, Some(TextRefusal::Cut));
    assert_eq!(text, "Tides rise and fall with the moon and…");
    let (text, why) = c.best_effort("learning_objectives", Kind::Line, 150);
    assert_eq!((text.as_str(), why), ("", Some(TextRefusal::Debris)));
    let (text, why) = c.best_effort("Ocean zones", Kind::Line, 150);
    assert_eq!((text.as_str(), why), ("Ocean zones", None));
}

#[test]
fn an_item_cut_at_its_bound_on_a_comma_does_not_hang_once_the_comma_goes() {
    let c = checker();
    // Both as the models wrote them: the grammar's bound fell just after the comma.
    let bee = "Bumblebees are even important pollinators that can help pollinate the,";
    assert_eq!(c.text(bee, Kind::Item, 70), Err(TextRefusal::Cut));
    let forensic = "The collection of forensic evidence required by forensic evidence and,";
    assert_eq!(c.text(forensic, Kind::Item, 70), Err(TextRefusal::Cut));
    // Below the bound too, and prose cut on such a clause ends at a whole one or not at all.
    assert_eq!(c.text(&bee[..69], Kind::Item, 70), Err(TextRefusal::Cut));
    let prose = "Bees pollinate crops across the world and keep the, orchards";
    assert_eq!(c.text(prose, Kind::Prose, 60), Err(TextRefusal::Cut));
    let prose = "Bees pollinate crops across the world and keep orchards alive, the";
    assert_eq!(
        c.text(prose, Kind::Prose, 66).as_deref(),
        Ok("Bees pollinate crops across the world and keep orchards alive.")
    );
    // An item whose kept clause is whole keeps it.
    let whole = "Bees play a vital role in the ecosystem, which is a very important,";
    assert_eq!(
        c.text(whole, Kind::Item, 68).as_deref(),
        Ok("Bees play a vital role in the ecosystem, which is a very important")
    );
}

#[test]
fn a_line_or_item_that_starts_a_sentence_it_does_not_end_keeps_its_full_ones() {
    let c = checker();
    // The default model, "Introduction to Marine Biology" (the README's first command): a
    // module's focus and, copied from it, an objective.
    let focus = "Describe the biology of marine ecosystems. This module cover";
    assert_eq!(
        c.text(focus, Kind::Line, 100).as_deref(),
        Ok("Describe the biology of marine ecosystems.")
    );
    let objective = "Describe the ecology of marine biodiversity. This module cover";
    assert_eq!(
        c.text(objective, Kind::Outcome, 150).as_deref(),
        Ok("Describe the ecology of marine biodiversity.")
    );
    // A label after a sentence, a tail too long to drop, a finished second sentence: kept.
    for kept in [
        "Field trip to the harbour. Optional",
        "Quiz. They answer ten questions on the zones",
        "Compare the zones of the sea. They differ in light.",
    ] {
        assert_eq!(c.text(kept, Kind::Item, 150).as_deref(), Ok(kept), "{kept}");
    }
}

#[test]
fn an_item_that_runs_several_into_one_keeps_the_first() {
    let c = checker();
    // The default model, "Introduction to Marine Biology" (the README's first command).
    let run_on = "Explain the biology of marine ecosystems, Explain the biology of marine \
                  organisms, Explain the biology of marine animals";
    assert_eq!(
        c.text(run_on, Kind::Outcome, 150).as_deref(),
        Ok("Explain the biology of marine ecosystems")
    );
    // As the item call wrote it: cut at its bound, the cut ended at its last clause.
    let cut: String = format!("{run_on}, Explain the biology of marine plants and algae")
        .chars()
        .take(150)
        .collect();
    assert_eq!(
        c.text(&cut, Kind::Outcome, 150).as_deref(),
        Ok("Explain the biology of marine ecosystems")
    );
    for kept in [
        "Explain tides, currents and waves",
        "Read the chart, then read it again",
        "A quiz, A short essay",
    ] {
        assert_eq!(c.text(kept, Kind::Item, 150).as_deref(), Ok(kept), "{kept}");
    }
}
