//! Per-call decoding state for the batched loop, free of llama.cpp types so tests drive it.
//!
//! A stream owns one KV sequence. Each step it offers the batch either a chunk of its
//! remaining prompt (logits only on the prompt's last token) or the token it sampled last
//! step, followed by any tokens the grammar forces after it (jump-forward: one decode
//! instead of one per token); after the decode it takes the next sampled token or finishes. This is llama.cpp's
//! `examples/batched` loop with chunked prefill, so streams still reading their prompt
//! and streams already generating share one decode.

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
        }
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
        let added = end - self.fed;
        self.fed = end;
        if added > 0 && end == self.tokens.len() {
            self.logits_row = Some((out.len() - 1) as i32);
        }
        added
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

#[cfg(test)]
mod tests {
    use super::*;

    fn step(s: &mut Stream, budget: usize) -> Vec<BatchEntry> {
        let mut out = Vec::new();
        s.fill(&mut out, budget);
        out
    }

    #[test]
    fn prompt_is_fed_in_chunks_with_logits_on_its_last_token_only() {
        let mut s = Stream::new(0, 3, vec![10, 11, 12, 13, 14], 1, 8);
        let first = step(&mut s, 3);
        assert_eq!(
            first.iter().map(|e| (e.token, e.pos)).collect::<Vec<_>>(),
            [(11, 1), (12, 2), (13, 3)]
        );
        assert!(first.iter().all(|e| !e.logits && e.seq == 3));
        assert_eq!(s.logits_row, None);
        let second = step(&mut s, 3);
        assert_eq!(
            second,
            [BatchEntry {
                token: 14,
                pos: 4,
                seq: 3,
                logits: true
            }]
        );
        assert_eq!(s.logits_row, Some(0));
        assert!(s.prompt_done());
    }

    #[test]
    fn sampled_token_is_fed_back_at_the_next_position() {
        let mut s = Stream::new(0, 1, vec![1, 2], 0, 8);
        step(&mut s, 16);
        assert_eq!(s.take_sampled(7, false), None);
        assert_eq!(
            step(&mut s, 16),
            [BatchEntry {
                token: 7,
                pos: 2,
                seq: 1,
                logits: true
            }]
        );
        assert_eq!(s.generated(), [7]);
    }

    #[test]
    fn end_of_generation_stops_without_keeping_the_token() {
        let mut s = Stream::new(0, 1, vec![1, 2], 0, 8);
        step(&mut s, 16);
        assert_eq!(s.take_sampled(99, true), Some(Finish::Stop));
        assert!(s.generated().is_empty());
        assert!(step(&mut s, 16).is_empty());
    }

    #[test]
    fn budget_ends_the_stream_as_length() {
        let mut s = Stream::new(0, 1, vec![1], 0, 2);
        step(&mut s, 4);
        assert_eq!(s.take_sampled(5, false), None);
        step(&mut s, 4);
        assert_eq!(s.take_sampled(6, false), Some(Finish::Length));
        assert_eq!(s.generated(), [5, 6]);
        assert!(step(&mut s, 4).is_empty(), "a finished stream adds nothing");
    }

    #[test]
    fn logits_row_points_into_a_shared_batch() {
        let mut a = Stream::new(0, 1, vec![1, 2, 3], 1, 4);
        let mut b = Stream::new(1, 2, vec![1, 2, 4, 5], 1, 4);
        let mut out = Vec::new();
        a.fill(&mut out, 8);
        let budget = 8 - out.len();
        b.fill(&mut out, budget);
        assert_eq!(a.logits_row, Some(1));
        assert_eq!(b.logits_row, Some(4));
        assert_eq!(out[b.logits_row.unwrap() as usize].token, 5);
    }

    #[test]
    fn zero_budget_waits_without_losing_state() {
        let mut s = Stream::new(0, 1, vec![1, 2, 3], 0, 4);
        assert!(step(&mut s, 0).is_empty());
        assert_eq!(step(&mut s, 8).len(), 3);
    }

    #[test]
    fn forced_tokens_follow_the_sampled_one_in_one_step() {
        let mut s = Stream::new(0, 2, vec![1, 2], 1, 8);
        step(&mut s, 16);
        s.take_sampled(7, false);
        assert_eq!(s.force(&[8, 9]), 2);
        let fed = step(&mut s, 16);
        assert_eq!(
            fed.iter()
                .map(|e| (e.token, e.pos, e.logits))
                .collect::<Vec<_>>(),
            [(7, 2, false), (8, 3, false), (9, 4, true)]
        );
        assert_eq!(s.logits_row, Some(2));
        assert_eq!(s.generated(), [7, 8, 9]);
    }

    #[test]
    fn forced_tokens_stop_at_the_budget() {
        let mut s = Stream::new(0, 1, vec![1], 0, 3);
        step(&mut s, 4);
        s.take_sampled(5, false);
        assert_eq!(s.force(&[6, 7, 8]), 2);
        assert_eq!(s.finish(), Some(Finish::Length));
        assert_eq!(s.generated(), [5, 6, 7]);
    }

    #[test]
    fn forced_tokens_split_over_steps_when_the_batch_is_full() {
        let mut s = Stream::new(0, 1, vec![1], 0, 8);
        step(&mut s, 4);
        s.take_sampled(5, false);
        s.force(&[6, 7]);
        let first = step(&mut s, 2);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|e| !e.logits));
        assert_eq!(
            s.logits_row, None,
            "no logits until the last forced token is fed"
        );
        assert_eq!(
            step(&mut s, 2),
            [BatchEntry {
                token: 7,
                pos: 3,
                seq: 1,
                logits: true
            }]
        );
    }

    #[test]
    fn a_complete_reply_stops_without_another_step() {
        let mut s = Stream::new(0, 1, vec![1], 0, 8);
        step(&mut s, 4);
        s.take_sampled(5, false);
        s.force(&[6]);
        s.stop();
        assert_eq!(s.finish(), Some(Finish::Stop));
        assert!(step(&mut s, 4).is_empty());
        assert_eq!(s.generated(), [5, 6]);
    }
}
