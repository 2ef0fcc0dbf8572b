//! The pipeline on a fake engine: prompts continued or separate, rewrites, attempts, repeats.

use super::*;
use crate::engine::measures::{CallMarks, CallTokens};
use crate::engine::{
    CallOutput, ChatCall, ChatMessage, EngineError, EngineInfo, Finish, FollowUp, NoProgress,
    Phase, PromptError,
};

/// Answers every call with a valid reply and keeps the calls it was given.
struct Fake {
    continues: Result<(), PromptError>,
    seen: Vec<ChatCall>,
    /// Module titles all "Unit 1", renames answering the same.
    repeat: bool,
    /// What every module call answers instead of a valid reply.
    module_text: Option<&'static str>,
    /// How a batch of item calls fails, if it does.
    items_fail: Option<EngineError>,
}

/// A focus that runs to its 100-character limit with no clause to end on.
const RUN_ON: &str = "Part two goes on and on about the many ways the sea rises and falls over the days and the months yea";

fn reply(call: &ChatCall, repeat: bool) -> String {
    match call.phase {
        Phase::Outline => {
            let n = call.schema["properties"]["modules"]["maxItems"].as_u64().unwrap();
            let focus = |i| match i {
                2 => RUN_ON.to_string(),
                _ => format!("Part {i} of the course"),
            };
            let title = |i| format!("Unit {}", if repeat { 1 } else { i });
            let modules: Vec<_> = (1..=n)
                .map(|i| serde_json::json!({"title": title(i), "focus": focus(i)}))
                .collect();
            serde_json::json!({"title": "Tides", "description": "Why the sea rises and falls.",
                "audience": "Adults", "prerequisites": ["Reading", "Counting"],
                "learning_outcomes": ["Explain tides", "Read tide tables"], "modules": modules})
            .to_string()
        }
        Phase::Module => serde_json::json!({"summary": "Learners study one unit.",
            "learning_objectives": ["Name the parts", "Compare the cases"], "topics": ["Moon", "Sun"],
            "activities": ["Measure a tide", "Draw a chart"], "assessment": "A short quiz."})
        .to_string(),
        Phase::Rename if repeat => {
            serde_json::json!({"title": "Unit 1", "focus": "Another part"}).to_string()
        }
        Phase::Rename => serde_json::json!({"title": "Other", "focus": "Another part"}).to_string(),
        Phase::Item => {
            let item = format!("Another activity number {}", call.index + 1);
            serde_json::json!({ "item": item }).to_string()
        }
        Phase::Chat => String::new(),
    }
}

impl Engine for Fake {
    fn info(&self) -> EngineInfo {
        EngineInfo::fake("fake")
    }

    fn continues(&mut self, conversation: &[ChatMessage]) -> Result<(), PromptError> {
        assert_eq!(conversation.last().unwrap().role, "assistant");
        self.continues.clone()
    }

    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        _strategy: Strategy,
        _progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        self.seen.extend(calls.iter().cloned());
        if let (Some(why), Phase::Item) = (&self.items_fail, calls[0].phase) {
            return Err(why.clone().into());
        }
        let mut outputs = Vec::new();
        let mut queue: std::collections::VecDeque<ChatCall> = calls.iter().cloned().collect();
        while let Some(c) = queue.pop_front() {
            let c = &c;
            let marks = CallMarks::default();
            let tokens = CallTokens::default();
            let text = match (c.phase, self.module_text) {
                (Phase::Module, Some(t)) => t.to_string(),
                _ => reply(c, self.repeat),
            };
            let out = CallOutput {
                text,
                tokens: Vec::new(),
                record: CallRecord::new(c.phase, c.index, c.attempt, marks, tokens, Finish::Stop),
            };
            if let Some(next) = follow_up(c, &out) {
                assert!(self.module_text.is_some(), "every reply is valid");
                self.seen.push(next.clone());
                queue.push_back(next);
            }
            outputs.push(out);
        }
        Ok((outputs, BatchStats::default()))
    }
}

/// Two modules on tides, in English.
fn tides() -> CourseRequest {
    CourseRequest {
        topic: "Tides".into(),
        modules: 2,
        audience: None,
        level: None,
        weeks: None,
        language: "English".into(),
        outline: None,
    }
}

fn run_fake(continues: Result<(), PromptError>, strategy: Strategy) -> (Fake, PipelineOutput) {
    run_fake_with(continues, strategy, false)
}

fn run_fake_with(
    continues: Result<(), PromptError>,
    strategy: Strategy,
    repeat: bool,
) -> (Fake, PipelineOutput) {
    let settings = settings(strategy, false, ATTEMPTS);
    let (fake, out) = run_modules_answering(None, settings, continues, repeat);
    (fake, out.unwrap())
}

