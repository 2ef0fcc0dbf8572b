//! Tests of the prompts: seeds, schemas, budgets, what each call kind asks.

use super::*;
use crate::course::given::{GivenModule, GivenOutline};

fn request() -> CourseRequest {
    CourseRequest {
        topic: "History of Jazz".into(),
        modules: 3,
        audience: Some("adult learners".into()),
        level: None,
        weeks: Some(6),
        language: "English".into(),
        outline: None,
    }
}

fn outline() -> OutlineReply {
    OutlineReply {
        title: "Jazz".into(),
        description: "From New Orleans to now.".into(),
        audience: "Adults".into(),
        prerequisites: vec!["None".into(), "Curiosity".into()],
        learning_outcomes: vec!["Name styles".into(), "Hear forms".into()],
        modules: ["Roots", "Swing", "Bebop"]
            .iter()
            .map(|t| OutlineEntry {
                title: t.to_string(),
                focus: format!("{t} era"),
            })
            .collect(),
    }
}

#[test]
fn seeds_differ_per_call_and_attempt_and_repeat_per_run() {
    let mut seen = std::collections::HashSet::new();
    for attempt in 1..=3 {
        assert!(seen.insert(call_seed(7, Phase::Outline, 0, attempt)));
        for i in 0..16 {
            assert!(seen.insert(call_seed(7, Phase::Module, i, attempt)));
            assert!(seen.insert(call_seed(7, Phase::Rename, i, attempt)));
        }
    }
    assert_eq!(
        call_seed(7, Phase::Module, 3, 2),
        call_seed(7, Phase::Module, 3, 2)
    );
}

#[test]
fn each_call_kind_gets_its_schema_budget_and_phase() {
    let (r, o) = (request(), outline());
    let calls = Calls::new(&r, 7);
    let outline_call = calls.outline(1);
    assert_eq!(outline_call.schema["properties"]["modules"]["maxItems"], 3);
    assert_eq!(
        outline_call.max_tokens,
        max_reply_tokens(&outline_call.schema)
    );
    let module = calls.module(&o, 2, 2);
    assert_eq!(
        (module.phase, module.index, module.attempt),
        (Phase::Module, 2, 2)
    );
    assert_eq!(
        module.schema,
        ModuleReply::schema(Writing::for_language("English"))
    );
    let rename = calls.rename(&o, 2, &Repair::Duplicate { first: 0 }, 1);
    assert_eq!(rename.phase, Phase::Rename);
    assert!(rename.messages[1]
        .content
        .contains("Module 3 has the same title as module 1"));
}

#[test]
fn module_prompts_differ_only_at_the_end() {
    let (r, o) = (request(), outline());
    let calls = Calls::new(&r, 1);
    let a = &calls.module(&o, 0, 1).messages[1].content;
    let b = &calls.module(&o, 2, 1).messages[1].content;
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let tail = a.len() - common;
    assert!(tail < 40, "module-specific tail is {tail} bytes: {a}");
    assert!(
        a.contains("3. Bebop: Bebop era"),
        "whole outline in every prompt"
    );
}

#[test]
fn continued_prompts_extend_the_outline_conversation_with_one_turn() {
    let (r, o) = (request(), outline());
    let reply = "{\"title\":\"Jazz\"}";
    let calls = Calls::new(&r, 1).continuing(reply);
    assert_eq!(calls.layout(), Layout::Continued { reply });
    let outline_call = calls.outline(1);
    let repair = Repair::Unusable("cut".into());
    for call in [calls.module(&o, 2, 1), calls.rename(&o, 2, &repair, 1)] {
        let m = &call.messages;
        assert_eq!(
            m[..2],
            outline_call.messages[..],
            "the outline call's messages first"
        );
        assert_eq!(
            (m[2].role.as_str(), m[2].content.as_str()),
            ("assistant", reply)
        );
        assert_eq!(m[3].role, "user");
        assert_eq!(m.len(), 4);
    }
    let turn = &calls.module(&o, 2, 1).messages[3].content;
    assert!(turn.ends_with("The module: 3. Bebop: Bebop era"), "{turn}");
    let other = &calls.module(&o, 0, 1).messages[3].content;
    let common = turn
        .bytes()
        .zip(other.bytes())
        .take_while(|(x, y)| x == y)
        .count();
    assert!(turn.len() - common < 30, "only the module line differs");
}

#[test]
fn prompts_carry_no_content_of_their_own() {
    // Only the request, the schema's keys and the instructions: nothing a model could
    // copy into another course.
    let (r, o) = (request(), outline());
    let calls = Calls::new(&r, 1);
    let text: String = [calls.outline(1), calls.module(&o, 1, 1)]
        .iter()
        .flat_map(|c| c.messages.iter().map(|m| m.content.clone()))
        .collect();
    for word in ["photo", "aperture", "camera", "portfolio"] {
        assert!(!text.to_lowercase().contains(word), "{word} in {text}");
    }
    assert!(calls
        .outline(1)
        .messages
        .iter()
        .all(|m| m.role != "assistant"));
}

#[test]
fn outline_prompt_carries_the_request() {
    let text = &outline_messages(&request())[1].content;
    for needle in [
        "History of Jazz",
        "adult learners",
        "6 weeks",
        "exactly 3 units",
        "English",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}

#[test]
fn a_teachers_title_is_kept_when_its_entry_is_written_again() {
    let mut r = request();
    r.outline = Some(GivenOutline {
        modules: ["Roots", "Swing", "Bebop"]
            .iter()
            .map(|t| GivenModule {
                title: t.to_string(),
                focus: None,
            })
            .collect(),
        ..GivenOutline::default()
    });
    let o = outline();
    let why = Repair::Unusable("`focus` is a label".into());
    let rename = Calls::new(&r, 7).rename(&o, 2, &why, 1);
    let props = &rename.schema["properties"];
    assert_eq!(props["title"], serde_json::json!({"const": "Bebop"}));
    assert_eq!(props["focus"]["type"], "string");
    assert!(rename
        .messages
        .last()
        .unwrap()
        .content
        .contains(REFOCUS_ASK));
    // Without a teacher's outline the title is the model's to write.
    let free = Calls::new(&request(), 7).rename(&o, 2, &why, 1);
    assert_eq!(free.schema["properties"]["title"]["type"], "string");
    assert!(free.messages.last().unwrap().content.contains(RENAME_ASK));
}
