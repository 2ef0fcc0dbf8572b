//! The llama.cpp context and its KV memory: sized once for the run, grown only when a
//! batch needs more. Sequences `0..groups` hold the prompt prefixes, one per group of calls
//! that share one (a course), kept between batches so the next batch recomputes only what
//! changed; calls decode on the sequences after them.

use std::num::NonZeroU32;

use anyhow::{bail, Context as _};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use super::model::{backend, LoadedModel};
use crate::engine::stream::{common_len, BatchEntry};
use crate::engine::Strategy;

/// Tokens per decode call (prompt chunks and generation steps alike).
pub(super) const N_BATCH: usize = 512;
/// KV cells are allocated per sequence in multiples of this (llama.cpp pads to 256).
const SEQ_ALIGN: usize = 256;

/// Size of a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    /// KV cells for all sequences together (one unified cache).
    pub cells: usize,
    /// Sequences for calls (the prefix sequences come on top).
    pub slots: usize,
    /// Prefix sequences, one per group (sequence `g` for group `g`).
    pub groups: usize,
}

/// What a batch needs of memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Need {
    /// Cells of the largest call: prompt plus reply budget.
    pub seq: usize,
    /// Prefix cells, all groups together (and the conversations lone calls leave).
    pub shared: usize,
    /// Cells a call needs beyond its group's prefix, at most.
    pub own: usize,
    /// Calls wanted at once.
    pub wanted: usize,
    /// Prefix sequences.
    pub groups: usize,
}

/// Plans the layout for `need` within the model's training context and `max_ctx`.
pub(super) fn plan(train: usize, max_ctx: usize, need: Need) -> anyhow::Result<Layout> {
    let seq_need = need.seq;
    if seq_need > train {
        bail!(
            "one call needs {seq_need} tokens of context (prompt plus reply budget) but the model was trained for {train}; \
             use fewer --modules or a model with a longer context"
        );
    }
    if seq_need > max_ctx {
        bail!(
            "the prompt does not fit the context: one call needs {seq_need} tokens (prompt plus reply budget) \
             but --ctx is {max_ctx}; raise --ctx to at least {seq_need}"
        );
    }
    // In one unified cache the prefix cells are shared by every sequence that copies them.
    let own = need.own.max(1);
    let slots = need
        .wanted
        .clamp(1, (max_ctx.saturating_sub(need.shared) / own).max(1));
    let cells = (need.shared + slots * own).div_ceil(SEQ_ALIGN) * SEQ_ALIGN;
    Ok(Layout {
        cells,
        slots,
        groups: need.groups.max(1),
    })
}

/// A layout of all `max_ctx` cells (at least `seq`) for `slots` calls in `groups` groups:
/// for runs of several groups, whose needs vary from batch to batch, sized once (calls are
/// admitted only while the worst case of those in flight fits, see `cells_needed`).
pub(super) fn whole(max_ctx: usize, seq: usize, slots: usize, groups: usize) -> Layout {
    Layout {
        cells: max_ctx.max(seq).div_ceil(SEQ_ALIGN) * SEQ_ALIGN,
        slots: slots.max(1),
        groups: groups.max(1),
    }
}

/// The context of an engine and what its sequence 0 holds.
#[derive(Default)]
pub(super) struct Memory<'m> {
    ctx: Option<(LlamaContext<'m>, Layout)>,
    /// Contexts created so far (1 when sizing up front worked).
    pub contexts_created: usize,
    /// Per group, the tokens whose KV its prefix sequence holds.
    prefixes: Vec<Vec<i32>>,
}

/// A group's prefix in a batch: sequence `group` holds `tokens`, the first `reused` of them
/// from before.
#[derive(Debug, Clone)]
pub(super) struct GroupPrefix {
    pub group: usize,
    pub tokens: Vec<i32>,
    pub reused: usize,
}

impl<'m> Memory<'m> {
    /// The tokens group `group`'s prefix sequence holds.
    pub fn held(&self, group: usize) -> &[i32] {
        self.prefixes.get(group).map_or(&[][..], Vec::as_slice)
    }

    /// Makes sure the context has at least `layout`; creates it (again) only when needed.
    pub fn ensure(
        &mut self,
        model: &'m LoadedModel,
        threads: usize,
        layout: Layout,
    ) -> anyhow::Result<Layout> {
        if let Some((_, have)) = &self.ctx {
            if have.cells >= layout.cells
                && have.slots >= layout.slots
                && have.groups >= layout.groups
            {
                return Ok(*have);
            }
        }
        let layout = match self.ctx.take() {
            Some((_, have)) => Layout {
                cells: have.cells.max(layout.cells),
                slots: have.slots.max(layout.slots),
                groups: have.groups.max(layout.groups),
            },
            None => layout,
        };
        let n_seq = layout.slots + layout.groups;
        let n_ctx = u32::try_from(layout.cells).context("context too large")?;
        let threads = i32::try_from(threads).unwrap_or(i32::MAX);
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
        let ctx = model
            .model
            .new_context(backend()?, params)
            .with_context(|| format!("llama.cpp could not create a context of {n_ctx} tokens; lower --ctx or --modules"))?;
        self.contexts_created += 1;
        self.prefixes = vec![Vec::new(); layout.groups];
        self.ctx = Some((ctx, layout));
        Ok(layout)
    }

