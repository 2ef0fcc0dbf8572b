//! The outline phase: the outline call, the choice of prompt layout for what follows, and
//! small calls that rewrite module entries that failed their checks or repeat a title.

use anyhow::bail;

use super::attempts::{counted, until_valid_from, Attempts, CallRefused, Tries};
use super::phase_state::{PhaseState, PROMPT_LAYOUT_VAR};
use super::prompt::{Calls, Repair};
use crate::course::reply::salvage::Salvaged;
use crate::course::reply::validate::ReplyRefusal;
use crate::course::reply::{OutlineEntry, OutlineReply};
use crate::course::CourseRequest;
use crate::engine::{Engine, Strategy};

/// Outlines written before the run gives up: a round is up to `--attempts` outline calls and
/// the rewrites of its unusable or repeated entries; a rewrite that fails every attempt
/// (a tiny model reusing another module's title) starts the next round.
const OUTLINE_ROUNDS: u32 = 2;

/// A finished outline phase: the outline, its reply exactly as the model wrote it, and
/// whether module prompts continue its conversation (with the layout for the record).
pub(super) struct Outlined {
    pub outline: OutlineReply,
    pub reply: String,
    pub continued: bool,
    pub layout: String,
}

/// An outline and its module entries (by index) that failed their checks, with why.
type Unusable = (OutlineReply, Vec<(usize, ReplyRefusal)>);

/// The outline of a round: valid, or (best effort) the lightest failed try with its
/// course-level flaws recorded for review.
fn write_outline(
    engine: &mut dyn Engine,
    round: u32,
    request: &CourseRequest,
    builder: &Calls<'_>,
    ctx: &mut PhaseState<'_>,
) -> anyhow::Result<(Unusable, String)> {
    let checker = ctx.checker;
    let parse =
        |t: &str| OutlineReply::parse_clean(t, request.modules, checker).map_err(|e| e.to_string());
    let salvage = |t: &str, ended_early: bool| {
        OutlineReply::salvage(t, request.modules, ended_early, checker).map(|k| {
            k.map(|mut outline| {
                let unusable = outline.check_entries(checker);
                (outline, unusable)
            })
        })
    };
    let make = |a| builder.outline(a);
    let tries = Tries {
        make: &make,
        parse: &parse,
        salvage: (!ctx.strict).then_some(&salvage as _),
    };
    let shown = (ctx.strategy, ctx.progress);
    let numbers = ctx.attempt_numbers(round);
    match until_valid_from(numbers, engine, shown, &mut ctx.calls, &tries)? {
        Attempts::Valid(done, reply) => Ok((done, reply)),
        Attempts::Kept(kept, reply) => {
            tracing::warn!("no outline passed its checks: keeping the best, marked for review");
            ctx.flag(None, &kept.flaws);
            Ok((kept.value, reply))
        }
        Attempts::Failed(e) => Err(CallRefused::new(ctx, "the outline".into(), e).into()),
    }
}

