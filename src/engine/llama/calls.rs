//! A running batch and what happens to its calls at each point of the decode loop:
//! admitted to a sequence, sampled, finished, followed up, or joining the batch while it
//! runs. `Env` is what stays fixed while a batch decodes; `Run` is the batch's state.

use anyhow::bail;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;

use super::live::Live;
use super::memory::{decode, fill_prefixes, group_prefix, keep, N_BATCH};
use super::model::{LoadedModel, Reply};
use super::tail::Tail;
use crate::engine::draft::Drafter;
use crate::engine::measures::call_label;
use crate::engine::measures::{Clock, Finish};
use crate::engine::schedule::{Entry, Ledger};
use crate::engine::stream::{common_len, BatchEntry, Stream};
use crate::engine::{
    Ask, BatchStats, CallOutput, ChatCall, Fit, FollowUp, More, Phase, Progress, PromptError,
    Sampling, Strategy,
};

/// What stays fixed while a batch decodes.
pub(super) struct Env<'a> {
    /// The model.
    pub model: &'a LoadedModel,
    /// Sampling settings.
    pub sampling: Sampling,
    /// Constrain replies to their schema; feed the tokens it forces without sampling.
    pub grammar: (bool, bool),
    /// Most tokens a call proposes to check beside its next one (0: no drafts).
    pub draft: usize,
    /// How calls share decodes.
    pub strategy: Strategy,
    /// The clock calls are timed on.
    pub clock: Clock,
    /// Where progress goes.
    pub progress: &'a dyn Progress,
}

/// A running batch: its context, calls waiting and live, the replies it remembers, each
/// group's prefix in its sequence, and its figures.
pub(super) struct Run<'c, 'm> {
    /// The context whose KV cache holds every sequence.
    pub ctx: &'c mut LlamaContext<'m>,
    /// The llama.cpp batch each decode fills.
    pub batch: LlamaBatch<'static>,
    /// Every call of the batch, waiting, live or done.
    pub ledger: Ledger<Vec<i32>>,
    /// Calls being decoded, on their sequences.
    pub live: Vec<Live>,
    /// Replies with the token ids they were sampled as.
    pub replies: Vec<Reply>,
    /// Per group, the tokens its sequence holds (its prefix or kept conversation).
    pub held: Vec<Vec<i32>>,
    /// Groups with one call: their conversation is kept for their next batch.
    pub lone: Vec<usize>,
    /// KV cells for all sequences together.
    pub cells: usize,
    /// Cells a follow-up may take beyond its group's prefix.
    pub room: usize,
    /// The batch's figures.
    pub stats: BatchStats,
}

impl Run<'_, '_> {
    /// Puts waiting calls on free sequences while the worst case of every call in flight
    /// fits in the cache beside the held prefixes, so no decode finds the cache full (sized
    /// so up front for one group; checked here for several).
    pub fn admit_waiting(&mut self, env: &Env<'_>) -> anyhow::Result<()> {
        while let Some(next) = self.ledger.next_waiting() {
            let in_flight: usize = self
                .live
                .iter()
                .map(|l| cells_needed(self.ledger.entry(l.stream.call)))
                .sum();
            let used = self.held.iter().map(Vec::len).sum::<usize>() + in_flight;
            if !self.live.is_empty() && used + cells_needed(self.ledger.entry(next)) > self.cells {
                break;
            }
            let Some((index, seq)) = self.ledger.admit(env.clock.now_ms()) else {
                break;
            };
            let e = self.ledger.entry(index);
            env.progress.call_started(&e.call);
            let (l, forced) = admit(self.ctx, env, e, index, seq)?;
            self.stats.forced_tokens += forced;
            self.live.push(l);
        }
        Ok(())
    }

