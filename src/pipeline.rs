//! The generation pipeline: outline call (and renames of repeated titles), module calls,
//! then assembly without the model.
//!
//! Replies that fail to parse or validate (or run out of budget) are regenerated with
//! another seed, up to four times; a fifth failure ends the run with a message naming the call.

use anyhow::bail;

use crate::content::Checker;
use crate::course::{CourseRequest, Syllabus};
use crate::engine::{BatchStats, CallOutput, ChatCall, Engine, Finish, Progress, Strategy};
use crate::prompt::{self, Calls, Repair};
use crate::reply::validate::ContentError;
use crate::reply::{ModuleReply, OutlineEntry, OutlineReply};
use crate::schema::max_reply_tokens;
use crate::timing::{CallRecord, Clock};

/// Attempts per call: the first try and four regenerations. The content checks refuse what
/// small models often write (a key as a list item, a run-on item cut at its limit, an
/// instruction parroted back); another seed usually mends it. Measured on the 135M test
/// model, "Introduction to Marine Biology", 3 modules, seeds 1-16: 7 of 12 seeds valid with
/// three attempts, 15 of 16 with five.
pub const ATTEMPTS: u32 = 5;
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

/// The reply of a finished call, parsed and checked; or why not.
fn check<T>(
    output: &CallOutput,
    parse: impl Fn(&str) -> Result<T, ContentError>,
) -> Result<T, String> {
    match output.record.finish {
        Finish::Stop => parse(&output.text).map_err(|e| e.to_string()),
        Finish::Length => Err(format!(
            "the reply ran out of its {} token budget before the JSON was complete",
            output.record.generated_tokens
        )),
        Finish::Error => Err("the call failed".into()),
    }
}

