//! The in-process llama.cpp engine: shared-prefix fork, batched decoding, JSON grammar.
//!
//! One context, one unified KV cache, serves the whole run. Calls come in groups (the
//! calls of one course; a run of one course is one group): sequence `g` holds the prompt
//! prefix shared by group `g`'s calls of a batch, decoded once; each call gets its own
//! sequence, starts from a copy of its group's (its cells are shared, not duplicated) and
//! decodes only its own suffix. With `Strategy::Parallel` all calls share each decode; when memory
//! holds fewer sequences than calls, a finished call's sequence is handed to the next
//! waiting call, and a follow-up call (a regeneration) queues the same way. Every call
//! samples through an llguidance JSON-schema matcher, first in its sampler chain, so
//! replies follow the schema by construction; the tokens the schema forces are fed without
//! sampling (jump-forward), several in one decode.
//!
//! A lone call of its group (the outline) leaves its whole conversation, reply included,
//! in its group's sequence:
//! module prompts that continue that conversation (see `prompt`) find it there and compute
//! only their own turn. Replies are remembered with the token ids they were sampled as, so
//! a prompt that repeats a reply keeps those exact tokens, and the cache stays valid.
//!
//! `model` loads weights, template and grammar; `memory` owns the context and prefixes;
//! `live` is one call being decoded; the loop below is llama.cpp's `examples/batched`.

mod calls;
mod live;
mod memory;
mod model;
pub mod offload;
mod tail;

use anyhow::bail;
use llama_cpp_2::llama_batch::LlamaBatch;

use self::calls::{lone_groups, Env, Run};
pub use self::memory::shared_prefix_len;
use self::memory::{fill_prefixes, group_prefix, GroupPrefix, Memory, Need, N_BATCH};
pub use self::model::LoadedModel;
use self::model::Reply;
use crate::engine::measures::Clock;
use crate::engine::schedule::Ledger;
use crate::engine::stream::BatchEntry;
use crate::engine::{
    BatchStats, CallOutput, ChatCall, ChatMessage, Engine, EngineInfo, FollowUp, More, Progress,
    PromptError, Sampling, Strategy,
};

/// Default cap on KV cells for all sequences together when `--ctx` is not given.
pub const DEFAULT_MAX_CTX: usize = 32_768;
/// Replies remembered for prompts that continue them.
const REMEMBERED_REPLIES: usize = 512;

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
    /// Most tokens a call proposes to check beside its next one (0: no drafts).
    pub draft: usize,
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
    /// Per group of calls, the prompt tokens common to its calls, in its sequence.
    prefixes: Vec<GroupPrefix>,
    /// Calls decoded at once.
    slots: usize,
    /// KV cells each call may use beyond its group's prefix; follow-ups must fit in them.
    own_cells: usize,
    /// Groups with one call: their conversation is kept for their next batch.
    lone: Vec<usize>,
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

    /// How many contexts this engine has created (1 when sizing up front worked).
    pub fn contexts_created(&self) -> usize {
        self.memory.contexts_created
    }

    /// Tokenizes and queues `calls`, sizes memory, and decides the prefix each group shares
    /// and how much of it its sequence already holds.
    fn prepare(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        start: f64,
        open: bool,
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
        let (plan, first_seq) = self.plan_batch(&calls, &prompts, strategy, open)?;
        let mut ledger = Ledger::new(first_seq as i32..(first_seq + plan.slots) as i32);
        for (call, prompt) in calls.into_iter().zip(prompts) {
            let shared = plan
                .prefixes
                .iter()
                .find(|p| p.group == call.group)
                .map_or(0, |p| p.tokens.len());
            ledger.submit(call, prompt, shared, start);
        }
        Ok((ledger, plan))
    }

    /// Sizes memory for `calls` and decides what each group shares; returns the plan and
    /// the first call sequence. An `open` batch gets every sequence memory has.
    fn plan_batch(
        &mut self,
        calls: &[ChatCall],
        prompts: &[Vec<i32>],
        strategy: Strategy,
        open: bool,
    ) -> anyhow::Result<(BatchPlan, usize)> {
        let mut groups: Vec<usize> = calls.iter().map(|c| c.group).collect();
        groups.sort_unstable();
        groups.dedup();
        let prefixes: Vec<GroupPrefix> = groups
            .iter()
            .map(|&g| {
                let mine: Vec<&[i32]> = calls
                    .iter()
                    .zip(prompts)
                    .filter(|(c, _)| c.group == g)
                    .map(|(_, p)| p.as_slice())
                    .collect();
                group_prefix(g, strategy, self.memory.held(g), &mine)
            })
            .collect();
        let shared_of = |g: usize| {
            prefixes
                .iter()
                .find(|p| p.group == g)
                .map_or(0, |p| p.tokens.len())
        };
        let need_of = |(c, p): (&ChatCall, &Vec<i32>)| p.len() + c.max_tokens as usize;
        let seq = calls.iter().zip(prompts).map(need_of).max().unwrap_or(1);
        let own = calls
            .iter()
            .zip(prompts)
            .map(|(c, p)| need_of((c, p)) - shared_of(c.group))
            .max()
            .unwrap_or(1);
        let mut shared: usize = prefixes.iter().map(|p| p.tokens.len()).sum();
        let lone = lone_groups(calls, strategy);
        if groups.len() > 1 {
            // A lone call's conversation stays in its group's sequence while the call's own
            // sequence goes to another group's call.
            shared += own * lone.len();
        }
        let need = Need {
            seq,
            shared,
            own,
            wanted: strategy.width(calls.len()),
            groups: groups.last().map_or(1, |g| g + 1),
        };
        let layout = memory::plan(self.model.n_ctx_train(), self.opts.max_ctx, need)?;
        let layout = self.memory.ensure(self.model, self.opts.threads, layout)?;
        let plan = BatchPlan {
            prefixes,
            // An open batch may take every sequence for the calls still to come.
            slots: match (open, strategy) {
                (true, Strategy::Parallel) => layout.slots,
                _ => layout.slots.min(need.wanted),
            },
            own_cells: own,
            lone,
        };
        Ok((plan, layout.groups))
    }
}