fn run_modules_answering(
    module_text: Option<&'static str>,
    settings: RunSettings,
    continues: Result<(), PromptError>,
    repeat: bool,
) -> (Fake, anyhow::Result<PipelineOutput>) {
    let request = tides();
    let mut fake = Fake {
        continues,
        seen: Vec::new(),
        repeat,
        module_text,
        items_fail: None,
    };
    let out = run(&mut fake, &request, settings, &Clock::new(), &NoProgress);
    (fake, out)
}

#[test]
fn module_prompts_continue_the_outline_conversation_when_the_engine_can() {
    let (fake, out) = run_fake(Ok(()), Strategy::Parallel);
    let outline_reply = reply(&fake.seen[0], false);
    let module = fake.seen.iter().find(|c| c.phase == Phase::Module).unwrap();
    assert_eq!(module.messages[..2], fake.seen[0].messages[..]);
    assert_eq!(
        module.messages[2].content, outline_reply,
        "the reply as written"
    );
    assert_eq!(
        out.module_batches[0].prompt_layout.as_deref(),
        Some("continued")
    );
    assert_eq!(out.syllabus.modules.len(), 2);
}

#[test]
fn an_entry_cut_at_its_limit_is_rewritten_alone_not_the_whole_outline() {
    assert_eq!(RUN_ON.chars().count(), 100);
    let (fake, out) = run_fake(Ok(()), Strategy::Parallel);
    let phases: Vec<Phase> = fake.seen.iter().map(|c| c.phase).collect();
    assert_eq!(phases[..2], [Phase::Outline, Phase::Rename], "{phases:?}");
    let turn = &fake.seen[1].messages.last().unwrap().content;
    assert!(
        turn.contains("module 2 cannot be used") && turn.contains("cut"),
        "{turn}"
    );
    assert_eq!(out.syllabus.modules[1].title, "Other");
    assert_eq!(out.syllabus.modules[1].focus, "Another part");
    assert_eq!(out.syllabus.modules[0].title, "Unit 1");
}

#[test]
fn a_template_that_rewrites_replies_gets_separate_prompts_and_says_why() {
    let why = PromptError::Rerendered {
        template: "chatml".into(),
    };
    let (fake, out) = run_fake(Err(why.clone()), Strategy::Parallel);
    let module = fake.seen.iter().find(|c| c.phase == Phase::Module).unwrap();
    assert!(module.messages.iter().all(|m| m.role != "assistant"));
    assert_eq!(
        out.module_batches[0].prompt_layout,
        Some(
            "separate: the chat template (chatml) does not render an earlier reply exactly as \
             the model wrote it"
                .into()
        )
    );
    let (_, out) = run_fake(Ok(()), Strategy::Sequential);
    assert!(out.module_batches[0]
        .prompt_layout
        .as_deref()
        .unwrap()
        .contains("sequential"));
}

#[test]
fn a_repeated_title_the_model_cannot_replace_is_numbered() {
    let (fake, out) = run_fake_with(Ok(()), Strategy::Parallel, true);
    let renames = fake
        .seen
        .iter()
        .filter(|c| c.phase == Phase::Rename)
        .count();
    assert!(renames >= ATTEMPTS as usize, "{renames} rename calls");
    let titles: Vec<&str> = out
        .syllabus
        .modules
        .iter()
        .map(|m| m.title.as_str())
        .collect();
    assert_eq!(titles, ["Unit 1", "Unit 1 (2)"]);
}

/// Seed 1.
fn settings(strategy: Strategy, strict: bool, attempts: u32) -> RunSettings {
    RunSettings {
        separate_prompts: false,
        strategy,
        seed: 1,
        strict,
        attempts,
    }
}

#[test]
fn attempts_bound_the_tries_of_every_call_and_name_their_number() {
    let how = || (Ok(()), false);
    let (continues, repeat) = how();
    let (fake, out) = run_modules_answering(
        Some(ONE_TOPIC),
        settings(Strategy::Parallel, false, 2),
        continues,
        repeat,
    );
    out.unwrap();
    let tries: Vec<u32> = (fake.seen.iter())
        .filter(|c| c.phase == Phase::Module && c.index == 0)
        .map(|c| c.attempt)
        .collect();
    assert_eq!(tries, [1, 2]);
    let (continues, repeat) = how();
    let (fake, strict) = run_modules_answering(
        Some(ONE_TOPIC),
        settings(Strategy::Parallel, true, 1),
        continues,
        repeat,
    );
    let modules = fake.seen.iter().filter(|c| c.phase == Phase::Module);
    assert_eq!(modules.count(), 2, "one try each");
    let err = format!("{:#}", strict.unwrap_err());
    assert!(err.contains("was not valid after 1 attempt:"), "{err}");
}