    /// Starts a batch with `prefixes`: every call sequence is cleared, each prefix sequence
    /// past what it reuses, and the prefix of a group not in the batch entirely. Returns the
    /// context and its layout; call `fill_prefixes` next.
    pub fn start_batch(
        &mut self,
        prefixes: &[GroupPrefix],
    ) -> anyhow::Result<(&mut LlamaContext<'m>, Layout)> {
        let (ctx, layout) = self.ctx.as_mut().context("no context: call ensure first")?;
        // Metadata only: zeroing the buffers would cost a pass over all KV memory.
        if prefixes.iter().all(|p| p.reused == 0) {
            ctx.clear_kv_cache_seq(None, None, None)?;
        } else {
            let first = layout.groups as u32;
            for seq in first..first + layout.slots as u32 {
                ctx.clear_kv_cache_seq(Some(seq), None, None)?;
            }
        }
        for g in 0..layout.groups {
            let mine = prefixes.iter().find(|p| p.group == g);
            let reused = mine.map_or(0, |p| p.reused);
            ctx.clear_kv_cache_seq(Some(g as u32), Some(reused as u32), None)?;
            self.prefixes[g] = mine.map_or_else(Vec::new, |p| p.tokens.clone());
        }
        Ok((ctx, *layout))
    }

    /// Records that group `group`'s prefix sequence now holds `tokens` (see `keep`).
    pub fn kept(&mut self, group: usize, tokens: &[i32]) {
        if let Some(held) = self.prefixes.get_mut(group) {
            *held = tokens.to_vec();
        }
    }
}

/// Makes prefix sequence `group` hold what sequence `seq` holds: a finished call's whole
/// conversation, its reply included, for the next batch to continue from. Record it with
/// `Memory::kept` once the batch is over.
pub(super) fn keep(ctx: &mut LlamaContext<'_>, seq: i32, group: usize) -> anyhow::Result<()> {
    ctx.clear_kv_cache_seq(Some(group as u32), None, None)?;
    // Same KV stream: the copy only tags the cells with the group's sequence.
    ctx.copy_kv_cache_seq(seq, group as i32, None, None)?;
    Ok(())
}

/// Decodes every group's prefix past what it reuses into its sequence, groups packed
/// together in chunks; returns the decode calls made.
pub(super) fn fill_prefixes(
    ctx: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch,
    prefixes: &[GroupPrefix],
) -> anyhow::Result<usize> {
    let all = prefixes.iter().flat_map(|p| {
        let from = p.reused.min(p.tokens.len());
        p.tokens[from..]
            .iter()
            .enumerate()
            .map(move |(i, &token)| BatchEntry {
                token,
                pos: (from + i) as i32,
                seq: p.group as i32,
                logits: false,
            })
    });
    let entries: Vec<BatchEntry> = all.collect();
    for chunk in entries.chunks(N_BATCH) {
        decode(ctx, batch, chunk)?;
    }
    Ok(entries.len().div_ceil(N_BATCH))
}

/// One llama.cpp decode of `entries`.
pub(super) fn decode(
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

/// Length of the token prefix shared by all prompts, leaving every prompt at least one token.
pub fn shared_prefix_len<T: PartialEq, P: AsRef<[T]>>(prompts: &[P]) -> usize {
    let Some((first, rest)) = prompts.split_first() else {
        return 0;
    };
    let first = first.as_ref();
    let mut n = first.len();
    for p in rest {
        n = n.min(common_len(first, p.as_ref()));
    }
    let shortest = prompts.iter().map(|p| p.as_ref().len()).min().unwrap_or(0);
    n.min(shortest.saturating_sub(1))
}

/// The prefix group `group`'s `prompts` share, and how much of it its sequence already
/// holds (`held`): a lone call shares what the sequence holds (an earlier conversation);
/// several share their common start; the baseline strategy shares nothing.
pub(super) fn group_prefix(
    group: usize,
    strategy: Strategy,
    held: &[i32],
    prompts: &[&[i32]],
) -> GroupPrefix {
    let shared = match (strategy, prompts) {
        (Strategy::Sequential, _) | (_, []) => 0,
        (_, [one]) => common_len(held, one).min(one.len().saturating_sub(1)),
        _ => shared_prefix_len(prompts),
    };
    let tokens = prompts.first().map_or(&[][..], |p| &p[..shared]).to_vec();
    let reused = common_len(held, &tokens);
    GroupPrefix {
        group,
        tokens,
        reused,
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
        assert_eq!(shared_prefix_len::<i32, Vec<i32>>(&[]), 0);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3]]), 2);
    }

    #[test]
    fn layout_shares_the_prefix_and_caps_parallel_sequences() {
        let need = |seq, shared, wanted| Need {
            seq,
            shared,
            own: seq - shared,
            wanted,
            groups: 1,
        };
        let l = plan(8192, 32_768, need(1000, 600, 8)).unwrap();
        assert_eq!(l.slots, 8);
        assert_eq!(l.cells, (600 + 8 * 400_usize).div_ceil(256) * 256);
        // Room for only two calls beside the prefix.
        let l = plan(8192, 1500, need(1000, 600, 8)).unwrap();
        assert_eq!(l.slots, 2);
        assert!(plan(8192, 900, need(1000, 600, 8))
            .unwrap_err()
            .to_string()
            .contains("raise --ctx to at least 1000"));
        let l = plan(
            8192,
            32_768,
            Need {
                groups: 3,
                ..need(1000, 600, 8)
            },
        )
        .unwrap();
        assert_eq!((l.slots, l.groups), (8, 3));
        assert!(plan(512, 32_768, need(1000, 0, 1))
            .unwrap_err()
            .to_string()
            .contains("trained for 512"));
    }
}