impl BatchPlan {
    /// The batch's figures before anything runs.
    fn stats(&self) -> BatchStats {
        let shared: usize = self.prefixes.iter().map(|p| p.tokens.len()).sum();
        let reused: usize = self.prefixes.iter().map(|p| p.reused).sum();
        BatchStats {
            shared_prefix_tokens: shared,
            reused_prefix_tokens: reused,
            computed_prefix_tokens: shared - reused,
            ..BatchStats::default()
        }
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
            device: Some(self.model.device().clone()),
        }
    }

    fn reserve(
        &mut self,
        like: &ChatCall,
        extra_prompt_tokens: usize,
        sequences: usize,
        groups: usize,
    ) -> anyhow::Result<()> {
        let prompt = self.model.tokenize_chat(&like.messages)?.len();
        // The shared prefix is not known yet: size as if nothing were shared, no call
        // beyond what the model was trained for. Several groups (courses at once) each keep
        // a conversation of at most one call's size beside the calls.
        let train = self.model.n_ctx_train();
        let seq = (prompt + extra_prompt_tokens + like.max_tokens as usize).min(train);
        let mut layout = memory::plan(
            train,
            self.opts.max_ctx,
            Need {
                seq,
                shared: 0,
                own: seq,
                wanted: sequences,
                groups,
            },
        )?;
        if groups > 1 {
            // Every conversation kept and one call beside them must fit; the rest of the
            // cells go to calls while their worst case fits (admission in `run_loop`).
            let least = (groups + 1) * seq;
            if least > self.opts.max_ctx {
                bail!(
                    "{groups} courses at once need up to {least} tokens of context; raise --ctx to at least that, or write fewer courses at once (batch --courses-at-once, serve --concurrent)"
                );
            }
            layout = memory::whole(self.opts.max_ctx, seq, sequences, groups);
        }
        self.memory
            .ensure(self.model, self.opts.threads, layout)
            .map(|_| ())
    }

    fn continues(&mut self, conversation: &[ChatMessage]) -> Result<(), PromptError> {
        self.model.check_continuation(conversation, &self.replies)
    }

    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        self.run_loop(calls, strategy, progress, follow_up, None)
    }

    fn run_open(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
        more: More<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        self.run_loop(calls, strategy, progress, follow_up, Some(more))
    }
}

impl LlamaEngine<'_> {
    /// The decode loop of a batch, open to further calls from `more` when given.
    fn run_loop(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
        mut more: Option<More<'_>>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        let start = self.clock.now_ms();
        let (ledger, plan) = self.prepare(calls, strategy, start, more.is_some())?;
        let (model, opts, clock) = (self.model, self.opts, self.clock);
        let env = Env {
            model,
            sampling: opts.sampling,
            grammar: (opts.grammar, opts.jump_forward),
            draft: opts.draft,
            strategy,
            clock,
            progress,
        };
        let replies = std::mem::take(&mut self.replies);
        let (ctx, layout) = self.memory.start_batch(&plan.prefixes)?;
        let mut run = Run {
            ctx,
            batch: LlamaBatch::new(N_BATCH, 1),
            ledger,
            live: Vec::new(),
            replies,
            held: vec![Vec::new(); layout.groups],
            lone: plan.lone.clone(),
            cells: layout.cells,
            // An open batch's calls come later: their prefixes are planned as they come.
            room: more.as_ref().map_or(plan.own_cells, |_| usize::MAX),
            stats: plan.stats(),
        };
        for p in &plan.prefixes {
            run.held[p.group] = p.tokens.clone();
        }
        let t = clock.now_ms();
        run.stats.decode_calls += fill_prefixes(run.ctx, &mut run.batch, &plan.prefixes)?;
        run.stats.decode_ms += clock.now_ms() - t;

        let mut entries: Vec<BatchEntry> = Vec::with_capacity(N_BATCH);
        loop {
            run.admit_waiting(&env)?;
            if let Some(more) = more.as_mut() {
                if run.take_more(&env, more)? {
                    continue;
                }
            }
            if run.live.is_empty() {
                break;
            }
            run.step(&env, &mut entries)?;
            run.settle(&env, follow_up)?;
        }
        let Run {
            held,
            mut replies,
            ledger,
            mut stats,
            ..
        } = run;
        for (group, tokens) in held.iter().enumerate() {
            self.memory.kept(group, tokens);
        }
        let extra = replies.len().saturating_sub(REMEMBERED_REPLIES);
        replies.drain(..extra);
        self.replies = replies;
        stats.wall_ms = clock.now_ms() - start;
        Ok((ledger.into_outputs()?, stats))
    }
}
