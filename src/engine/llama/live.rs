//! One call being decoded: its stream (tokens, positions, finish), its sampler chain, the
//! grammar twin that names the tokens the schema forces (jump-forward) and holds drafts to
//! the schema, and its drafter (speculative decoding).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llguidance::Matcher;

use super::model::LoadedModel;
use super::tail::Tail;
use crate::engine::draft::Drafter;
use crate::engine::stream::{Checked, Stream};

/// A call on its KV sequence.
pub(super) struct Live {
    pub stream: Stream,
    sampler: LlamaSampler,
    /// Follows the chain's grammar token by token to find forced tokens.
    guide: Option<Matcher>,
    /// Its text as it is written, for a caller that listens or set stop strings.
    pub tail: Option<Tail>,
    /// Proposes tokens to check beside the next one.
    drafter: Drafter,
}

/// What one sampling after a decode did.
pub(super) struct Sampled {
    /// Tokens the grammar forced after sampled ones.
    pub forced: usize,
    /// Whether the reply ended with an end-of-generation token.
    pub eog: bool,
    /// How the check of a draft fed with the decode ended.
    pub checked: Option<Checked>,
}

impl Live {
    /// A call ready to decode; returns it with the tokens the grammar forces before the
    /// first sampled one (appended to its stream).
    pub fn new(
        stream: Stream,
        sampler: LlamaSampler,
        guide: Option<Matcher>,
        tail: Option<Tail>,
        drafter: Drafter,
    ) -> (Self, usize) {
        let mut live = Self {
            stream,
            sampler,
            guide,
            tail,
            drafter,
        };
        let forced = live.jump_forward();
        (live, forced)
    }

    /// Proposes tokens for the coming decode (cut where the schema would refuse them), into
    /// the stream, with `streams` sharing the decode; `scratch` is reused between calls.
    pub fn draft(&mut self, streams: usize, scratch: &mut Vec<i32>) {
        let room = self.stream.draft_room();
        self.drafter
            .propose(self.stream.tokens(), room, streams, scratch);
        if scratch.is_empty() {
            return;
        }
        if let Some(guide) = &mut self.guide {
            let ids: Vec<u32> = scratch.iter().map(|&t| t.cast_unsigned()).collect();
            let valid = guide.validate_tokens(&ids).unwrap_or(0);
            scratch.truncate(valid);
        }
        self.stream.propose(scratch);
    }

    /// Samples from this call's logits rows after a decode, if it has any: the row after
    /// its last known token, then, while the sampled tokens match a draft fed with it, the
    /// row after each drafted token. The chain has already accepted each token (`sample`
    /// accepts: never accept it twice), so it draws once per sampled token, as without a
    /// draft.
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, model: &LoadedModel) -> Option<Sampled> {
        let mut row = self.stream.logits_row?;
        let mut forced = 0;
        let eog = loop {
            let token = self.sampler.sample(ctx, row);
            let eog = model.is_eog(token);
            forced += self.take_sampled(token, eog);
            if let Some(tail) = &mut self.tail {
                if tail.advance(self.stream.generated(), |t, out| model.piece_into(t, out)) {
                    self.stream.stop();
                }
            }
            match self.stream.next_row() {
                Some(next) => row = next,
                None => break eog,
            }
        };
        let checked = self.stream.end_check();
        if let Some(c) = checked {
            self.drafter.learn(c.proposed, c.accepted);
        }
        Some(Sampled {
            forced,
            eog,
            checked,
        })
    }

    /// The reply's text: as its tail wrote it (cut at a stop string), else decoded whole.
    pub fn text(&mut self, model: &LoadedModel) -> String {
        match &mut self.tail {
            Some(tail) => tail.finish(),
            None => model.detokenize(self.stream.generated()),
        }
    }

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
