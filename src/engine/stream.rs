//! Per-call decoding state for the batched loop, free of llama.cpp types so tests drive it.
//!
//! A stream owns one KV sequence. Each step it offers the batch either a chunk of its
//! remaining prompt (logits only on the prompt's last token) or the token it sampled last
//! step, followed by any tokens the grammar forces after it (jump-forward: one decode
//! instead of one per token); after the decode it takes the next sampled token or finishes. This is llama.cpp's
//! `examples/batched` loop with chunked prefill, so streams still reading their prompt
//! and streams already generating share one decode.
//!
//! A stream may also be given a draft (speculative decoding): tokens proposed after its
//! known ones, fed in the same decode with logits on each. Sampling then goes on row by
//! row while what it takes matches the draft; drafted tokens past the first mismatch are
//! dropped from the sequence. Sampling draws exactly as often as without a draft, so each
//! token is drawn as plain decoding draws it (the same reply wherever the arithmetic is the
//! same: a batch of several rows may round differently from one).

use super::Finish;

/// One entry for the next batch: token, position, sequence, and whether to compute logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry {
    /// Token id.
    pub token: i32,
    /// Position within the sequence.
    pub pos: i32,
    /// KV sequence id.
    pub seq: i32,
    /// Whether the decode computes logits for this row.
    pub logits: bool,
}

/// State of one call being decoded.
#[derive(Debug)]
pub struct Stream {
    /// Index of the call in the engine's input.
    pub call: usize,
    /// KV sequence id this stream writes.
    pub seq: i32,
    /// The prompt, then every generated token; a token's index is its position.
    tokens: Vec<i32>,
    prompt_len: usize,
    /// How many of `tokens` the KV sequence holds (or the coming decode will).
    fed: usize,
    /// Batch row holding this stream's logits after the coming decode.
    pub logits_row: Option<i32>,
    max_tokens: usize,
    finish: Option<Finish>,
    /// Tokens proposed after the known ones; fed with them when they all fit.
    draft: Vec<i32>,
    /// While a fed draft is checked: its first position and the batch row before it.
    check: Option<(usize, i32)>,
}

/// How the check of one draft ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Tokens drafted and fed.
    pub proposed: usize,
    /// Of those, tokens the sampling chose: kept in the sequence.
    pub accepted: usize,
    /// First position whose cells hold a rejected draft token, to drop from the sequence.
    pub drop_from: Option<i32>,
}

impl Stream {
    /// A stream whose first `cached` prompt tokens are already in its KV sequence.
    pub fn new(call: usize, seq: i32, prompt: Vec<i32>, cached: usize, max_tokens: usize) -> Self {
        assert!(
            cached < prompt.len(),
            "at least one prompt token must be decoded"
        );
        Self {
            call,
            seq,
            prompt_len: prompt.len(),
            tokens: prompt,
            fed: cached,
            logits_row: None,
            max_tokens,
            finish: None,
            draft: Vec::new(),
            check: None,
        }
    }

    /// Every token so far: the prompt, then the reply.
    pub fn tokens(&self) -> &[i32] {
        &self.tokens
    }

    /// Reply tokens a draft may still propose: the budget after the next sampled token.
    pub fn draft_room(&self) -> usize {
        if self.finish.is_some() || !self.prompt_done() {
            return 0;
        }
        self.max_tokens.saturating_sub(self.generated().len() + 1)
    }

    /// Proposes `draft` for the coming step, fed after the known tokens if all fit.
    pub fn propose(&mut self, draft: &[i32]) {
        let room = self.draft_room();
        self.draft.clear();
        self.draft
            .extend_from_slice(&draft[..draft.len().min(room)]);
    }

    /// Whether the prompt has been fully fed to the model.
    pub fn prompt_done(&self) -> bool {
        self.fed >= self.prompt_len
    }

    /// The tokens the KV sequence holds: the prompt and every reply token decoded so far.
    pub fn in_cache(&self) -> &[i32] {
        &self.tokens[..self.fed]
    }