    /// Asks `more` for calls and queues them, and cuts the calls of groups it withdraws;
    /// whether any came.
    pub fn take_more(&mut self, env: &Env<'_>, more: &mut More<'_>) -> anyhow::Result<bool> {
        let mut withdrawn = Vec::new();
        let replies = &self.replies;
        let window = self.window(env);
        let ask = Ask {
            idle: self.live.is_empty(),
            continues: &|c| env.model.check_continuation(c, replies),
            measure: &|m| {
                let prompt = env
                    .model
                    .prompt_ids(m, replies)
                    .map_err(|e| PromptError::Template(format!("{e:#}")))?;
                Ok(Fit {
                    prompt_tokens: prompt.len(),
                    window,
                })
            },
            withdrawn: &mut withdrawn,
        };
        let new = more(ask);
        if !withdrawn.is_empty() {
            self.withdraw(&withdrawn, env.clock.now_ms());
        }
        if new.is_empty() {
            return Ok(false);
        }
        self.stats.decode_calls += self.inject(env, new)?;
        Ok(true)
    }

    /// Prompt and reply tokens one call may take so that, with every group holding a
    /// conversation that size, it always fits: the room a call of an open run is held to.
    fn window(&self, env: &Env<'_>) -> usize {
        (self.cells / (self.held.len() + 1)).min(env.model.n_ctx_train())
    }

    /// One decode of every live call's next tokens, then their sampling.
    pub fn step(&mut self, env: &Env<'_>, entries: &mut Vec<BatchEntry>) -> anyhow::Result<()> {
        self.stats.max_parallel = self.stats.max_parallel.max(self.live.len());
        entries.clear();
        let mut scratch = Vec::new();
        let streams = self.live.len();
        for l in &mut self.live {
            if env.draft > 0 {
                l.draft(streams, &mut scratch);
            }
            let budget = N_BATCH - entries.len();
            l.stream.fill(entries, budget);
        }
        let t = env.clock.now_ms();
        if !entries.is_empty() {
            decode(self.ctx, &mut self.batch, entries)?;
        }
        let now = env.clock.now_ms();
        self.stats.decode_ms += now - t;
        self.stats.decode_calls += 1;
        self.sample_all(env, now)
    }

    /// Samples every call that has logits after the decode at `now`: marks its first
    /// token, reports progress, counts the tokens the grammar forced.
    /// Drafted tokens the sampling did not take leave the sequence.
    fn sample_all(&mut self, env: &Env<'_>, now: f64) -> anyhow::Result<()> {
        for l in &mut self.live {
            let Some(s) = l.sample(self.ctx, env.model) else {
                continue;
            };
            self.stats.forced_tokens += s.forced;
            if let Some(c) = s.checked {
                self.stats.drafted_tokens += c.proposed;
                self.stats.accepted_draft_tokens += c.accepted;
                if let Some(pos) = c.drop_from {
                    self.ctx.clear_kv_cache_seq(
                        Some(l.stream.seq as u32),
                        Some(pos as u32),
                        None,
                    )?;
                }
            }
            let e = self.ledger.entry_mut(l.stream.call);
            e.marks.prompt_done.get_or_insert(now);
            if !s.eog {
                e.marks.first_token.get_or_insert(env.clock.now_ms());
            }
            env.progress
                .tokens(e.call.phase, e.call.index, l.stream.generated().len());
        }
        Ok(())
    }

    /// Retires the calls that finished: outputs recorded, replies remembered, follow-ups
    /// queued on the sequences they leave, a lone call's conversation kept.
    pub fn settle(&mut self, env: &Env<'_>, follow_up: FollowUp<'_>) -> anyhow::Result<()> {
        // Partition keeps the batch order stable: same inputs, same batch layout.
        let (finished, running): (Vec<Live>, Vec<Live>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|l| l.stream.finish().is_some());
        self.live = running;
        for mut l in finished {
            let output = self.output(env, &mut l);
            if !output.tokens.is_empty() && output.record.finish != Finish::Error {
                self.replies.push(Reply {
                    text: output.text.clone(),
                    ids: output.tokens.clone(),
                });
            }
            let (call, seq) = (l.stream.call, l.stream.seq);
            let group = self.ledger.entry(call).call.group;
            match self.ledger.finish(call, seq, output, follow_up) {
                Some(mut next) => {
                    // Joins the running batch on the sequence this call leaves.
                    next.group = group;
                    let (prompt, cached) = self.follow_up_prompt(env, &mut next)?;
                    self.ledger.submit(next, prompt, cached, env.clock.now_ms());
                }
                // A lone call's conversation is where its group's next batch continues
                // from; kept now, before another call takes the sequence.
                None if self.lone.contains(&group) => {
                    keep(self.ctx, seq, group)?;
                    self.held[group] = l.stream.in_cache().to_vec();
                }
                None => {}
            }
        }
        Ok(())
    }

