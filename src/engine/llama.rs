//! The in-process llama.cpp engine: shared-prefix fork, batched decoding, JSON grammar.
//!
//! One context, one unified KV cache, serves the whole run. Sequence 0 holds the prompt
//! prefix shared by every call of a batch, decoded once; each call gets its own sequence,
//! starts from a copy of sequence 0 (its cells are shared, not duplicated) and decodes
//! only its own suffix. With `Strategy::Parallel` all calls share each decode;
//! when memory holds fewer sequences than calls, a finished call's sequence is handed to
//! the next waiting call, and a follow-up call (a regeneration) queues the same way. Every
//! call samples through an llguidance JSON-schema matcher, first in its sampler chain, so
//! replies follow the schema by construction; the tokens the schema forces are fed without
//! sampling (jump-forward), several in one decode.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context as _};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{TokEnv, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};

use super::stream::{BatchEntry, Stream};
use super::{
    call_label, BatchStats, CallOutput, ChatCall, Engine, EngineInfo, FollowUp, Progress, Sampling,
    Strategy,
};
use crate::models::ResolvedModel;
use crate::prompt::ChatMessage;
use crate::timing::{CallMarks, CallRecord, CallTokens, Clock};

/// Sequence id that holds the shared prefix.
const PREFIX_SEQ: i32 = 0;
/// Tokens per decode call (prompt chunks and generation steps alike).
const N_BATCH: usize = 512;
/// KV cells are allocated per sequence in multiples of this (llama.cpp pads to 256).
const SEQ_ALIGN: usize = 256;
/// Reply tokens the DRY sampler looks back over.
const DRY_LAST_N: i32 = 1024;
/// Default cap on KV cells for all sequences together when `--ctx` is not given.
pub const DEFAULT_MAX_CTX: usize = 32_768;

fn backend() -> anyhow::Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("cannot start llama.cpp: {e}"))
}

/// llguidance's view of the vocabulary, tokenizing with the model's own tokenizer.
///
/// llama-cpp-2's token environment tokenizes greedily over the trie, which llguidance
/// does not trust for forcing tokens; the real tokenizer is canonical, so llguidance
/// can hand out the tokens the grammar forces (jump-forward decoding).
struct VocabEnv {
    trie: TokTrie,
    model: Arc<LlamaModel>,
}

impl TokenizerEnv for VocabEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.model
            .vocab()
            .tokenize(s, false, false)
            .into_iter()
            .map(|t| t.0.cast_unsigned())
            .collect()
    }

    fn tokenize_is_canonical(&self) -> bool {
        true
    }
}

/// A model loaded in memory with its tokenizer trie and chat template; shared by engines.
pub struct LoadedModel {
    model: Arc<LlamaModel>,
    factory: ParserFactory,
    template: LlamaChatTemplate,
    resolved: ResolvedModel,
    bos_text: Option<String>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.resolved.path)
            .finish()
    }
}

