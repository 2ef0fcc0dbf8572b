//! Calls tried until their reply passes its checks: up to `ATTEMPTS` tries, each with its
//! own seed, every try recorded. When none passes, the best failed try is kept with its
//! flaws (best effort), unless the run is strict or nothing of any try can be used.

use super::phase_state::PhaseState;
use crate::course::reply::salvage::Salvaged;
use crate::course::reply::validate::ReplyRefusal;
use crate::engine::measures::CallRecord;
use crate::engine::{CallOutput, ChatCall, Engine, Finish, Progress, Strategy};

/// Attempts per call unless `--attempts` says: the first try and four regenerations. The
/// content checks refuse what small models often write (a key as a list item, a run-on item cut at its limit, an
/// instruction parroted back); another seed usually mends it. Measured on the 135M test
/// model, "Introduction to Marine Biology", 3 modules, seeds 1-16: 7 of 12 seeds valid with
/// three attempts, 15 of 16 with five.
pub const ATTEMPTS: u32 = 5;

/// What the end of a call's attempts says when nothing could be used.
const TOO_SMALL: &str = "this model may be too small for the request: try a larger one \
     (--model, see `syllabus models list`), fewer modules, or another --seed";

/// A call whose every attempt the content checks refused: the run ends with it. Callers
/// match it by type (`anyhow::Error::downcast_ref`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallRefused {
    /// With `--strict`: no attempt passed every check.
    #[error("{call} was not valid after {}: {last}", counted(*attempts))]
    Strict {
        /// The call, for people: "the outline", "module 2 (\"Swing\")".
        call: String,
        /// Its attempts.
        attempts: u32,
        /// Why its last attempt was refused.
        last: String,
    },
    /// No attempt gave anything usable, even to keep marked for review.
    #[error("{call} gave nothing usable in {} (last: {last}); {TOO_SMALL}", counted(*attempts))]
    Unusable {
        /// The call, for people.
        call: String,
        /// Its attempts.
        attempts: u32,
        /// Why its last attempt was refused.
        last: String,
    },
}

/// "1 attempt", "5 attempts".
pub(super) fn counted(n: u32) -> String {
    match n {
        1 => "1 attempt".into(),
        n => format!("{n} attempts"),
    }
}

impl CallRefused {
    /// The end of `call`'s attempts (as many as `ctx` allows), the last refused because of
    /// `last`.
    pub(super) fn new(ctx: &PhaseState<'_>, call: String, last: String) -> Self {
        let attempts = ctx.attempts;
        match ctx.strict {
            true => Self::Strict {
                call,
                attempts,
                last,
            },
            false => Self::Unusable {
                call,
                attempts,
                last,
            },
        }
    }
}

/// The reply of a finished call, parsed and checked; or why not.
pub(super) fn check<T>(
    output: &CallOutput,
    parse: impl Fn(&str) -> Result<T, ReplyRefusal>,
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

/// What a failed try still offers: `None` for a call that failed outright.
pub(super) fn salvage_of<T>(
    output: &CallOutput,
    salvage: impl Fn(&str, bool) -> Option<Salvaged<T>>,
) -> Option<Salvaged<T>> {
    match output.record.finish {
        Finish::Stop => salvage(&output.text, false),
        Finish::Length => salvage(&output.text, true),
        Finish::Error => None,
    }
}

/// The lightest kept try so far (the first of equals).
pub(super) fn keep_lighter<T>(best: &mut Option<Salvaged<T>>, new: Option<Salvaged<T>>) {
    if let Some(new) = new {
        if best.as_ref().is_none_or(|b| new.weight() < b.weight()) {
            *best = Some(new);
        }
    }
}

/// What came of a call's attempts.
pub(super) enum Attempts<T> {
    /// A reply passed its checks: the value and the text it was read from.
    Valid(T, String),
    /// None passed: the best try, with its flaws and text.
    Kept(Salvaged<T>, String),
    /// Nothing usable; the last reason.
    Failed(String),
}

/// One call's tries: how to make attempt `n`, check a reply, and (best effort) what a
/// failed reply still offers (`None`: strict).
pub(super) struct Tries<'a, T> {
    pub make: &'a dyn Fn(u32) -> ChatCall,
    pub parse: &'a dyn Fn(&str) -> Result<T, String>,
    pub salvage: Option<Salvage<'a, T>>,
}

/// What a failed reply (its text, and whether its budget cut it) still offers.
pub(super) type Salvage<'a, T> = &'a dyn Fn(&str, bool) -> Option<Salvaged<T>>;

/// Runs one call until its reply passes, trying the attempt numbers of `numbers` in turn;
/// records every try.
pub(super) fn until_valid_from<T>(
    numbers: std::ops::Range<u32>,
    engine: &mut dyn Engine,
    (strategy, progress): (Strategy, &dyn Progress),
    calls: &mut Vec<CallRecord>,
    tries: &Tries<'_, T>,
) -> anyhow::Result<Attempts<T>> {
    let mut last_error = String::new();
    // The lightest failed try, with the text it was read from.
    let mut best: Option<Salvaged<(T, String)>> = None;
    for attempt in numbers {
        let call = (tries.make)(attempt);
        let (mut out, _) = engine.run(std::slice::from_ref(&call), strategy, progress)?;
        let out = out.remove(0);
        let result = check(&out, |t| Ok(t.to_string())).and_then(|t| (tries.parse)(&t));
        calls.push(out.record.clone());
        match result {
            Ok(value) => return Ok(Attempts::Valid(value, out.text)),
            Err(e) => {
                let label = crate::engine::measures::call_label(call.phase, call.index);
                tracing::warn!(call = %label, attempt, error = %e, "reply rejected");
                tracing::debug!(reply = ?out.text, "rejected reply");
                last_error = e;
                if let Some(salvage) = tries.salvage {
                    let kept = salvage_of(&out, salvage).map(|k| k.map(|v| (v, out.text.clone())));
                    keep_lighter(&mut best, kept);
                }
            }
        }
    }
    Ok(match best {
        Some(Salvaged {
            value: (value, text),
            flaws,
        }) => Attempts::Kept(Salvaged { value, flaws }, text),
        None => Attempts::Failed(last_error),
    })
}
