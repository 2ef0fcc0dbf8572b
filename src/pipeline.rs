//! The generation pipeline: outline call, module calls, then assembly without the model.
//!
//! Replies that fail to parse or validate (or run out of budget) are regenerated with
//! another seed, up to twice; a third failure ends the run with a message naming the call.

use anyhow::bail;

use crate::course::{
    ContentError, CourseRequest, ModuleReply, OutlineEntry, OutlineReply, Syllabus,
};
use crate::engine::{BatchStats, CallOutput, ChatCall, Engine, Finish, Phase, Progress, Strategy};
use crate::prompt;
use crate::timing::{CallRecord, Clock};

/// Attempts per call: the first try and two regenerations (a tiny model's lists sometimes
/// repeat one item; another seed usually mends it).
pub const ATTEMPTS: u32 = 3;
/// Module prompts exceed the outline prompt by about the outline reply plus this.
const MODULE_PROMPT_EXTRA: usize = 128;

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

/// Seed of a call: distinct per phase, module and attempt, fixed by the run's seed.
pub fn call_seed(seed: u32, phase: Phase, index: usize, attempt: u32) -> u32 {
    let phase_offset = match phase {
        Phase::Outline => 0,
        Phase::Module => 1 + index as u32,
    };
    seed.wrapping_add(phase_offset)
        .wrapping_add((attempt - 1).wrapping_mul(0x9E37_79B9))
}

fn outline_call(request: &CourseRequest, seed: u32, attempt: u32) -> ChatCall {
    let schema = prompt::outline_schema(request.modules);
    ChatCall {
        phase: Phase::Outline,
        index: 0,
        attempt,
        messages: prompt::outline_messages(request),
        max_tokens: prompt::max_reply_tokens(&schema),
        schema,
        seed: call_seed(seed, Phase::Outline, 0, attempt),
    }
}

fn module_call(
    request: &CourseRequest,
    outline: &OutlineReply,
    index: usize,
    seed: u32,
    attempt: u32,
) -> ChatCall {
    let schema = prompt::module_schema();
    ChatCall {
        phase: Phase::Module,
        index,
        attempt,
        messages: prompt::module_messages(request, outline, index),
        max_tokens: prompt::max_reply_tokens(&schema),
        schema,
        seed: call_seed(seed, Phase::Module, index, attempt),
    }
}

fn entry_call(
    request: &CourseRequest,
    outline: &OutlineReply,
    index: usize,
    first: usize,
    seed: u32,
    attempt: u32,
) -> ChatCall {
    let schema = prompt::entry_schema();
    ChatCall {
        phase: Phase::Outline,
        index,
        attempt,
        messages: prompt::entry_messages(request, outline, index, first),
        max_tokens: prompt::max_reply_tokens(&schema),
        schema,
        // Outline seeds are `seed` plus retries; renames take their own range.
        seed: call_seed(seed, Phase::Outline, 0, attempt)
            .wrapping_add(0x632B_E5AB)
            .wrapping_add(index as u32),
    }
}

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