    /// Tokens generated so far, forced ones included.
    pub fn generated(&self) -> &[i32] {
        &self.tokens[self.prompt_len..]
    }

    /// Why the stream ended, once it has.
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }

    /// Adds this step's entries to `out`, at most `budget` of them; returns how many.
    ///
    /// Entries are the tokens not yet fed: prompt chunks, or the last sampled token with
    /// any tokens forced after it. Only the last known token gets logits.
    pub fn fill(&mut self, out: &mut Vec<BatchEntry>, budget: usize) -> usize {
        self.logits_row = None;
        if self.finish.is_some() {
            return 0;
        }
        let end = (self.fed + budget).min(self.tokens.len());
        for pos in self.fed..end {
            out.push(BatchEntry {
                token: self.tokens[pos],
                pos: pos as i32,
                seq: self.seq,
                logits: pos + 1 == self.tokens.len(),
            });
        }
        let mut added = end - self.fed;
        self.fed = end;
        if added > 0 && end == self.tokens.len() {
            let row = (out.len() - 1) as i32;
            self.logits_row = Some(row);
            self.draft.truncate(budget - added);
            for (j, &token) in self.draft.iter().enumerate() {
                out.push(BatchEntry {
                    token,
                    pos: (end + j) as i32,
                    seq: self.seq,
                    logits: true,
                });
            }
            added += self.draft.len();
            if !self.draft.is_empty() {
                self.check = Some((end, row));
            }
        } else {
            self.draft.clear();
        }
        added
    }

    /// After a token was taken: the row with logits for the next position, while the draft
    /// matches every token taken since it was fed; none ends the check.
    pub fn next_row(&mut self) -> Option<i32> {
        let (at, row) = self.check?;
        if self.finish.is_some() {
            return None;
        }
        let known = self.tokens.len() - at;
        if known > self.draft.len() || self.tokens[at..] != self.draft[..known] {
            return None;
        }
        let next = row + known as i32;
        self.logits_row = Some(next);
        Some(next)
    }

    /// Ends the check of the draft fed last step: drafted tokens that match the reply stay
    /// in the sequence, the rest are to be dropped. None when no draft was fed.
    pub fn end_check(&mut self) -> Option<Checked> {
        let (at, _) = self.check.take()?;
        let proposed = self.draft.len();
        let accepted = common_len(&self.tokens[at..], &self.draft);
        self.draft.clear();
        // A running stream's last token always goes to the next decode for its logits.
        let kept = if self.finish.is_some() {
            accepted
        } else {
            accepted.min(self.tokens.len() - at - 1)
        };
        self.fed = at + kept;
        Some(Checked {
            proposed,
            accepted,
            drop_from: (kept < proposed).then_some((at + kept) as i32),
        })
    }

    /// Takes the token sampled from this stream's logits row; returns the finish if it ended.
    pub fn take_sampled(&mut self, token: i32, end_of_generation: bool) -> Option<Finish> {
        debug_assert!(self.logits_row.is_some(), "sampled without logits");
        self.logits_row = None;
        if end_of_generation {
            self.finish = Some(Finish::Stop);
        } else {
            self.push(token);
        }
        self.finish
    }

    /// Appends tokens the grammar forces next, as far as the budget allows; returns how
    /// many were taken. They are fed with the next step, no sampling needed.
    pub fn force(&mut self, tokens: &[i32]) -> usize {
        let mut taken = 0;
        for &t in tokens {
            if self.finish.is_some() {
                break;
            }
            self.push(t);
            taken += 1;
        }
        taken
    }

    /// Ends the stream: the reply is complete (the grammar admits nothing more).
    pub fn stop(&mut self) {
        self.finish.get_or_insert(Finish::Stop);
    }

    /// Ends the stream as withdrawn (its course was cancelled): finished as an error.
    pub fn cut(&mut self) {
        self.finish.get_or_insert(Finish::Error);
    }

    fn push(&mut self, token: i32) {
        self.tokens.push(token);
        if self.generated().len() >= self.max_tokens {
            self.finish = Some(Finish::Length);
        }
    }
}

/// Length of the common start of two token lists.
pub fn common_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
