//! The module phase: every module of the outline in one batch, a module that fails its
//! checks regenerated as soon as it finishes; after the last attempt its lightest try is
//! kept and marked for review (unless strict).

use super::attempts::{check, keep_lighter, salvage_of, CallRefused};
use super::phase_state::PhaseState;
use super::prompt::Calls;
use crate::course::reply::salvage::Salvaged;
use crate::course::reply::{ModuleReply, OutlineReply};
use crate::engine::{BatchStats, ChatCall, Engine};

/// Modules `indexes` of `outline` in one batch; a module that fails is regenerated as
/// soon as it finishes, alongside the others. Replies come in the order of `indexes`; a
/// module no attempt gets right keeps its best try (marked for review) unless strict.
pub(super) fn module_phase(
    engine: &mut dyn Engine,
    (outline, indexes): (&OutlineReply, &[usize]),
    builder: &Calls<'_>,
    ctx: &mut PhaseState<'_>,
) -> anyhow::Result<(Vec<ModuleReply>, BatchStats)> {
    let n = outline.modules.len();
    let mut replies: Vec<Option<ModuleReply>> = vec![None; n];
    let mut best: Vec<Option<Salvaged<ModuleReply>>> = (0..n).map(|_| None).collect();
    let mut errors: Vec<String> = vec![String::new(); n];
    let batch: Vec<ChatCall> = indexes
        .iter()
        .map(|&i| builder.module(outline, i, 1))
        .collect();
    let (checker, strict, progress, attempts) =
        (ctx.checker, ctx.strict, ctx.progress, ctx.attempts);
    let (outs, stats) =
        engine.run_with_follow_ups(&batch, ctx.strategy, progress, &mut |call, out| {
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
                    if !strict {
                        let salvage = |t: &str, early| ModuleReply::salvage(t, early, checker);
                        keep_lighter(&mut best[i], salvage_of(out, salvage));
                    }
                    (call.attempt < attempts).then(|| builder.module(outline, i, call.attempt + 1))
                }
            }
        })?;
    ctx.calls.extend(outs.into_iter().map(|o| o.record));
    let mut done = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let reply = match (replies[i].take(), best[i].take()) {
            (Some(reply), _) => reply,
            (None, Some(kept)) => {
                tracing::warn!(module = i + 1, "module kept for review");
                progress.module_ready(i, &outline.modules[i].title);
                ctx.flag(Some(i), &kept.flaws);
                kept.value
            }
            (None, None) => {
                let call = format!("module {} (\"{}\")", i + 1, outline.modules[i].title);
                return Err(CallRefused::new(ctx, call, errors[i].clone()).into());
            }
        };
        done.push(reply);
    }
    Ok((done, stats))
}
