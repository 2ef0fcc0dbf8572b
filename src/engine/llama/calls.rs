//! What happens to calls at each point of the decode loop: admitted to a sequence,
//! sampled, finished, followed up, or joining the running batch.

use anyhow::bail;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;

use super::live::Live;
use super::memory::{common_len, fill_prefixes, group_prefix, keep};
use super::model::{LoadedModel, Reply};
use crate::engine::schedule::{Entry, Ledger};
use crate::engine::stream::Stream;
use crate::engine::{Ask, CallOutput, ChatCall, FollowUp, More, Progress, Sampling, Strategy};
use crate::report::call_label;
use crate::timing::{Clock, Finish};

/// Samples every call that has logits after the decode at `now`: marks its first token,
/// reports progress; returns the tokens the grammar forced.
pub(super) fn sample_all(
    ctx: &LlamaContext<'_>,
    model: &LoadedModel,
    live: &mut [Live],
    ledger: &mut Ledger<Vec<i32>>,
    (clock, now): (Clock, f64),
    progress: &dyn Progress,
) -> usize {
    let mut forced_tokens = 0;
    for l in live {
        let Some((forced, eog)) = l.sample(ctx, model) else {
            continue;
        };
        forced_tokens += forced;
        let e = ledger.entry_mut(l.stream.call);
        e.marks.prompt_done.get_or_insert(now);
        if !eog {
            e.marks.first_token.get_or_insert(clock.now_ms());
        }
        progress.tokens(e.call.phase, e.call.index, l.stream.generated().len());
    }
    forced_tokens
}

/// A follow-up's prompt and how much of it its group's sequence holds, checked against its room.
fn follow_up_prompt(
    (model, replies): (&LoadedModel, &[Reply]),
    next: &mut ChatCall,
    prefix: &[i32],
    own_cells: usize,
) -> anyhow::Result<(Vec<i32>, usize)> {
    let prompt = model.prompt_ids(&next.messages, replies)?;
    if prompt.is_empty() {
        bail!(
            "the model's tokenizer turned a prompt into no tokens; its vocabulary cannot be used"
        );
    }
    let cached = common_len(prefix, &prompt).min(prompt.len().saturating_sub(1));
    let room = model.n_ctx_train().saturating_sub(prompt.len()) as u32;
    next.max_tokens = next.max_tokens.min(room).max(1);
    let need = prompt.len() - cached + next.max_tokens as usize;
    match fit_budget(need, own_cells, next.max_tokens) {
        Some(budget) => next.max_tokens = budget,
        None => bail!(
            "a regeneration of {} needs {need} tokens of context beyond the shared prompt, \
             more than its batch planned ({own_cells})",
            call_label(next.phase, next.index)
        ),
    }
    Ok((prompt, cached))
}

/// A follow-up's reply budget within its sequence's `own` cells when it `need`s more: a
/// prompt worded anew (an item asked again) may be a few tokens longer than the first, and
/// a budget counts 3 characters a token where text runs 3-4, so a quarter can be given up.
fn fit_budget(need: usize, own: usize, budget: u32) -> Option<u32> {
    let over = u32::try_from(need.saturating_sub(own)).ok()?;
    (over <= budget / 4).then(|| budget - over)
}

/// Puts call `i` on sequence `seq`: its group's prefix tagged with `seq`, a fresh sampler.
fn admit(
    ctx: &mut LlamaContext<'_>,
    model: &LoadedModel,
    (sampling, grammar, jump_forward): (&Sampling, bool, bool),
    e: &Entry<Vec<i32>>,
    (i, seq): (usize, i32),
) -> anyhow::Result<(Live, usize)> {
    ctx.clear_kv_cache_seq(Some(seq as u32), None, None)?;
    if e.cached > 0 {
        // Same KV stream: the copy only tags the prefix cells with `seq`.
        ctx.copy_kv_cache_seq(e.call.group as i32, seq, None, Some(e.cached as u32))?;
    }
    let (sampler, guide) = model.sampler(&e.call, sampling, grammar, jump_forward)?;
    let stream = Stream::new(
        i,
        seq,
        e.prompt.clone(),
        e.cached,
        e.call.max_tokens as usize,
    );
    Ok(Live::new(stream, sampler, guide))
}

