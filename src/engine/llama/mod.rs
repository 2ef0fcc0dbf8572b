//! The in-process llama.cpp engine: shared-prefix fork, batched decoding, JSON grammar.
//!
//! One context, one unified KV cache, serves the whole run. Sequence 0 holds the prompt
//! prefix shared by every call of a batch, decoded once; each call gets its own sequence,
//! starts from a copy of sequence 0 (its cells are shared, not duplicated) and decodes
//! only its own suffix. With `Strategy::Parallel` all calls share each decode; when memory
//! holds fewer sequences than calls, a finished call's sequence is handed to the next
//! waiting call, and a follow-up call (a regeneration) queues the same way. Every call
//! samples through an llguidance JSON-schema matcher, first in its sampler chain, so
//! replies follow the schema by construction; the tokens the schema forces are fed without
//! sampling (jump-forward), several in one decode.
//!
//! A lone call (the outline) leaves its whole conversation, reply included, in sequence 0:
//! module prompts that continue that conversation (see `prompt`) find it there and compute
//! only their own turn. Replies are remembered with the token ids they were sampled as, so
//! a prompt that repeats a reply keeps those exact tokens, and the cache stays valid.
//!
//! `model` loads weights, template and grammar; `memory` owns the context and sequence 0;
//! `live` is one call being decoded; the loop below is llama.cpp's `examples/batched`.

mod live;
mod memory;
mod model;

use anyhow::bail;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;

use self::live::Live;
pub use self::memory::shared_prefix_len;
use self::memory::{common_len, decode, fill_prefix, Memory, N_BATCH, PREFIX_SEQ};
pub use self::model::LoadedModel;
use self::model::Reply;
use super::schedule::{Entry, Ledger};
use super::stream::{BatchEntry, Stream};
use super::{
    BatchStats, CallOutput, ChatCall, ChatMessage, Engine, EngineInfo, FollowUp, Progress,
    Sampling, Strategy,
};
use crate::report::call_label;
use crate::timing::Clock;

/// Default cap on KV cells for all sequences together when `--ctx` is not given.
pub const DEFAULT_MAX_CTX: usize = 32_768;
/// Replies remembered for prompts that continue them.
const REMEMBERED_REPLIES: usize = 8;

/// Settings of the llama.cpp engine.
#[derive(Debug, Clone, Copy)]
pub struct LlamaOptions {
    /// Threads for prompt processing and generation.
    pub threads: usize,
    /// Cap on KV cells for all sequences together (`--ctx`).
    pub max_ctx: usize,
    /// Sampling settings.
    pub sampling: Sampling,
    /// Constrain replies to their schema (off only to measure the grammar's cost).
    pub grammar: bool,
    /// Feed the tokens the grammar forces without sampling them (off only to measure).
    pub jump_forward: bool,
}

/// The in-process engine over a loaded model.
pub struct LlamaEngine<'m> {
    model: &'m LoadedModel,
    opts: LlamaOptions,
    clock: Clock,
    memory: Memory<'m>,
    /// The latest replies, with the token ids they were sampled as.
    replies: Vec<Reply>,
}

/// What a batch shares and how much room each call has beside it.
struct BatchPlan {
    /// Prompt tokens common to every call, kept in sequence 0.
    prefix: Vec<i32>,
    /// Of those, tokens sequence 0 already holds.
    reused: usize,
    /// `prefix.len()`.
    shared: usize,
    /// Calls decoded at once.
    slots: usize,
    /// KV cells each call may use beyond the shared prefix; follow-ups must fit in them.
    own_cells: usize,
}

impl<'m> LlamaEngine<'m> {
    /// An engine over `model`; times are read from `clock`.
    pub fn new(model: &'m LoadedModel, opts: LlamaOptions, clock: Clock) -> Self {
        Self {
            model,
            opts,
            clock,
            memory: Memory::default(),
            replies: Vec::new(),
        }
    }