/// A module reply whose topics list has one item: refused by every attempt.
const ONE_TOPIC: &str = r#"{"summary": "Learners study one unit.", "learning_objectives": ["Name the parts", "Compare the cases"], "topics": ["Moon"], "activities": ["Measure a tide", "Draw a chart"], "assessment": "A short quiz."}"#;

#[test]
fn a_module_no_attempt_gets_right_is_kept_and_marked_unless_strict() {
    let how = || (Ok(()), false);
    let (continues, repeat) = how();
    let (fake, out) = run_modules_answering(
        Some(ONE_TOPIC),
        settings(Strategy::Parallel, false, ATTEMPTS),
        continues,
        repeat,
    );
    let out = out.unwrap();
    let modules = fake
        .seen
        .iter()
        .filter(|c| c.phase == Phase::Module)
        .count();
    assert_eq!(modules, 2 * ATTEMPTS as usize, "every attempt made");
    assert_eq!(out.syllabus.modules[0].content.topics, ["Moon"]);
    let marks: Vec<(Option<usize>, &str)> = out
        .syllabus
        .review
        .iter()
        .map(|r| (r.module, r.field.as_str()))
        .collect();
    assert_eq!(marks, [(Some(1), "topics"), (Some(2), "topics")]);
    assert!(out.syllabus.review[0].reason.contains("at least 2"));

    let (continues, repeat) = how();

    let (_, strict) = run_modules_answering(
        Some(ONE_TOPIC),
        settings(Strategy::Parallel, true, ATTEMPTS),
        continues,
        repeat,
    );
    let err = strict.unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(CallRefused::Strict { call, .. }) if call == "module 1 (\"Unit 1\")")
    );
    assert!(
        format!("{err:#}").contains("was not valid after 5 attempts"),
        "{err:#}"
    );

    let (continues, repeat) = how();

    let (_, nothing) = run_modules_answering(
        Some("no JSON at all"),
        settings(Strategy::Parallel, false, ATTEMPTS),
        continues,
        repeat,
    );
    let err = nothing.unwrap_err();
    assert!(matches!(
        err.downcast_ref(),
        Some(CallRefused::Unusable { .. })
    ));
    let err = format!("{err:#}");
    assert!(
        err.contains("gave nothing usable") && err.contains("--model"),
        "{err}"
    );
}

#[test]
fn items_repeated_from_another_module_are_written_anew() {
    let (fake, out) = run_fake(Ok(()), Strategy::Parallel);
    let items = fake.seen.iter().filter(|c| c.phase == Phase::Item).count();
    // Module 2 repeats all six list items of module 1.
    assert_eq!(items, 6, "one small call per repeated item");
    let turn = &fake
        .seen
        .iter()
        .find(|c| c.phase == Phase::Item)
        .unwrap()
        .messages;
    let (one, two) = (
        &out.syllabus.modules[0].content,
        &out.syllabus.modules[1].content,
    );
    let ask = &turn.last().unwrap().content;
    // It names the module and list, not the repeated item (a small model copies it).
    assert!(
        ask.contains("Module 2 (") && ask.contains("name one more of its learning objectives"),
        "{ask}"
    );
    assert!(!ask.contains(&one.learning_objectives[0]), "{ask}");
    assert_eq!(one.topics, ["Moon", "Sun"]);
    assert!(
        two.topics.iter().all(|t| t.starts_with("Another activity")),
        "{two:?}"
    );
    assert!(out.syllabus.review.is_empty());
}

#[test]
fn an_engine_failing_on_item_calls_costs_the_items_not_the_course() {
    let request = tides();
    let run_failing = |why: EngineError, strict: bool| {
        let mut fake = Fake {
            continues: Ok(()),
            seen: Vec::new(),
            repeat: false,
            module_text: None,
            items_fail: Some(why),
        };
        let settings = settings(Strategy::Parallel, strict, ATTEMPTS);
        run(&mut fake, &request, settings, &Clock::new(), &NoProgress)
    };
    let out = run_failing(EngineError::Failed("decode failed".into()), false).unwrap();
    // Module 2 repeats module 1's three lists of two items: each kept and marked.
    assert_eq!(out.syllabus.modules[1].content.topics, ["Moon", "Sun"]);
    assert_eq!(out.syllabus.review.len(), 6);
    assert!(out.syllabus.review[0]
        .reason
        .contains("no new item could be written"));
    let cancelled = run_failing(EngineError::Cancelled, false).unwrap_err();
    assert_eq!(cancelled.downcast_ref(), Some(&EngineError::Cancelled));
    assert!(run_failing(EngineError::Failed("x".into()), true).is_err());
}
