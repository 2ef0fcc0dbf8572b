//! The outline phase: the outline call, the choice of prompt layout for what follows, and
//! small calls that rewrite module entries that failed their checks or repeat a title.

use anyhow::bail;

use super::attempts::{until_valid, until_valid_from, ATTEMPTS};
use crate::content::Checker;
use crate::course::CourseRequest;
use crate::engine::{Engine, Progress, Strategy};
use crate::prompt::{Calls, Repair};
use crate::reply::validate::ContentError;
use crate::reply::{OutlineEntry, OutlineReply};
use crate::timing::CallRecord;

/// Outlines written before the run gives up: a round is up to `ATTEMPTS` outline calls and
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

/// Writes the outline, chooses the prompt layout, and rewrites entries that need it.
pub(super) fn outline_phase(
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
    // For side-by-side measurements of the two layouts on one binary.
    if std::env::var_os(SEPARATE_VAR).is_some_and(|v| v == "separate") {
        return (false, format!("separate: {SEPARATE_VAR}=separate"));
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

/// `SYLLABUS_PROMPT_LAYOUT=separate` makes module prompts stand alone (a measurement switch).
pub const SEPARATE_VAR: &str = "SYLLABUS_PROMPT_LAYOUT";

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
        let result = until_valid(engine, strategy, progress, calls, make, parse)?;
        let repeating = repeating.into_inner();
        match (result, repeating) {
            (Ok((entry, _)), _) => outline.modules[index] = entry,
            // A title the model keeps repeating is numbered rather than the run lost.
            (Err(e), Some(entry)) => {
                outline.modules[index] = entry;
                let title = numbered(&outline, index);
                tracing::warn!(module = index + 1, %title, error = %e, "title numbered");
                outline.modules[index].title = title;
            }
            (Err(e), None) => bail!(
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