    /// The token ids the engine would decode for `messages` (a reply of this engine that
    /// they repeat keeps its sampled ids).
    pub fn prompt_tokens(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<i32>> {
        self.model.prompt_ids(messages, &self.replies)
    }

    /// Remembers the replies of `outputs` for prompts that continue them.
    fn remember(&mut self, outputs: &[CallOutput]) {
        for o in outputs.iter().filter(|o| !o.tokens.is_empty()) {
            self.replies.push(Reply {
                text: o.text.clone(),
                ids: o.tokens.clone(),
            });
        }
        let extra = self.replies.len().saturating_sub(REMEMBERED_REPLIES);
        self.replies.drain(..extra);
    }

    /// How many contexts this engine has created (1 when sizing up front worked).
    pub fn contexts_created(&self) -> usize {
        self.memory.contexts_created
    }

    /// Tokenizes and queues `calls`, sizes memory, and decides the prefix they share and
    /// how much of it sequence 0 already holds.
    fn prepare(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        start: f64,
    ) -> anyhow::Result<(Ledger<Vec<i32>>, BatchPlan)> {
        let prompts: Vec<Vec<i32>> = calls
            .iter()
            .map(|c| self.model.prompt_ids(&c.messages, &self.replies))
            .collect::<anyhow::Result<_>>()?;
        if prompts.iter().any(Vec::is_empty) {
            bail!("the model's tokenizer turned a prompt into no tokens; its vocabulary cannot be used");
        }
        // A model trained on a short context gets budgets that fit it, not a refusal: most
        // replies end well before the schema's worst case.
        let train = self.model.n_ctx_train();
        let calls: Vec<ChatCall> = calls
            .iter()
            .zip(&prompts)
            .map(|(c, p)| ChatCall {
                max_tokens: c
                    .max_tokens
                    .min(train.saturating_sub(p.len()) as u32)
                    .max(1),
                ..c.clone()
            })
            .collect();
        let calls = &calls[..];
        let mut plan = self.plan_batch(calls, &prompts, strategy)?;
        plan.prefix = prompts
            .first()
            .map_or(&[][..], |p| &p[..plan.shared])
            .to_vec();
        // The baseline strategy never reuses anything.
        plan.reused = match strategy {
            Strategy::Sequential => 0,
            _ => self.memory.reusable(&plan.prefix),
        };
        let mut ledger = Ledger::new(1..=plan.slots as i32);
        for (call, prompt) in calls.iter().zip(prompts) {
            ledger.submit(call.clone(), prompt, plan.shared, start);
        }
        Ok((ledger, plan))
    }

    /// Sizes memory for `calls` and decides what they share.
    fn plan_batch(
        &mut self,
        calls: &[ChatCall],
        prompts: &[Vec<i32>],
        strategy: Strategy,
    ) -> anyhow::Result<BatchPlan> {
        let shared = match (strategy, prompts) {
            (Strategy::Sequential, _) | (_, []) => 0,
            (_, [one]) => {
                // A lone call (a regeneration, say) shares what the last batch left.
                self.memory.reusable(one).min(one.len().saturating_sub(1))
            }
            _ => shared_prefix_len(prompts),
        };
        let seq_need = calls
            .iter()
            .zip(prompts)
            .map(|(c, p)| p.len() + c.max_tokens as usize)
            .max()
            .unwrap_or(1);
        let wanted = strategy.width(calls.len());
        let train = self.model.n_ctx_train();
        let layout = memory::plan(train, self.opts.max_ctx, seq_need, shared, wanted)?;
        let layout = self.memory.ensure(self.model, self.opts.threads, layout)?;
        Ok(BatchPlan {
            prefix: Vec::new(),
            reused: 0,
            shared,
            slots: layout.slots.min(wanted),
            own_cells: seq_need - shared,
        })
    }
}

impl BatchPlan {
    /// The batch's figures before anything runs.
    fn stats(&self) -> BatchStats {
        BatchStats {
            shared_prefix_tokens: self.shared,
            reused_prefix_tokens: self.reused,
            computed_prefix_tokens: self.shared - self.reused,
            ..BatchStats::default()
        }
    }
}

/// Samples every call that has logits after the decode at `now`: marks its first token,
/// reports progress; returns the tokens the grammar forced.
fn sample_all(
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

/// A follow-up's prompt and how much of it sequence 0 holds, checked against its room.
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
    if need > own_cells {
        bail!(
            "a regeneration of {} needs {need} tokens of context beyond the shared prompt, \
             more than its batch planned ({own_cells})",
            call_label(next.phase, next.index)
        );
    }
    Ok((prompt, cached))
}

/// Puts call `i` on sequence `seq`: the shared prefix tagged with `seq`, a fresh sampler.
fn admit(
    ctx: &mut LlamaContext<'_>,
    model: &LoadedModel,
    opts: &LlamaOptions,
    e: &Entry<Vec<i32>>,
    (i, seq): (usize, i32),
) -> anyhow::Result<(Live, usize)> {
    ctx.clear_kv_cache_seq(Some(seq as u32), None, None)?;
    if e.cached > 0 {
        // Same KV stream: the copy only tags the prefix cells with `seq`.
        ctx.copy_kv_cache_seq(PREFIX_SEQ, seq, None, Some(e.cached as u32))?;
    }
    let (sampler, guide) =
        model.sampler(&e.call, &opts.sampling, opts.grammar, opts.jump_forward)?;
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

impl Engine for LlamaEngine<'_> {
    fn info(&self) -> EngineInfo {
        let r = self.model.resolved();
        EngineInfo {
            backend: "llama".into(),
            model: r.name.clone(),
            path: Some(r.path.display().to_string()),
            size_bytes: Some(r.info.file_size),
            quantization: r.info.quantization().map(str::to_string),
            chat_template: Some(self.model.template_name().to_string()),
            threads: self.opts.threads,
        }
    }

    fn reserve(
        &mut self,
        like: &ChatCall,
        extra_prompt_tokens: usize,
        sequences: usize,
    ) -> anyhow::Result<()> {
        let prompt = self.model.tokenize_chat(&like.messages)?.len();
        // The shared prefix is not known yet: size as if nothing were shared, no call
        // beyond what the model was trained for.
        let train = self.model.n_ctx_train();
        let need = (prompt + extra_prompt_tokens + like.max_tokens as usize).min(train);
        let layout = memory::plan(train, self.opts.max_ctx, need, 0, sequences)?;
        self.memory
            .ensure(self.model, self.opts.threads, layout)
            .map(|_| ())
    }

    fn continues(&mut self, conversation: &[ChatMessage]) -> Result<(), String> {
        self.model.check_continuation(conversation, &self.replies)
    }

    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        let start = self.clock.now_ms();
        let (mut ledger, plan) = self.prepare(calls, strategy, start)?;
        let (prefix, reused) = (&plan.prefix, plan.reused);
        let mut stats = plan.stats();
        let (model, opts, clock, replies) = (self.model, self.opts, self.clock, &self.replies);
        let mut batch = LlamaBatch::new(N_BATCH, 1);
        let ctx = self.memory.start_batch(prefix, reused)?;
        let t = clock.now_ms();
        stats.decode_calls += fill_prefix(ctx, &mut batch, prefix, reused)?;
        stats.decode_ms += clock.now_ms() - t;

        let mut entries: Vec<BatchEntry> = Vec::with_capacity(N_BATCH);
        let mut live: Vec<Live> = Vec::with_capacity(plan.slots);
        let mut last = None;
        loop {
            while let Some(slot) = ledger.admit(clock.now_ms()) {
                let e = ledger.entry(slot.0);
                progress.call_started(&e.call);
                let (l, forced) = admit(ctx, model, &opts, e, slot)?;
                stats.forced_tokens += forced;
                live.push(l);
            }
            if live.is_empty() {
                break;
            }
            stats.max_parallel = stats.max_parallel.max(live.len());
            entries.clear();
            for l in &mut live {
                let budget = N_BATCH - entries.len();
                l.stream.fill(&mut entries, budget);
            }
            let t = clock.now_ms();
            decode(ctx, &mut batch, &entries)?;
            let now = clock.now_ms();
            (stats.decode_ms, stats.decode_calls) =
                (stats.decode_ms + now - t, stats.decode_calls + 1);
            stats.forced_tokens +=
                sample_all(ctx, model, &mut live, &mut ledger, (clock, now), progress);
            // Partition keeps the batch order stable: same inputs, same batch layout.
            let (finished, running): (Vec<Live>, Vec<Live>) =
                live.into_iter().partition(|l| l.stream.finish().is_some());
            live = running;
            for l in finished {
                let output = output(model, &mut ledger, &l, clock.now_ms(), progress);
                last = Some((l.stream.seq, l.stream.in_cache().to_vec()));
                if let Some(mut next) =
                    ledger.finish(l.stream.call, l.stream.seq, output, follow_up)
                {
                    // Joins the running batch on the sequence this call leaves.
                    let with = (model, replies.as_slice());
                    let (prompt, cached) =
                        follow_up_prompt(with, &mut next, prefix, plan.own_cells)?;
                    ledger.submit(next, prompt, cached, clock.now_ms());
                }
            }
        }
        // A lone call's conversation is where the next batch continues from.
        if let (Some((seq, tokens)), false) =
            (last, strategy == Strategy::Sequential || calls.len() > 1)
        {
            self.memory.keep(seq, &tokens)?;
        }
        stats.wall_ms = clock.now_ms() - start;
        let outputs = ledger.into_outputs()?;
        self.remember(&outputs);
        Ok((outputs, stats))
    }
}