impl LoadedModel {
    /// Loads a resolved (already checked) model file.
    pub fn load(resolved: ResolvedModel) -> anyhow::Result<Self> {
        let backend = backend()?;
        // `load_from_file` only debug-asserts that the path exists: check it here.
        if !resolved.path.is_file() {
            bail!("model file {} does not exist", resolved.path.display());
        }
        let model =
            LlamaModel::load_from_file(backend, &resolved.path, &LlamaModelParams::default())
                .with_context(|| format!("llama.cpp could not load {}", resolved.path.display()))?;
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(_) => {
                // No template in the file: use the architecture's known one.
                let name = match resolved.info.architecture() {
                    Some("llama") => "llama3",
                    _ => "chatml",
                };
                tracing::warn!(
                    template = name,
                    "model has no chat template; using the architecture's default"
                );
                LlamaChatTemplate::new(name).expect("template names have no NUL")
            }
        };
        let model = Arc::new(model);
        let trie = LlamaSampler::llguidance_tok_env(&model).tok_trie().clone();
        let tok_env: TokEnv = Arc::new(VocabEnv {
            trie,
            model: Arc::clone(&model),
        });
        let mut factory = ParserFactory::new_simple(&tok_env).map_err(|e| {
            anyhow::anyhow!("cannot prepare the JSON grammar for this vocabulary: {e}")
        })?;
        factory.quiet();
        let bos = model.vocab().bos();
        let bos_text = (bos.0 >= 0)
            .then(|| {
                String::from_utf8_lossy(&model.vocab().token_to_piece(bos, true, None)).into_owned()
            })
            .filter(|s| !s.is_empty());
        Ok(Self {
            model,
            factory,
            template,
            resolved,
            bos_text,
        })
    }

    /// The file this model came from.
    pub fn resolved(&self) -> &ResolvedModel {
        &self.resolved
    }

    /// Training context length.
    pub fn n_ctx_train(&self) -> usize {
        self.model.n_ctx_train() as usize
    }

    /// Renders messages with the chat template (assistant turn opened) and tokenizes them.
    pub fn tokenize_chat(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<LlamaToken>> {
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .context("a prompt contains a NUL byte")?;
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .context("the model's chat template could not be applied")?;
        let vocab = self.model.vocab();
        // Templates that write the BOS text themselves must not get a second BOS.
        let template_has_bos = self
            .bos_text
            .as_deref()
            .is_some_and(|b| text.starts_with(b));
        let add_special = vocab.should_add_bos() && !template_has_bos;
        Ok(vocab.tokenize(text.as_bytes(), add_special, true))
    }

    /// Token ids of a chat prompt, as the decode loop keeps them.
    fn prompt_ids(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<i32>> {
        Ok(self.tokenize_chat(messages)?.iter().map(|t| t.0).collect())
    }

    /// The call's sampler chain, and a twin of its grammar matcher that tells which tokens
    /// are forced (the chain's own matcher is out of reach inside llama.cpp).
    fn sampler(
        &self,
        call: &ChatCall,
        sampling: &Sampling,
        grammar: bool,
        jump_forward: bool,
    ) -> anyhow::Result<(LlamaSampler, Option<Matcher>)> {
        let mut chain = Vec::with_capacity(5);
        let mut guide = None;
        if grammar {
            let matcher = Matcher::new(
                self.factory
                    .create_parser(TopLevelGrammar::from_json_schema(call.schema.clone())),
            );
            if let Some(err) = matcher.get_error() {
                bail!("the reply schema cannot be compiled to a grammar: {err}");
            }
            guide = jump_forward.then(|| matcher.deep_clone());
            // The grammar goes first so later samplers only see tokens it allows.
            chain.push(LlamaSampler::from(matcher));
        }
        if sampling.dry > 0.0 {
            // Small models repeat list items and phrases verbatim; the grammar forces every
            // JSON key, so DRY only bites on free text. A last-n of -1 would disable it.
            chain.push(LlamaSampler::dry(
                &self.model,
                sampling.dry,
                1.75,
                3,
                DRY_LAST_N,
                ["\n"],
            ));
        }
        if sampling.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(sampling.top_k));
            chain.push(LlamaSampler::top_p(sampling.top_p, 1));
            chain.push(LlamaSampler::temp(sampling.temperature));
            chain.push(LlamaSampler::dist(call.seed));
        }
        Ok((LlamaSampler::chain_simple(chain), guide))
    }
}

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

struct Live {
    stream: Stream,
    sampler: LlamaSampler,
    /// Follows the chain's grammar token by token to find forced tokens.
    guide: Option<Matcher>,
}

impl Live {
    /// Takes a sampled token, then appends whatever the grammar forces after it; returns
    /// how many tokens were forced.
    fn take_sampled(&mut self, token: LlamaToken, end_of_generation: bool) -> usize {
        if self
            .stream
            .take_sampled(token.0, end_of_generation)
            .is_some()
        {
            return 0;
        }
        if let Some(guide) = &mut self.guide {
            if let Err(e) = guide.consume_token(token.0.cast_unsigned()) {
                // Cannot happen for a token the chain's own matcher allowed; without a
                // guide the call still samples every token under the grammar.
                tracing::debug!(error = %e, "grammar twin lost step; no more forced tokens");
                self.guide = None;
                return 0;
            }
        }
        self.jump_forward()
    }

    /// Appends the tokens the grammar forces next (JSON keys and punctuation), fed with the
    /// next decode instead of one decode each; ends the stream once the reply is complete.
    /// Returns how many tokens were forced.
    fn jump_forward(&mut self) -> usize {
        let Some(guide) = &mut self.guide else {
            return 0;
        };
        if self.stream.finish().is_some() {
            return 0;
        }
        let forced = guide.compute_ff_tokens();
        let ids: Vec<i32> = forced.iter().map(|&t| t.cast_signed()).collect();
        let taken = self.stream.force(&ids);
        if taken > 0 {
            if let Err(e) = guide.consume_tokens(&forced[..taken]) {
                tracing::debug!(error = %e, "grammar twin refused its forced tokens");
                self.guide = None;
            }
            self.sampler
                .accept_many(ids[..taken].iter().map(|&t| LlamaToken(t)));
        }
        if self.guide.as_ref().is_some_and(Matcher::is_stopped) {
            self.stream.stop();
        }
        taken
    }
}