/// A call's output once its stream has finished, marked done at `now`.
fn output(
    model: &LoadedModel,
    ledger: &mut Ledger<Vec<i32>>,
    l: &Live,
    now: f64,
    progress: &dyn Progress,
) -> CallOutput {
    let e = ledger.entry_mut(l.stream.call);
    e.marks.done = now;
    let generated = l.stream.generated();
    let finish = l
        .stream
        .finish()
        .expect("only finished streams are retired");
    let record = e.record(e.prompt.len(), generated.len(), finish);
    progress.call_finished(&record);
    CallOutput {
        text: model.detokenize(generated),
        tokens: generated.to_vec(),
        record,
    }
}

/// Where injected calls go: the context, a batch, each group's prefix tokens, lone groups.
type Sink<'a, 'b, 'm> = (
    &'a mut LlamaContext<'m>,
    &'a mut LlamaBatch<'b>,
    &'a mut Vec<Vec<i32>>,
    &'a mut Vec<usize>,
);

/// Queues calls that join a running batch: each group's common prefix computed into its
/// sequence first (unless held already); returns the decode calls made.
fn inject(
    (model, replies, strategy): (&LoadedModel, &[Reply], Strategy),
    (ctx, batch, held, lone): Sink<'_, '_, '_>,
    ledger: &mut Ledger<Vec<i32>>,
    calls: Vec<ChatCall>,
    now: f64,
) -> anyhow::Result<usize> {
    let mut groups: Vec<usize> = calls.iter().map(|c| c.group).collect();
    groups.dedup();
    let mut decodes = 0;
    let train = model.n_ctx_train();
    for g in groups {
        let Some(holds) = held.get(g) else {
            bail!(
                "a call of group {g} came, but memory was sized for {}",
                held.len()
            );
        };
        let mine: Vec<ChatCall> = calls.iter().filter(|c| c.group == g).cloned().collect();
        let mut prompts = Vec::with_capacity(mine.len());
        for c in &mine {
            let p = model.prompt_ids(&c.messages, replies)?;
            if p.is_empty() {
                bail!("the model's tokenizer turned a prompt into no tokens; its vocabulary cannot be used");
            }
            prompts.push(p);
        }
        let refs: Vec<&[i32]> = prompts.iter().map(Vec::as_slice).collect();
        let prefix = group_prefix(g, strategy, holds, &refs);
        lone.retain(|&x| x != g);
        if strategy != Strategy::Sequential && prompts.len() == 1 {
            lone.push(g);
        }
        if prefix.reused < prefix.tokens.len() {
            ctx.clear_kv_cache_seq(Some(g as u32), Some(prefix.reused as u32), None)?;
            decodes += fill_prefixes(ctx, batch, std::slice::from_ref(&prefix))?;
            held[g] = prefix.tokens.clone();
        }
        let cached = vec![prefix.tokens.len(); prompts.len()];
        for ((mut call, prompt), cached) in mine.into_iter().zip(prompts).zip(cached) {
            let room = train.saturating_sub(prompt.len()) as u32;
            call.max_tokens = call.max_tokens.min(room).max(1);
            ledger.submit(call, prompt, cached, now);
        }
    }
    Ok(decodes)
}

/// KV cells call `e` may take beyond its group's prefix: its uncached prompt and budget.
fn cells_needed(e: &Entry<Vec<i32>>) -> usize {
    e.prompt.len() - e.cached + e.call.max_tokens as usize
}

/// The groups with one call in `calls` (none for the baseline strategy): their
/// conversation is kept for the group's next batch.
pub(super) fn lone_groups(calls: &[ChatCall], strategy: Strategy) -> Vec<usize> {
    if strategy == Strategy::Sequential {
        return Vec::new();
    }
    let mut counts = std::collections::BTreeMap::new();
    for c in calls {
        *counts.entry(c.group).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .filter(|&(_, n)| n == 1)
        .map(|(g, _)| g)
        .collect()
}

/// What finishing calls updates: the ledger, the replies, each group's prefix tokens, and
/// which groups are lone.
pub(super) type Books<'a> = (
    &'a mut Ledger<Vec<i32>>,
    &'a mut Vec<Reply>,
    &'a mut Vec<Vec<i32>>,
    &'a [usize],
);

