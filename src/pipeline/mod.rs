//! The generation pipeline: outline call (and renames of repeated titles), module calls,
//! then assembly without the model.
//!
//! Replies that fail to parse or validate (or run out of budget) are regenerated with
//! another seed, up to four times; a fifth failure ends the run with a message naming the call.

mod attempts;
mod outline;

use anyhow::bail;

use self::attempts::check;
pub use self::attempts::ATTEMPTS;
use self::outline::outline_phase;

use crate::content::Checker;
use crate::course::{CourseRequest, Syllabus};
use crate::engine::{BatchStats, ChatCall, Engine, Progress, Strategy};
use crate::prompt::{self, Calls};
use crate::reply::{ModuleReply, OutlineReply};
use crate::schema::max_reply_tokens;
use crate::timing::{CallRecord, Clock};

/// Module prompts exceed the outline prompt by at most the outline reply plus this (the
/// module turn: instructions, keys, the module's title and focus).
const MODULE_PROMPT_EXTRA: usize = 256;

/// What the pipeline produced, with its call records and phase times.
#[derive(Debug)]
pub struct PipelineOutput {
    /// The validated syllabus.
    pub syllabus: Syllabus,
    /// Every call, regenerations included.
    pub calls: Vec<CallRecord>,
    /// Figures of the module batch (regenerations join it; one entry per batch).
    pub module_batches: Vec<BatchStats>,
    /// Outline phase, milliseconds.
    pub outline_ms: f64,
    /// Module phase, milliseconds.
    pub modules_ms: f64,
}

/// Modules `indexes` of `outline` in one batch; a module that fails is regenerated as
/// soon as it finishes, alongside the others. Replies come in the order of `indexes`.
fn module_phase(
    engine: &mut dyn Engine,
    (outline, indexes): (&OutlineReply, &[usize]),
    (builder, checker): (&Calls<'_>, &Checker),
    strategy: Strategy,
    progress: &dyn Progress,
    calls: &mut Vec<CallRecord>,
) -> anyhow::Result<(Vec<ModuleReply>, BatchStats)> {
    let n = outline.modules.len();
    let mut replies: Vec<Option<ModuleReply>> = vec![None; n];
    let mut errors: Vec<String> = vec![String::new(); n];
    let batch: Vec<ChatCall> = indexes
        .iter()
        .map(|&i| builder.module(outline, i, 1))
        .collect();
    let (outs, stats) =
        engine.run_with_follow_ups(&batch, strategy, progress, &mut |call, out| {
            let i = call.index;
            match check(out, |t| ModuleReply::parse_valid(t, checker)) {
                Ok(reply) => {
                    progress.module_ready(i, &outline.modules[i].title);
                    replies[i] = Some(reply);
                    None
                }
                Err(e) => {
                    tracing::warn!(module = i + 1, attempt = call.attempt, error = %e, "module rejected");
                    tracing::debug!(reply = ?out.text, "rejected module");
                    errors[i] = e;
                    (call.attempt < ATTEMPTS).then(|| builder.module(outline, i, call.attempt + 1))
                }
            }
        })?;
    calls.extend(outs.into_iter().map(|o| o.record));
    let mut done = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let Some(reply) = replies[i].take() else {
            bail!(
                "module {} (\"{}\") was not valid after {ATTEMPTS} attempts: {}",
                i + 1,
                outline.modules[i].title,
                errors[i]
            );
        };
        done.push(reply);
    }
    Ok((done, stats))
}

/// The checker for replies to `request`: schema keys, the prompts' fixed text, its
/// language, and the teacher's own texts taken as given.
fn checker(request: &CourseRequest) -> Checker {
    let fixed = prompt::fixed_texts();
    let given = request.outline.iter().flat_map(|g| g.texts());
    Checker::new(prompt::schema_keys(), fixed.iter().map(String::as_str))
        .for_language(&request.language)
        .trusting(given)
}

/// Writes modules `indexes` (0-based) of a finished `outline` again, in one batch, steered
/// by `note` when given. Prompts stand alone: nothing of the first run is in this process.
pub fn rewrite_modules(
    engine: &mut dyn Engine,
    (request, outline): (&CourseRequest, &OutlineReply),
    (indexes, note): (&[usize], Option<&str>),
    (strategy, seed): (Strategy, u32),
    progress: &dyn Progress,
) -> anyhow::Result<(Vec<ModuleReply>, Vec<CallRecord>, BatchStats)> {
    let mut builder = Calls::new(request, seed);
    if let Some(note) = note {
        builder = builder.with_note(note);
    }
    let checker = checker(request);
    let like = builder.module(outline, indexes[0], 1);
    engine.reserve(&like, 64, (strategy.width(indexes.len()), 1))?;
    let mut calls = Vec::new();
    let with = (&builder, &checker);
    let (replies, mut stats) = module_phase(
        engine,
        (outline, indexes),
        with,
        strategy,
        progress,
        &mut calls,
    )?;
    stats.prompt_layout = Some("separate: a module written again stands alone".into());
    Ok((replies, calls, stats))
}