    /// A call's output once its stream has finished, marked done now.
    fn output(&mut self, env: &Env<'_>, l: &mut Live) -> CallOutput {
        let e = self.ledger.entry_mut(l.stream.call);
        e.marks.done = env.clock.now_ms();
        let generated = l.stream.generated();
        let finish = l
            .stream
            .finish()
            .expect("only finished streams are retired");
        let record = e.record(e.prompt.len(), generated.len(), finish);
        env.progress.call_finished(&record);
        let tokens = generated.to_vec();
        CallOutput {
            text: l.text(env.model),
            tokens,
            record,
        }
    }

    /// A follow-up's prompt and how much of it its group's sequence holds, fitted to the
    /// room its batch planned.
    fn follow_up_prompt(
        &self,
        env: &Env<'_>,
        next: &mut ChatCall,
    ) -> anyhow::Result<(Vec<i32>, usize)> {
        let prompt = env.model.prompt_ids(&next.messages, &self.replies)?;
        if prompt.is_empty() {
            bail!(
                "the model's tokenizer turned a prompt into no tokens; its vocabulary cannot be used"
            );
        }
        let prefix = &self.held[next.group];
        let cached = common_len(prefix, &prompt).min(prompt.len().saturating_sub(1));
        let room = env.model.n_ctx_train().saturating_sub(prompt.len()) as u32;
        next.max_tokens = next.max_tokens.min(room).max(1);
        let need = prompt.len() - cached + next.max_tokens as usize;
        match fit_budget(need, self.room, next.max_tokens) {
            Some(budget) => next.max_tokens = budget,
            None => bail!(
                "a regeneration of {} needs {need} tokens of context beyond the shared prompt, \
                 more than its batch planned ({})",
                call_label(next.phase, next.index),
                self.room
            ),
        }
        Ok((prompt, cached))
    }

    /// Queues calls that join the running batch: each group's common prefix computed into
    /// its sequence first (unless held already); returns the decode calls made.
    fn inject(&mut self, env: &Env<'_>, calls: Vec<ChatCall>) -> anyhow::Result<usize> {
        let mut groups: Vec<usize> = calls.iter().map(|c| c.group).collect();
        groups.dedup();
        let mut decodes = 0;
        let train = env.model.n_ctx_train();
        let window = self.window(env);
        let now = env.clock.now_ms();
        for g in groups {
            if g >= self.held.len() {
                bail!(
                    "a call of group {g} came, but memory was sized for {}",
                    self.held.len()
                );
            }
            let mine: Vec<ChatCall> = calls.iter().filter(|c| c.group == g).cloned().collect();
            let mut prompts = Vec::with_capacity(mine.len());
            for c in &mine {
                let p = env.model.prompt_ids(&c.messages, &self.replies)?;
                if p.is_empty() {
                    bail!("the model's tokenizer turned a prompt into no tokens; its vocabulary cannot be used");
                }
                prompts.push(p);
            }
            let lone = env.strategy != Strategy::Sequential && prompts.len() == 1;
            if lone {
                self.borrow_prefix(g, &prompts[0])?;
            }
            let refs: Vec<&[i32]> = prompts.iter().map(Vec::as_slice).collect();
            let prefix = group_prefix(g, env.strategy, &self.held[g], &refs);
            self.lone.retain(|&x| x != g);
            if lone {
                self.lone.push(g);
            }
            if prefix.reused < prefix.tokens.len() {
                self.ctx
                    .clear_kv_cache_seq(Some(g as u32), Some(prefix.reused as u32), None)?;
                decodes += fill_prefixes(self.ctx, &mut self.batch, std::slice::from_ref(&prefix))?;
                self.held[g] = prefix.tokens.clone();
            }
            let cached = prefix.tokens.len();
            for (mut call, prompt) in mine.into_iter().zip(prompts) {
                // A chat of the Ollama or OpenAI API was sized by its caller to the window;
                // held to it here too, as its conversation may stay in the cache.
                let limit = if call.phase == Phase::Chat {
                    window
                } else {
                    train
                };
                let room = limit.saturating_sub(prompt.len()) as u32;
                call.max_tokens = call.max_tokens.min(room).max(1);
                self.ledger.submit(call, prompt, cached, now);
            }
        }
        Ok(decodes)
    }