/// Runs the whole pipeline on `engine`.
pub fn run(
    engine: &mut dyn Engine,
    request: &CourseRequest,
    strategy: Strategy,
    seed: u32,
    clock: &Clock,
    progress: &dyn Progress,
) -> anyhow::Result<PipelineOutput> {
    let mut calls = Vec::new();
    let t0 = clock.now_ms();

    // Size memory once for the largest call of the run.
    let first = outline_call(request, seed, 1);
    let mut like = first.clone();
    like.max_tokens = like
        .max_tokens
        .max(prompt::max_reply_tokens(&prompt::module_schema()));
    let parallel = if strategy == Strategy::Parallel {
        request.modules
    } else {
        1
    };
    engine.reserve(
        &like,
        first.max_tokens as usize + MODULE_PROMPT_EXTRA,
        parallel,
    )?;

    let mut outline = None;
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        let call = outline_call(request, seed, attempt);
        let (mut out, _) =
            engine.run(std::slice::from_ref(&call), Strategy::Sequential, progress)?;
        let out = out.remove(0);
        let result = check(&out, |t| OutlineReply::parse_clean(t, request.modules));
        let out_text = out.text;
        calls.push(out.record);
        match result {
            Ok(o) => {
                outline = Some(o);
                break;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "outline rejected");
                tracing::debug!(reply = %out_text, "rejected outline");
                last_error = e;
            }
        }
    }
    let Some(mut outline) = outline else {
        bail!("the model did not produce a valid outline in {ATTEMPTS} attempts: {last_error}");
    };
    while let Some(ContentError::DuplicateTitle {
        first,
        second,
        title,
    }) = outline.first_duplicate()
    {
        let index = second - 1;
        let mut renamed = None;
        for attempt in 1..=ATTEMPTS {
            let call = entry_call(request, &outline, index, first - 1, seed, attempt);
            let (mut out, _) =
                engine.run(std::slice::from_ref(&call), Strategy::Sequential, progress)?;
            let out = out.remove(0);
            let result = check(&out, |t| OutlineEntry::parse_valid(t, index));
            calls.push(out.record);
            match result {
                Ok(entry) if !outline.has_title(&entry.title) => {
                    renamed = Some(entry);
                    break;
                }
                Ok(entry) => {
                    tracing::warn!(module = second, title = %entry.title, "new title repeats another")
                }
                Err(e) => tracing::warn!(module = second, error = %e, "renamed entry rejected"),
            }
        }
        let Some(entry) = renamed else {
            bail!("modules {first} and {second} of the outline share the title \"{title}\" and {ATTEMPTS} attempts to rename module {second} failed");
        };
        outline.modules[index] = entry;
    }
    let outline_ms = clock.now_ms() - t0;

    let t1 = clock.now_ms();
    let mut replies: Vec<Option<ModuleReply>> = vec![None; request.modules];
    let mut errors: Vec<String> = vec![String::new(); request.modules];
    let batch: Vec<ChatCall> = (0..request.modules)
        .map(|i| module_call(request, &outline, i, seed, 1))
        .collect();
    // A module that fails is regenerated as soon as it finishes, alongside the others.
    let (outs, stats) =
        engine.run_with_follow_ups(&batch, strategy, progress, &mut |call, out| {
            let i = call.index;
            match check(out, ModuleReply::parse_valid) {
                Ok(reply) => {
                    replies[i] = Some(reply);
                    None
                }
                Err(e) => {
                    tracing::warn!(module = i + 1, attempt = call.attempt, error = %e, "module rejected");
                    tracing::debug!(reply = %out.text, "rejected module");
                    errors[i] = e;
                    (call.attempt < ATTEMPTS)
                        .then(|| module_call(request, &outline, i, seed, call.attempt + 1))
                }
            }
        })?;
    calls.extend(outs.into_iter().map(|o| o.record));
    let module_batches = vec![stats];
    if let Some(i) = replies.iter().position(Option::is_none) {
        bail!(
            "module {} (\"{}\") was not valid after {ATTEMPTS} attempts: {}",
            i + 1,
            outline.modules[i].title,
            errors[i]
        );
    }
    let modules_ms = clock.now_ms() - t1;

    let replies = replies
        .into_iter()
        .map(|r| r.expect("checked above"))
        .collect();
    Ok(PipelineOutput {
        syllabus: Syllabus::assemble(request, outline, replies),
        calls,
        module_batches,
        outline_ms,
        modules_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_call_and_attempt_and_repeat_per_run() {
        let mut seen = std::collections::HashSet::new();
        for attempt in 1..=ATTEMPTS {
            assert!(seen.insert(call_seed(7, Phase::Outline, 0, attempt)));
            for i in 0..16 {
                assert!(seen.insert(call_seed(7, Phase::Module, i, attempt)));
            }
        }
        assert_eq!(
            call_seed(7, Phase::Module, 3, 2),
            call_seed(7, Phase::Module, 3, 2)
        );
    }
}