/// Size of the current context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// KV cells for all sequences together (one unified cache).
    cells: usize,
    /// Sequences for calls (the prefix sequence comes on top).
    slots: usize,
}

/// The in-process engine over a loaded model.
pub struct LlamaEngine<'m> {
    model: &'m LoadedModel,
    opts: LlamaOptions,
    clock: Clock,
    ctx: Option<(LlamaContext<'m>, Layout)>,
    contexts_created: usize,
    /// Tokens whose KV sequence 0 still holds from the previous batch.
    cached_prefix: Vec<i32>,
}

impl<'m> LlamaEngine<'m> {
    /// An engine over `model`; times are read from `clock`.
    pub fn new(model: &'m LoadedModel, opts: LlamaOptions, clock: Clock) -> Self {
        Self {
            model,
            opts,
            clock,
            ctx: None,
            contexts_created: 0,
            cached_prefix: Vec::new(),
        }
    }

    /// How many contexts this engine has created (1 when sizing up front worked).
    pub fn contexts_created(&self) -> usize {
        self.contexts_created
    }

    /// Plans the layout for calls needing `seq_need` cells each, of which `shared` are a
    /// prefix common to all, `wanted` at once.
    fn plan(&self, seq_need: usize, shared: usize, wanted: usize) -> anyhow::Result<Layout> {
        let train = self.model.n_ctx_train();
        if seq_need > train {
            bail!(
                "one call needs {seq_need} tokens of context (prompt plus reply budget) but the model was trained for {train}; \
                 use fewer --modules or a model with a longer context"
            );
        }
        let max_ctx = self.opts.max_ctx;
        if seq_need > max_ctx {
            bail!(
                "the prompt does not fit the context: one call needs {seq_need} tokens (prompt plus reply budget) \
                 but --ctx is {max_ctx}; raise --ctx to at least {seq_need}"
            );
        }
        // In one unified cache the prefix cells are shared by every sequence that copies them.
        let own = (seq_need - shared).max(1);
        let slots = wanted.clamp(1, ((max_ctx - shared) / own).max(1));
        let cells = (shared + slots * own).div_ceil(SEQ_ALIGN) * SEQ_ALIGN;
        Ok(Layout { cells, slots })
    }

    /// Makes sure the context has at least `layout`; creates it (again) only when needed.
    fn ensure_context(&mut self, layout: Layout) -> anyhow::Result<Layout> {
        if let Some((_, have)) = &self.ctx {
            if have.cells >= layout.cells && have.slots >= layout.slots {
                return Ok(*have);
            }
        }
        let layout = match self.ctx.take() {
            Some((_, have)) => Layout {
                cells: have.cells.max(layout.cells),
                slots: have.slots.max(layout.slots),
            },
            None => layout,
        };
        let n_seq = layout.slots + 1;
        let n_ctx = u32::try_from(layout.cells).context("context too large")?;
        let threads = i32::try_from(self.opts.threads).unwrap_or(i32::MAX);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(N_BATCH as u32)
            .with_n_ubatch(N_BATCH as u32)
            .with_n_seq_max(n_seq as u32)
            // Unified: the shared prefix is stored once and forked by reference. Measured
            // here with a ~620-token prefix and 8 calls: 108 tok/s against 92 for one KV
            // stream per sequence, which must copy the prefix into every stream.
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        tracing::info!(n_ctx, n_seq, "creating llama.cpp context");
        let ctx = self
            .model
            .model
            .new_context(backend()?, params)
            .with_context(|| format!("llama.cpp could not create a context of {n_ctx} tokens; lower --ctx or --modules"))?;
        self.contexts_created += 1;
        self.cached_prefix.clear();
        self.ctx = Some((ctx, layout));
        Ok(layout)
    }
}

/// Length of the common start of two token lists.
fn common_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Length of the token prefix shared by all prompts, leaving every prompt at least one token.
pub fn shared_prefix_len<T: PartialEq>(prompts: &[Vec<T>]) -> usize {
    let Some((first, rest)) = prompts.split_first() else {
        return 0;
    };
    let mut n = first.len();
    for p in rest {
        n = n.min(common_len(first, p));
    }
    let shortest = prompts.iter().map(Vec::len).min().unwrap_or(0);
    n.min(shortest.saturating_sub(1))
}