/// Sizes `engine`'s memory once for the largest call of a run of `request`, `courses`
/// such runs at once (each its own group of calls).
pub fn reserve(
    engine: &mut dyn Engine,
    request: &CourseRequest,
    strategy: Strategy,
    courses: usize,
) -> anyhow::Result<()> {
    let builder = Calls::new(request, 0);
    let first = builder.outline(1);
    let mut like = first.clone();
    like.max_tokens = like
        .max_tokens
        .max(max_reply_tokens(&ModuleReply::schema(builder.letters())));
    let extra = first.max_tokens as usize + MODULE_PROMPT_EXTRA;
    let at_once = strategy.width(request.modules) * courses;
    engine.reserve(&like, extra, (at_once, courses))
}

/// Runs the whole pipeline on `engine`.
pub fn run(
    engine: &mut dyn Engine,
    request: &CourseRequest,
    strategy: Strategy,
    seed: u32,
    clock: &Clock,
    progress: &dyn Progress,
) -> anyhow::Result<PipelineOutput> {
    let builder = Calls::new(request, seed);
    let checker = checker(request);
    let mut calls = Vec::new();
    let t0 = clock.now_ms();
    reserve(engine, request, strategy, 1)?;
    let done = outline_phase(
        engine,
        strategy,
        request,
        (&builder, &checker),
        progress,
        &mut calls,
    )?;
    let builder = if done.continued {
        builder.continuing(&done.reply)
    } else {
        builder
    };
    let (outline, layout) = (done.outline, done.layout);
    let titles: Vec<String> = outline.modules.iter().map(|m| m.title.clone()).collect();
    progress.outline_ready(&titles);
    let with = (&builder, &checker);
    let outline_ms = clock.now_ms() - t0;

    let t1 = clock.now_ms();
    let all: Vec<usize> = (0..outline.modules.len()).collect();
    let (replies, mut stats) = module_phase(
        engine,
        (&outline, &all),
        with,
        strategy,
        progress,
        &mut calls,
    )?;
    stats.prompt_layout = Some(layout);
    let modules_ms = clock.now_ms() - t1;
    Ok(PipelineOutput {
        syllabus: Syllabus::assemble(request, outline, replies),
        calls,
        module_batches: vec![stats],
        outline_ms,
        modules_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CallOutput, ChatMessage, EngineInfo, Finish, FollowUp, NoProgress, Phase};
    use crate::timing::{CallMarks, CallTokens};

    /// Answers every call with a valid reply and keeps the calls it was given.
    struct Fake {
        continues: Result<(), String>,
        seen: Vec<ChatCall>,
        /// Module titles all "Unit 1", renames answering the same.
        repeat: bool,
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
        }
    }

    impl Engine for Fake {
        fn info(&self) -> EngineInfo {
            EngineInfo::fake("fake")
        }

        fn continues(&mut self, conversation: &[ChatMessage]) -> Result<(), String> {
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
            let mut outputs = Vec::new();
            for c in calls {
                let marks = CallMarks::default();
                let tokens = CallTokens::default();
                let out = CallOutput {
                    text: reply(c, self.repeat),
                    tokens: Vec::new(),
                    record: CallRecord::new(
                        c.phase,
                        c.index,
                        c.attempt,
                        marks,
                        tokens,
                        Finish::Stop,
                    ),
                };
                assert!(follow_up(c, &out).is_none(), "every reply is valid");
                outputs.push(out);
            }
            Ok((outputs, BatchStats::default()))
        }
    }

    fn run_fake(continues: Result<(), String>, strategy: Strategy) -> (Fake, PipelineOutput) {
        run_fake_with(continues, strategy, false)
    }

    fn run_fake_with(
        continues: Result<(), String>,
        strategy: Strategy,
        repeat: bool,
    ) -> (Fake, PipelineOutput) {
        let request = CourseRequest {
            topic: "Tides".into(),
            modules: 2,
            audience: None,
            level: None,
            weeks: None,
            language: "English".into(),
            outline: None,
        };
        let mut fake = Fake {
            continues,
            seen: Vec::new(),
            repeat,
        };
        let out = run(&mut fake, &request, strategy, 1, &Clock::new(), &NoProgress).unwrap();
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
        let why = "the chat template does not render an earlier reply exactly".to_string();
        let (fake, out) = run_fake(Err(why.clone()), Strategy::Parallel);
        let module = fake.seen.iter().find(|c| c.phase == Phase::Module).unwrap();
        assert!(module.messages.iter().all(|m| m.role != "assistant"));
        assert_eq!(
            out.module_batches[0].prompt_layout,
            Some(format!("separate: {why}"))
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
}