    /// Gives group `g` the start of `prompt` another group's sequence holds, when that is
    /// longer than what its own holds: the cells are tagged for `g` too, not computed again.
    /// Requests of `serve` that begin alike (the same instructions, the same conversation)
    /// land in different groups.
    fn borrow_prefix(&mut self, g: usize, prompt: &[i32]) -> anyhow::Result<()> {
        let most = prompt.len().saturating_sub(1);
        let own = common_len(&self.held[g], prompt).min(most);
        let best = self
            .held
            .iter()
            .enumerate()
            .filter(|&(h, _)| h != g)
            .map(|(h, held)| (h, common_len(held, prompt).min(most)))
            .max_by_key(|&(_, n)| n);
        let Some((h, n)) = best.filter(|&(_, n)| n >= own + MIN_BORROWED) else {
            return Ok(());
        };
        self.ctx.clear_kv_cache_seq(Some(g as u32), None, None)?;
        self.ctx
            .copy_kv_cache_seq(h as i32, g as i32, None, Some(n as u32))?;
        self.held[g] = self.held[h][..n].to_vec();
        self.stats.borrowed_prefix_tokens += n;
        Ok(())
    }

    /// Cuts the running calls of `groups` and drops their waiting ones (their outputs
    /// empty, finished as errors); the cut calls are settled with the next finished ones.
    fn withdraw(&mut self, groups: &[usize], now: f64) {
        for l in self.live.iter_mut() {
            if groups.contains(&self.ledger.entry(l.stream.call).call.group) {
                l.stream.cut();
            }
        }
        self.ledger.withdraw(|c| groups.contains(&c.group), now);
    }
}

/// Fewest tokens worth taking from another group's sequence instead of its own.
const MIN_BORROWED: usize = 16;

/// A follow-up's reply budget within its sequence's `own` cells when it `need`s more: a
/// prompt worded anew (an item asked again) may be a few tokens longer than the first, and
/// a budget counts 3 characters a token where text runs 3-4, so a quarter can be given up.
fn fit_budget(need: usize, own: usize, budget: u32) -> Option<u32> {
    let over = u32::try_from(need.saturating_sub(own)).ok()?;
    (over <= budget / 4).then(|| budget - over)
}

/// Puts call `i` on sequence `seq`: its group's prefix tagged with `seq`, a fresh sampler;
/// returns it with the tokens its grammar forced at once.
fn admit(
    ctx: &mut LlamaContext<'_>,
    env: &Env<'_>,
    e: &Entry<Vec<i32>>,
    i: usize,
    seq: i32,
) -> anyhow::Result<(Live, usize)> {
    ctx.clear_kv_cache_seq(Some(seq as u32), None, None)?;
    if e.cached > 0 {
        // Same KV stream: the copy only tags the prefix cells with `seq`.
        ctx.copy_kv_cache_seq(e.call.group as i32, seq, None, Some(e.cached as u32))?;
    }
    let (grammar, jump_forward) = env.grammar;
    // A call of the Ollama or OpenAI API may ask for free text and its own sampling.
    let grammar = grammar && !e.call.schema.is_null();
    let sampling = e.call.options.sampling.unwrap_or(env.sampling);
    let (sampler, guide) = env
        .model
        .sampler(&e.call, &sampling, grammar, jump_forward)?;
    let stream = Stream::new(
        i,
        seq,
        e.prompt.clone(),
        e.cached,
        e.call.max_tokens as usize,
    );
    Ok(Live::new(
        stream,
        sampler,
        guide,
        Tail::new(&e.call.options),
        Drafter::new(env.draft),
    ))
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