fn decode(
    ctx: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch,
    entries: &[BatchEntry],
) -> anyhow::Result<()> {
    batch.clear();
    for e in entries {
        batch.add(LlamaToken(e.token), e.pos, &[e.seq], e.logits)?;
    }
    ctx.decode(batch)
        .context("llama.cpp failed to decode a batch")
}

impl Engine for LlamaEngine<'_> {
    fn info(&self) -> EngineInfo {
        let r = &self.model.resolved;
        EngineInfo {
            backend: "llama".into(),
            model: r.name.clone(),
            path: Some(r.path.display().to_string()),
            size_bytes: Some(r.info.file_size),
            quantization: r.info.quantization().map(str::to_string),
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
        // The shared prefix is not known yet: size as if nothing were shared.
        let need = prompt + extra_prompt_tokens + like.max_tokens as usize;
        let layout = self.plan(need, 0, sequences)?;
        self.ensure_context(layout).map(|_| ())
    }

    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        let start = self.clock.now_ms();
        let mut calls = calls.to_vec();
        let mut prompts: Vec<Vec<i32>> = calls
            .iter()
            .map(|c| self.model.prompt_ids(&c.messages))
            .collect::<anyhow::Result<_>>()?;
        let shared = match strategy {
            Strategy::Sequential => 0,
            _ if calls.len() > 1 => shared_prefix_len(&prompts),
            // A lone call (a regeneration, say) shares what the last batch left in the cache.
            _ => prompts.first().map_or(0, |p| {
                common_len(&self.cached_prefix, p).min(p.len().saturating_sub(1))
            }),
        };
        let seq_need = calls
            .iter()
            .zip(&prompts)
            .map(|(c, p)| p.len() + c.max_tokens as usize)
            .max()
            .unwrap_or(1);
        let wanted = if strategy == Strategy::Parallel {
            calls.len()
        } else {
            1
        };
        let layout = self.plan(seq_need, shared, wanted)?;
        let layout = self.ensure_context(layout)?;
        let slots = layout.slots.min(wanted);
        // The start of the prefix the previous batch left in sequence 0 is not computed again
        // (the baseline strategy never reuses anything).
        let reused = match (strategy, prompts.first()) {
            (Strategy::Sequential, _) | (_, None) => 0,
            (_, Some(p)) => common_len(&self.cached_prefix, &p[..shared]),
        };
        // Cells each call may use beyond the shared prefix; follow-ups must fit in them.
        let own_cells = seq_need - shared;
        let (ctx, _) = self.ctx.as_mut().expect("context was just ensured");
        // Metadata only: zeroing the buffers would cost a pass over all KV memory.
        if reused == 0 {
            ctx.clear_kv_cache_seq(None, None, None)?;
        } else {
            for seq in 1..=layout.slots as u32 {
                ctx.clear_kv_cache_seq(Some(seq), None, None)?;
            }
            ctx.clear_kv_cache_seq(Some(PREFIX_SEQ as u32), Some(reused as u32), None)?;
        }
        self.cached_prefix = prompts
            .first()
            .map_or_else(Vec::new, |p| p[..shared].to_vec());

        let mut stats = BatchStats {
            shared_prefix_tokens: shared,
            reused_prefix_tokens: reused,
            ..BatchStats::default()
        };
        let mut batch = LlamaBatch::new(N_BATCH, 1);
        let mut entries: Vec<BatchEntry> = Vec::with_capacity(N_BATCH);
        if shared > reused {
            for (chunk_start, chunk) in prompts[0][reused..shared]
                .chunks(N_BATCH)
                .enumerate()
                .map(|(i, c)| (reused + i * N_BATCH, c))
            {
                entries.clear();
                entries.extend(chunk.iter().enumerate().map(|(i, &token)| BatchEntry {
                    token,
                    pos: (chunk_start + i) as i32,
                    seq: PREFIX_SEQ,
                    logits: false,
                }));
                let t = self.clock.now_ms();
                decode(ctx, &mut batch, &entries)?;
                stats.decode_ms += self.clock.now_ms() - t;
                stats.decode_calls += 1;
            }
        }

        let mut marks = vec![
            CallMarks {
                submitted: start,
                ..CallMarks::default()
            };
            calls.len()
        ];
        let mut outputs: Vec<Option<CallOutput>> = vec![None; calls.len()];
        // Prompt tokens each call finds in the shared prefix.
        let mut cached = vec![shared; calls.len()];
        let mut waiting: VecDeque<usize> = (0..calls.len()).collect();
        let mut free_seqs: Vec<i32> = (1..=slots as i32).rev().collect();
        let mut live: Vec<Live> = Vec::with_capacity(slots);
        let vocab = self.model.model.vocab();
        loop {
            while let (Some(&seq), Some(&i)) = (free_seqs.last(), waiting.front()) {
                free_seqs.pop();
                waiting.pop_front();
                ctx.clear_kv_cache_seq(Some(seq as u32), None, None)?;
                if cached[i] > 0 {
                    // Same KV stream: the copy only tags the prefix cells with `seq`.
                    ctx.copy_kv_cache_seq(PREFIX_SEQ, seq, None, Some(cached[i] as u32))?;
                }
                let (sampler, guide) = self.model.sampler(
                    &calls[i],
                    &self.opts.sampling,
                    self.opts.grammar,
                    self.opts.jump_forward,
                )?;
                marks[i].admitted = self.clock.now_ms();
                progress.call_started(&calls[i]);
                let stream = Stream::new(
                    i,
                    seq,
                    prompts[i].clone(),
                    cached[i],
                    calls[i].max_tokens as usize,
                );
                let mut l = Live {
                    stream,
                    sampler,
                    guide,
                };
                stats.forced_tokens += l.jump_forward();
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
            let t = self.clock.now_ms();
            decode(ctx, &mut batch, &entries)?;
            let now = self.clock.now_ms();
            stats.decode_ms += now - t;
            stats.decode_calls += 1;

            for l in &mut live {
                let Some(row) = l.stream.logits_row else {
                    continue;
                };
                let i = l.stream.call;
                marks[i].prompt_done.get_or_insert(now);
                let token = l.sampler.sample(ctx, row);
                let eog = vocab.is_eog(token);
                if !eog {
                    marks[i].first_token.get_or_insert(self.clock.now_ms());
                }
                stats.forced_tokens += l.take_sampled(token, eog);
                progress.tokens(calls[i].phase, calls[i].index, l.stream.generated().len());
            }

            // Partition keeps the batch order stable: same inputs, same batch layout.
            let (finished, running): (Vec<Live>, Vec<Live>) =
                live.into_iter().partition(|l| l.stream.finish().is_some());
            live = running;
            for l in finished {
                let i = l.stream.call;
                let finish = l.stream.finish().expect("partitioned on finish");
                marks[i].done = self.clock.now_ms();
                let tokens: Vec<LlamaToken> = l
                    .stream
                    .generated()
                    .iter()
                    .map(|&t| LlamaToken(t))
                    .collect();
                let text =
                    String::from_utf8_lossy(&vocab.detokenize(&tokens, false, false)).into_owned();
                let counts = CallTokens {
                    prompt: prompts[i].len(),
                    cached: cached[i],
                    generated: tokens.len(),
                };
                let record = CallRecord::new(
                    calls[i].phase,
                    calls[i].index,
                    calls[i].attempt,
                    marks[i],
                    counts,
                    finish,
                );
                progress.call_finished(&record);
                let output = CallOutput { text, record };
                if let Some(next) = follow_up(&calls[i], &output) {
                    // Joins the running batch on the sequence this call leaves.
                    let prompt = self.model.prompt_ids(&next.messages)?;
                    let common = common_len(&self.cached_prefix, &prompt)
                        .min(shared)
                        .min(prompt.len().saturating_sub(1));
                    let need = prompt.len() - common + next.max_tokens as usize;
                    if need > own_cells {
                        bail!(
                            "a regeneration of {} needs {need} tokens of context beyond the shared prompt, \
                             more than its batch planned ({own_cells})",
                            call_label(next.phase, next.index)
                        );
                    }
                    waiting.push_back(calls.len());
                    marks.push(CallMarks {
                        submitted: self.clock.now_ms(),
                        ..CallMarks::default()
                    });
                    cached.push(common);
                    prompts.push(prompt);
                    outputs.push(None);
                    calls.push(next);
                }
                outputs[i] = Some(output);
                free_seqs.push(l.stream.seq);
            }
        }
        stats.wall_ms = self.clock.now_ms() - start;
        let outputs = outputs
            .into_iter()
            .map(|o| o.expect("every call ran to a finish"))
            .collect();
        Ok((outputs, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_leaves_every_prompt_a_token() {
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3, 4], vec![1, 2, 3, 5]]), 3);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2]]), 1);
        assert_eq!(shared_prefix_len(&[vec![9, 2], vec![1, 2]]), 0);
        assert_eq!(shared_prefix_len::<i32>(&[]), 0);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3]]), 2);
    }
}
