//! The generation pipeline: outline call (and renames of repeated titles), module calls,
//! then assembly without the model.
//!
//! Replies that fail to parse or validate (or run out of budget) are regenerated with
//! another seed, up to `--attempts` tries in all (five unless set); then the best is kept and marked
//! for review (or, with `strict`, the run ends with a message naming the call). Only a
//! call none of whose tries can be used at all ends a run that is not strict.

mod attempts;
mod modules;
mod outline;
mod phase_state;
pub mod prompt;
mod repeats;

pub use self::attempts::{CallRefused, ATTEMPTS};
use self::modules::module_phase;
use self::outline::outline_phase;
use self::phase_state::PhaseState;
pub use self::phase_state::{RunSettings, PROMPT_LAYOUT_VAR};

use self::prompt::Calls;
use crate::course::content::Checker;
use crate::course::reply::{ModuleReply, OutlineReply};
use crate::course::schema::max_reply_tokens;
use crate::course::{CourseRequest, Review, Syllabus};
use crate::engine::measures::{CallRecord, Clock};
use crate::engine::{BatchStats, Engine, Progress, Strategy};

/// Module prompts exceed the outline prompt by at most the outline reply plus this (the
/// module turn: instructions, keys, the module's title and focus).
const MODULE_PROMPT_EXTRA: usize = 256;

/// What the pipeline produced, with its call records and phase times.
#[derive(Debug)]
pub struct PipelineOutput {
    /// The syllabus, with review marks where a reply was kept despite its flaws.
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

/// The checker for replies to `request`: schema keys, the prompts' fixed text, its
/// language, and the teacher's own texts taken as given.
fn checker(request: &CourseRequest) -> Checker {
    let fixed = prompt::fixed_texts();
    let given = request.outline.iter().flat_map(|g| g.texts());
    Checker::new(prompt::schema_keys(), fixed.iter().map(String::as_str))
        .for_language(&request.language)
        .trusting(given)
}

/// Modules written again, with their calls, batch figures and review marks.
pub struct Rewritten {
    /// One reply per module asked for, in order.
    pub replies: Vec<ModuleReply>,
    /// Every call, regenerations included.
    pub calls: Vec<CallRecord>,
    /// Figures of the batch.
    pub stats: BatchStats,
    /// Marks of the modules kept despite their flaws.
    pub review: Vec<Review>,
}

/// Which modules of a finished course are written again, and what steers them.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'a> {
    /// The modules, 0-based.
    pub indexes: &'a [usize],
    /// The teacher's note for the new versions, if any.
    pub note: Option<&'a str>,
}

/// Writes the modules of `rewrite` of a finished `outline` again, in one batch, steered by
/// its note when given. Prompts stand alone: nothing of the first run is in this process.
pub fn rewrite_modules(
    engine: &mut dyn Engine,
    request: &CourseRequest,
    outline: &OutlineReply,
    rewrite: Rewrite<'_>,
    settings: RunSettings,
    progress: &dyn Progress,
) -> anyhow::Result<Rewritten> {
    let indexes = rewrite.indexes;
    let mut builder = Calls::new(request, settings.seed);
    if let Some(note) = rewrite.note {
        builder = builder.with_note(note);
    }
    let checker = checker(request);
    let like = builder.module(outline, indexes[0], 1);
    engine.reserve(&like, 64, settings.strategy.width(indexes.len()), 1)?;
    let mut ctx = PhaseState::new(settings, progress, &checker);
    let (replies, mut stats) = module_phase(engine, (outline, indexes), &builder, &mut ctx)?;
    stats.prompt_layout = Some("separate: a module written again stands alone".into());
    Ok(Rewritten {
        replies,
        calls: ctx.calls,
        stats,
        review: ctx.review,
    })
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
        .max(max_reply_tokens(&ModuleReply::schema(builder.writing())));
    let extra = first.max_tokens as usize + MODULE_PROMPT_EXTRA;
    let at_once = strategy.width(request.modules) * courses;
    engine.reserve(&like, extra, at_once, courses)
}

/// Runs the whole pipeline on `engine`.
pub fn run(
    engine: &mut dyn Engine,
    request: &CourseRequest,
    settings: RunSettings,
    clock: &Clock,
    progress: &dyn Progress,
) -> anyhow::Result<PipelineOutput> {
    let builder = Calls::new(request, settings.seed);
    let checker = checker(request);
    let mut ctx = PhaseState::new(settings, progress, &checker);
    let t0 = clock.now_ms();
    reserve(engine, request, settings.strategy, 1)?;
    let done = outline_phase(engine, request, &builder, &mut ctx)?;
    let builder = if done.continued {
        builder.continuing(&done.reply)
    } else {
        builder
    };
    let (outline, layout) = (done.outline, done.layout);
    let titles: Vec<String> = outline.modules.iter().map(|m| m.title.clone()).collect();
    progress.outline_ready(&titles);
    let outline_ms = clock.now_ms() - t0;

    let t1 = clock.now_ms();
    let all: Vec<usize> = (0..outline.modules.len()).collect();
    let (mut replies, mut stats) = module_phase(engine, (&outline, &all), &builder, &mut ctx)?;
    stats.prompt_layout = Some(layout);
    let mut module_batches = vec![stats];
    if let Some(items) = repeats::mend(engine, &outline, &mut replies, &builder, &mut ctx)? {
        module_batches.push(items);
    }
    let modules_ms = clock.now_ms() - t1;
    let mut syllabus = Syllabus::assemble(request, outline, replies);
    ctx.review.sort_by_key(|r| r.module);
    syllabus.review = ctx.review;
    Ok(PipelineOutput {
        syllabus,
        calls: ctx.calls,
        module_batches,
        outline_ms,
        modules_ms,
    })
}

#[cfg(test)]
mod tests;