/// Runs one call until its reply passes `parse`, up to `ATTEMPTS` times; records every try.
/// Returns the value with the reply text it was read from.
fn until_valid<T>(
    engine: &mut dyn Engine,
    strategy: Strategy,
    progress: &dyn Progress,
    calls: &mut Vec<CallRecord>,
    make: impl Fn(u32) -> ChatCall,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Result<(T, String), String>> {
    until_valid_from(1, engine, strategy, progress, calls, make, parse)
}

/// `until_valid` numbering attempts from `first`.
fn until_valid_from<T>(
    first: u32,
    engine: &mut dyn Engine,
    strategy: Strategy,
    progress: &dyn Progress,
    calls: &mut Vec<CallRecord>,
    make: impl Fn(u32) -> ChatCall,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Result<(T, String), String>> {
    let mut last_error = String::new();
    for attempt in first..first + ATTEMPTS {
        let call = make(attempt);
        let (mut out, _) = engine.run(std::slice::from_ref(&call), strategy, progress)?;
        let out = out.remove(0);
        let result = check(&out, |t| Ok(t.to_string())).and_then(|t| parse(&t));
        calls.push(out.record);
        match result {
            Ok(value) => return Ok(Ok((value, out.text))),
            Err(e) => {
                let label = crate::report::call_label(call.phase, call.index);
                tracing::warn!(call = %label, attempt, error = %e, "reply rejected");
                tracing::debug!(reply = %out.text, "rejected reply");
                last_error = e;
            }
        }
    }
    Ok(Err(last_error))
}

/// Outlines written before the run gives up: a round is up to `ATTEMPTS` outline calls and
/// the rewrites of its unusable or repeated entries; a rewrite that fails every attempt
/// (a tiny model reusing another module's title) starts the next round.
const OUTLINE_ROUNDS: u32 = 2;

/// A finished outline phase: the outline, its reply exactly as the model wrote it, and
/// whether module prompts continue its conversation (with the layout for the record).
struct Outlined {
    outline: OutlineReply,
    reply: String,
    continued: bool,
    layout: String,
}

/// Writes the outline, chooses the prompt layout, and rewrites entries that need it.
fn outline_phase(
    engine: &mut dyn Engine,
    strategy: Strategy,
    request: &CourseRequest,
    (builder, checker): (&Calls<'_>, &Checker),
    progress: &dyn Progress,
    calls: &mut Vec<CallRecord>,
) -> anyhow::Result<Outlined> {
    let parse =
        |t: &str| OutlineReply::parse_clean(t, request.modules, checker).map_err(|e| e.to_string());
    for round in 1..=OUTLINE_ROUNDS {
        let first = 1 + (round - 1) * ATTEMPTS;
        let make = |a| builder.outline(a);
        let attempts = until_valid_from(first, engine, strategy, progress, calls, make, parse)?;
        let (unusable, reply) = match attempts {
            Ok(done) => done,
            Err(e) => {
                bail!("the model did not produce a valid outline in {ATTEMPTS} attempts: {e}")
            }
        };
        let (continued, layout) = choose_layout(engine, builder, &reply, strategy);
        let now = if continued {
            builder.continuing(&reply)
        } else {
            *builder
        };
        match repair_entries(engine, strategy, unusable, (&now, checker), progress, calls) {
            Ok(outline) => {
                return Ok(Outlined {
                    outline,
                    reply,
                    continued,
                    layout,
                })
            }
            Err(e) if round < OUTLINE_ROUNDS => {
                tracing::warn!(error = %format!("{e:#}"), "writing the outline again");
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last round returns")
}

/// Module prompts continue the outline's conversation when the engine keeps its reply
/// exactly; else they stand alone. Returns whether they continue, and the layout for the
/// record.
fn choose_layout(
    engine: &mut dyn Engine,
    builder: &Calls<'_>,
    reply: &str,
    strategy: Strategy,
) -> (bool, String) {
    if strategy == Strategy::Sequential {
        let why = "separate: the sequential baseline recomputes every prompt";
        return (false, why.into());
    }
    match engine.continues(&builder.conversation(reply)) {
        Ok(()) => (true, "continued".into()),
        Err(why) => {
            tracing::warn!("module prompts stand alone: {why}");
            (false, format!("separate: {why}"))
        }
    }
}

/// An outline and its module entries (by index) that failed their checks, with why.
type Unusable = (OutlineReply, Vec<(usize, ContentError)>);

/// Rewrites, by its own small call, every module entry that failed its checks, then every
/// module whose title repeats an earlier one.
fn repair_entries(
    engine: &mut dyn Engine,
    strategy: Strategy,
    (mut outline, unusable): Unusable,
    (builder, checker): (&Calls<'_>, &Checker),
    progress: &dyn Progress,
    calls: &mut Vec<CallRecord>,
) -> anyhow::Result<OutlineReply> {
    let mut queue: std::collections::VecDeque<(usize, Repair)> = unusable
        .into_iter()
        .map(|(i, e)| (i, Repair::Unusable(e.to_string())))
        .collect();
    loop {
        if queue.is_empty() {
            if let Some(ContentError::DuplicateTitle { first, second, .. }) =
                outline.first_duplicate()
            {
                queue.push_back((second - 1, Repair::Duplicate { first: first - 1 }));
            }
        }
        let Some((index, why)) = queue.pop_front() else {
            return Ok(outline);
        };
        let parse = |t: &str| match OutlineEntry::parse_valid(t, index, checker) {
            Ok(e) if outline.has_title_besides(&e.title, index) => {
                Err(format!("the new title \"{}\" repeats another", e.title))
            }
            other => other.map_err(|e| e.to_string()),
        };
        let make = |a| builder.rename(&outline, index, &why, a);
        match until_valid(engine, strategy, progress, calls, make, parse)? {
            Ok((entry, _)) => outline.modules[index] = entry,
            Err(e) => bail!(
                "module {} of the outline ({}) could not be rewritten in {ATTEMPTS} attempts: {e}",
                index + 1,
                match &why {
                    Repair::Duplicate { first } =>
                        format!("its title repeats module {}", first + 1),
                    Repair::Unusable(reason) => reason.clone(),
                }
            ),
        }
    }
}

/// Every module in one batch; a module that fails is regenerated as soon as it finishes,
/// alongside the others.
fn module_phase(
    engine: &mut dyn Engine,
    outline: &OutlineReply,
    (builder, checker): (&Calls<'_>, &Checker),
    strategy: Strategy,
    progress: &dyn Progress,
    calls: &mut Vec<CallRecord>,
) -> anyhow::Result<(Vec<ModuleReply>, BatchStats)> {
    let n = outline.modules.len();
    let mut replies: Vec<Option<ModuleReply>> = vec![None; n];
    let mut errors: Vec<String> = vec![String::new(); n];
    let batch: Vec<ChatCall> = (0..n).map(|i| builder.module(outline, i, 1)).collect();
    let (outs, stats) =
        engine.run_with_follow_ups(&batch, strategy, progress, &mut |call, out| {
            let i = call.index;
            match check(out, |t| ModuleReply::parse_valid(t, checker)) {
                Ok(reply) => {
                    replies[i] = Some(reply);
                    None
                }
                Err(e) => {
                    tracing::warn!(module = i + 1, attempt = call.attempt, error = %e, "module rejected");
                    tracing::debug!(reply = %out.text, "rejected module");
                    errors[i] = e;
                    (call.attempt < ATTEMPTS).then(|| builder.module(outline, i, call.attempt + 1))
                }
            }
        })?;
    calls.extend(outs.into_iter().map(|o| o.record));
    let mut done = Vec::with_capacity(n);
    for (i, reply) in replies.into_iter().enumerate() {
        let Some(reply) = reply else {
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
    let fixed = prompt::fixed_texts();
    let checker = Checker::new(prompt::schema_keys(), fixed.iter().map(String::as_str))
        .for_language(&request.language);
    let mut calls = Vec::new();
    let t0 = clock.now_ms();
    // Size memory once for the largest call of the run.
    let first = builder.outline(1);
    let mut like = first.clone();
    like.max_tokens = like
        .max_tokens
        .max(max_reply_tokens(&ModuleReply::schema(builder.letters())));
    let extra = first.max_tokens as usize + MODULE_PROMPT_EXTRA;
    engine.reserve(&like, extra, strategy.width(request.modules))?;
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
    let with = (&builder, &checker);
    let outline_ms = clock.now_ms() - t0;

    let t1 = clock.now_ms();
    let (replies, mut stats) =
        module_phase(engine, &outline, with, strategy, progress, &mut calls)?;
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
    use crate::engine::{ChatMessage, EngineInfo, FollowUp, NoProgress, Phase};
    use crate::timing::{CallMarks, CallTokens};

    /// Answers every call with a valid reply and keeps the calls it was given.
    struct Fake {
        continues: Result<(), String>,
        seen: Vec<ChatCall>,
    }

    /// A focus that runs to its 100-character limit with no clause to end on.
    const RUN_ON: &str = "Part two goes on and on about the many ways the sea rises and falls over the days and the months yea";

    fn reply(call: &ChatCall) -> String {
        match call.phase {
            Phase::Outline => {
                let n = call.schema["properties"]["modules"]["maxItems"].as_u64().unwrap();
                let focus = |i| match i {
                    2 => RUN_ON.to_string(),
                    _ => format!("Part {i} of the course"),
                };
                let modules: Vec<_> = (1..=n)
                    .map(|i| serde_json::json!({"title": format!("Unit {i}"), "focus": focus(i)}))
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
            Phase::Rename => serde_json::json!({"title": "Other", "focus": "Another part"}).to_string(),
        }
    }

    impl Engine for Fake {
        fn info(&self) -> EngineInfo {
            EngineInfo {
                backend: "fake".into(),
                model: "fake".into(),
                path: None,
                size_bytes: None,
                quantization: None,
                chat_template: None,
                threads: 1,
            }
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
                    text: reply(c),
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
        let request = CourseRequest {
            topic: "Tides".into(),
            modules: 2,
            audience: None,
            level: None,
            weeks: None,
            language: "English".into(),
        };
        let mut fake = Fake {
            continues,
            seen: Vec::new(),
        };
        let out = run(&mut fake, &request, strategy, 1, &Clock::new(), &NoProgress).unwrap();
        (fake, out)
    }

    #[test]
    fn module_prompts_continue_the_outline_conversation_when_the_engine_can() {
        let (fake, out) = run_fake(Ok(()), Strategy::Parallel);
        let outline_reply = reply(&fake.seen[0]);
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
}