/// Writes the outline, chooses the prompt layout, and rewrites entries that need it.
pub(super) fn outline_phase(
    engine: &mut dyn Engine,
    request: &CourseRequest,
    builder: &Calls<'_>,
    ctx: &mut PhaseState<'_>,
) -> anyhow::Result<Outlined> {
    for round in 1..=OUTLINE_ROUNDS {
        let marks = ctx.review.len();
        let (unusable, reply) = write_outline(engine, round, request, builder, ctx)?;
        let (continued, layout) =
            choose_layout(engine, builder, &reply, ctx.strategy, ctx.separate_prompts);
        let now = if continued {
            builder.continuing(&reply)
        } else {
            *builder
        };
        match repair_entries(engine, unusable, &now, ctx) {
            Ok(outline) => {
                return Ok(Outlined {
                    outline,
                    reply,
                    continued,
                    layout,
                })
            }
            Err(e) if round < OUTLINE_ROUNDS => {
                ctx.review.truncate(marks);
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
    separate: bool,
) -> (bool, String) {
    if strategy == Strategy::Sequential {
        let why = "separate: the sequential baseline recomputes every prompt";
        return (false, why.into());
    }
    // For side-by-side measurements of the two layouts on one binary.
    if separate {
        return (false, format!("separate: {PROMPT_LAYOUT_VAR}=separate"));
    }
    match engine.continues(&builder.conversation(reply)) {
        Ok(()) => (true, "continued".into()),
        Err(why) => {
            tracing::warn!("module prompts stand alone: {why}");
            (false, format!("separate: {why}"))
        }
    }
}

/// Module `index`'s title with the first number that makes it unique: "Economics (2)".
fn numbered(outline: &OutlineReply, index: usize) -> String {
    let base = outline.modules[index].title.trim();
    (2..)
        .map(|k| format!("{base} ({k})"))
        .find(|t| !outline.has_title_besides(t, index))
        .expect("some number is free")
}

/// Rewrites, by its own small call, every module entry that failed its checks, then every
/// module whose title repeats an earlier one. An entry no attempt mends is numbered (a
/// repeated title) or, best effort, kept as written with a review mark.
fn repair_entries(
    engine: &mut dyn Engine,
    (mut outline, unusable): Unusable,
    builder: &Calls<'_>,
    ctx: &mut PhaseState<'_>,
) -> anyhow::Result<OutlineReply> {
    let mut queue: std::collections::VecDeque<(usize, Repair)> = unusable
        .into_iter()
        .map(|(i, e)| (i, Repair::Unusable(e.to_string())))
        .collect();
    loop {
        if queue.is_empty() {
            if let Some(ReplyRefusal::DuplicateTitle { first, second, .. }) =
                outline.first_duplicate()
            {
                queue.push_back((second - 1, Repair::Duplicate { first: first - 1 }));
            }
        }
        let Some((index, why)) = queue.pop_front() else {
            return Ok(outline);
        };
        let checker = ctx.checker;
        // The last entry refused only for repeating a title.
        let repeating = std::cell::RefCell::new(None);
        let parse = |t: &str| match OutlineEntry::parse_valid(t, index, checker) {
            Ok(e) if outline.has_title_besides(&e.title, index) => {
                let why = format!("the new title \"{}\" repeats another", e.title);
                *repeating.borrow_mut() = Some(e);
                Err(why)
            }
            other => other.map_err(|e| e.to_string()),
        };
        let make = |a| builder.rename(&outline, index, &why, a);
        let tries = Tries {
            make: &make,
            parse: &parse,
            salvage: None,
        };
        let shown = (ctx.strategy, ctx.progress);
        let numbers = ctx.attempt_numbers(1);
        let result = until_valid_from(numbers, engine, shown, &mut ctx.calls, &tries)?;
        let repeating = repeating.into_inner();
        match (result, repeating, &why) {
            (Attempts::Valid(entry, _), ..) => outline.modules[index] = entry,
            // A title the model keeps repeating is numbered rather than the run lost.
            (Attempts::Failed(e), Some(entry), _) => {
                outline.modules[index] = entry;
                number(&mut outline, index, &e);
            }
            (Attempts::Failed(e), None, Repair::Duplicate { .. }) if !ctx.strict => {
                number(&mut outline, index, &e);
            }
            (Attempts::Failed(_), None, Repair::Unusable(_)) if !ctx.strict => {
                let kept: Salvaged<OutlineEntry> = outline.modules[index].salvage(index, checker);
                tracing::warn!(module = index + 1, "module entry kept for review");
                ctx.flag(Some(index), &kept.flaws);
                outline.modules[index] = kept.value;
            }
            (Attempts::Failed(e) | Attempts::Kept(_, e), ..) => bail!(
                "module {} of the outline ({}) could not be rewritten in {}: {e}",
                index + 1,
                counted(ctx.attempts),
                match &why {
                    Repair::Duplicate { first } =>
                        format!("its title repeats module {}", first + 1),
                    Repair::Unusable(reason) => reason.clone(),
                }
            ),
        }
    }
}

/// Numbers module `index`'s title to make it unique, saying why.
fn number(outline: &mut OutlineReply, index: usize, error: &str) {
    let title = numbered(outline, index);
    tracing::warn!(module = index + 1, %title, %error, "title numbered");
    outline.modules[index].title = title;
}