/// Retires `finished` calls: outputs recorded, replies remembered, follow-ups queued on the
/// sequences they leave (within `room` cells), a lone call's conversation kept.
pub(super) fn settle(
    finished: Vec<Live>,
    (ctx, model, clock, progress): (&mut LlamaContext<'_>, &LoadedModel, Clock, &dyn Progress),
    (ledger, replies, held, lone): Books<'_>,
    follow_up: FollowUp<'_>,
    room: usize,
) -> anyhow::Result<()> {
    for l in finished {
        let output = output(model, ledger, &l, clock.now_ms(), progress);
        if !output.tokens.is_empty() && output.record.finish != Finish::Error {
            replies.push(Reply {
                text: output.text.clone(),
                ids: output.tokens.clone(),
            });
        }
        let (call, seq) = (l.stream.call, l.stream.seq);
        let group = ledger.entry(call).call.group;
        match ledger.finish(call, seq, output, follow_up) {
            Some(mut next) => {
                // Joins the running batch on the sequence this call leaves.
                next.group = group;
                let with = (model, replies.as_slice());
                let (prompt, cached) = follow_up_prompt(with, &mut next, &held[group], room)?;
                ledger.submit(next, prompt, cached, clock.now_ms());
            }
            // A lone call's conversation is where its group's next batch continues from;
            // kept now, before another call takes the sequence.
            None if lone.contains(&group) => {
                keep(ctx, seq, group)?;
                held[group] = l.stream.in_cache().to_vec();
            }
            None => {}
        }
    }
    Ok(())
}

/// Asks `more` for calls and queues them, and cuts the calls of groups it withdraws; the
/// decode calls the new calls' prefixes took, or `None` when none came.
pub(super) fn take_more(
    more: &mut More<'_>,
    idle: bool,
    (model, replies, strategy): (&LoadedModel, &[Reply], Strategy),
    sink: Sink<'_, '_, '_>,
    (ledger, live): (&mut Ledger<Vec<i32>>, &mut [Live]),
    clock: Clock,
) -> anyhow::Result<Option<usize>> {
    let mut withdrawn = Vec::new();
    let ask = Ask {
        idle,
        continues: &|c| model.check_continuation(c, replies),
        withdrawn: &mut withdrawn,
    };
    let new = more(ask);
    if !withdrawn.is_empty() {
        withdraw(&withdrawn, live, ledger, clock.now_ms());
    }
    if new.is_empty() {
        return Ok(None);
    }
    inject(
        (model, replies, strategy),
        sink,
        ledger,
        new,
        clock.now_ms(),
    )
    .map(Some)
}

/// Puts waiting calls on free sequences while the worst case of every call in flight fits
/// in `cells` beside the `held` prefixes, so no decode finds the cache full (sized so up
/// front for one group; checked here for several). Returns the tokens the grammar forced.
pub(super) fn admit_waiting(
    (ctx, model, sampler): (&mut LlamaContext<'_>, &LoadedModel, (&Sampling, bool, bool)),
    ledger: &mut Ledger<Vec<i32>>,
    live: &mut Vec<Live>,
    (held, cells): (&[Vec<i32>], usize),
    (clock, progress): (Clock, &dyn Progress),
) -> anyhow::Result<usize> {
    let mut forced_tokens = 0;
    while let Some(next) = ledger.next_waiting() {
        let in_flight: usize = live
            .iter()
            .map(|l| cells_needed(ledger.entry(l.stream.call)))
            .sum();
        let used = held.iter().map(Vec::len).sum::<usize>() + in_flight;
        if !live.is_empty() && used + cells_needed(ledger.entry(next)) > cells {
            break;
        }
        let Some(slot) = ledger.admit(clock.now_ms()) else {
            break;
        };
        let e = ledger.entry(slot.0);
        progress.call_started(&e.call);
        let (l, forced) = admit(ctx, model, sampler, e, slot)?;
        forced_tokens += forced;
        live.push(l);
    }
    Ok(forced_tokens)
}

/// Cuts the running calls of `groups` and drops their waiting ones (their outputs empty,
/// finished as errors); the cut calls are settled with the next finished ones.
fn withdraw(groups: &[usize], live: &mut [Live], ledger: &mut Ledger<Vec<i32>>, now: f64) {
    for l in live.iter_mut() {
        if groups.contains(&ledger.entry(l.stream.call).call.group) {
            l.stream.cut();
        }
    }
    ledger.withdraw(|c| groups.contains(&c.group), now);
}

#[cfg(test)]
mod tests {
    use super::fit_budget;

    #[test]
    fn a_follow_up_a_little_too_long_gives_up_part_of_its_budget() {
        assert_eq!(fit_budget(100, 120, 58), Some(58));
        assert_eq!(fit_budget(141, 139, 58), Some(56));
        assert_eq!(fit_budget(139 + 14, 139, 58), Some(44));
        assert_eq!(fit_budget(139 + 15, 139, 58), None);
    }
}
