//! Proposals for speculative decoding, free of llama.cpp types so tests drive them.
//!
//! A reply often says again what its prompt or its own start said: a module repeats the
//! outline's title and focus, JSON keys and phrasing recur. `Drafter` looks up the last
//! few tokens of a stream earlier in the same stream (n-gram lookup, no model) and proposes
//! what followed them there; the decode checks the proposal beside the stream's next token.
//!
//! A drafted token costs about as much to decode as any other (on 2 cores the weights are
//! read fast enough that the arithmetic dominates), and saves a step only when taken; a
//! step saved is worth less when other streams share it. So each stream estimates how often
//! its drafted tokens are taken and proposes only as far as the chance that every token up
//! to there is taken stays above what its company makes worth it (`worth`); a stream whose
//! drafts keep failing proposes one token now and then, to notice when that changes.

/// Tokens a call may propose per step unless told otherwise: none, since on the 2-core
/// machine it was measured on drafting was as fast as not (docs/generate.md).
pub const DEFAULT_DRAFT: usize = 0;
/// A proposal length to try: `--draft 8`.
pub const SUGGESTED_DRAFT: usize = 8;
/// Most tokens `--draft` allows: a batch holds 512 tokens for every call together.
pub const MOST_DRAFT: usize = 32;

/// Longest suffix looked up; longer ones would rarely match where shorter ones fail.
const LONGEST_KEY: usize = 4;
/// Shortest suffix looked up: a single token recurs too often to predict anything.
const SHORTEST_KEY: usize = 2;
/// Least chance of being taken a drafted token must have to be proposed, by how many
/// streams share the decode: measured on 2 cores (Qwen2.5 0.5B Q4_K), a drafted token cost
/// 10-15 ms and a step saved 25 ms alone but 36 ms shared by 8.
fn worth(streams: usize) -> f64 {
    if streams <= 1 {
        0.6
    } else {
        0.8
    }
}
/// Weight the past keeps at each check: about the last ten checks count.
const MEMORY: f64 = 0.9;
/// Steps between single-token probes while drafts are not worth it.
const PROBE_EVERY: u32 = 8;

/// One stream's proposer: how often its drafted tokens were taken, and so how many to
/// propose next.
#[derive(Debug, Clone)]
pub struct Drafter {
    /// Most tokens ever proposed in one step.
    most: usize,
    /// Drafted tokens taken, decayed.
    taken: f64,
    /// Drafted tokens refused (the first wrong one of a check), decayed.
    refused: f64,
    /// Steps since the last proposal.
    idle: u32,
}

impl Drafter {
    /// A proposer of at most `most` tokens a step (0 never proposes).
    pub fn new(most: usize) -> Self {
        Self {
            most,
            taken: 0.0,
            refused: 0.0,
            idle: 0,
        }
    }

    /// The chance a drafted token is taken once those before it were (a prior of 1 in 2).
    fn chance(&self) -> f64 {
        (self.taken + 1.0) / (self.taken + self.refused + 2.0)
    }

    /// How many tokens to propose now, with `streams` sharing the decode: the most whose
    /// chance of all being taken is worth it; one every `PROBE_EVERY` steps when none is.
    fn want(&mut self, streams: usize) -> usize {
        let p = self.chance();
        let least = worth(streams);
        let worth = if p >= least {
            // p^k >= least
            ((least.ln() / p.min(0.999).ln()).floor() as usize).max(1)
        } else if self.idle + 1 >= PROBE_EVERY {
            1
        } else {
            0
        };
        worth.min(self.most)
    }

    /// Writes into `out` (cleared first) what may follow `tokens`, at most `room` tokens,
    /// with `streams` sharing the decode; nothing when not worth it or when the lookup
    /// finds nothing.
    pub fn propose(&mut self, tokens: &[i32], room: usize, streams: usize, out: &mut Vec<i32>) {
        out.clear();
        let want = self.want(streams).min(room);
        if want == 0 {
            self.idle += 1;
            return;
        }
        match lookup(tokens, want) {
            Some(next) => {
                out.extend_from_slice(next);
                self.idle = 0;
            }
            None => self.idle += 1,
        }
    }

    /// Learns from a check: `accepted` of `proposed` tokens were what the sampling chose.
    pub fn learn(&mut self, proposed: usize, accepted: usize) {
        if proposed == 0 {
            return;
        }
        self.taken = self.taken * MEMORY + accepted as f64;
        self.refused = self.refused * MEMORY + f64::from(u8::from(accepted < proposed));
    }
}

/// What followed the latest earlier occurrence of the longest suffix of `tokens` (of
/// `SHORTEST_KEY..=LONGEST_KEY` tokens) found earlier in `tokens`, at most `want` tokens.
fn lookup(tokens: &[i32], want: usize) -> Option<&[i32]> {
    let len = tokens.len();
    for n in (SHORTEST_KEY..=LONGEST_KEY).rev() {
        if len <= n {
            continue;
        }
        let key = &tokens[len - n..];
        // Latest first: the reply's own recent text predicts best.
        let found = (0..len - n).rev().find(|&i| &tokens[i..i + n] == key);
        if let Some(i) = found {
            let from = i + n;
            return Some(&tokens[from..(from + want).min(len)]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(d: &mut Drafter, tokens: &[i32], room: usize) -> Vec<i32> {
        let mut out = vec![99];
        d.propose(tokens, room, 1, &mut out);
        out
    }

    #[test]
    fn proposes_what_followed_the_longest_suffix_found_earlier() {
        let mut d = Drafter::new(3);
        d.learn(30, 30);
        // "7 8" came before, followed by 9 10 11; "6 7 8" did not.
        let tokens = [1, 7, 8, 9, 10, 11, 12, 5, 7, 8];
        assert_eq!(proposal(&mut d, &tokens, 8), [9, 10, 11]);
        // A longer key wins over a more recent shorter one.
        let tokens = [3, 4, 5, 20, 21, 9, 4, 5, 30, 3, 4, 5];
        assert_eq!(proposal(&mut d, &tokens, 8), [20, 21, 9]);
    }

    #[test]
    fn the_latest_occurrence_wins_and_the_room_caps_the_proposal() {
        let mut d = Drafter::new(4);
        d.learn(40, 40);
        let tokens = [1, 2, 3, 1, 2, 4, 5, 1, 2];
        assert_eq!(proposal(&mut d, &tokens, 8), [4, 5, 1, 2]);
        assert_eq!(proposal(&mut d, &tokens, 1), [4]);
        assert_eq!(proposal(&mut d, &tokens, 0), Vec::<i32>::new());
    }

    #[test]
    fn nothing_is_proposed_without_a_match_or_from_a_single_token() {
        let mut d = Drafter::new(4);
        assert!(proposal(&mut d, &[1, 2, 3, 4], 8).is_empty());
        assert!(proposal(&mut d, &[5, 1, 6, 1], 8).is_empty());
        assert!(proposal(&mut d, &[], 8).is_empty());
        assert!(proposal(&mut Drafter::new(0), &[1, 2, 1, 2], 8).is_empty());
    }

    #[test]
    fn the_proposal_grows_with_how_often_drafts_were_taken() {
        let tokens: Vec<i32> = (0..20).chain(0..2).collect();
        let mut d = Drafter::new(8);
        // A new stream (a chance of 1 in 2) probes before it drafts.
        assert!(proposal(&mut d, &tokens, 16).is_empty());
        d.learn(1, 1);
        assert_eq!(
            proposal(&mut d, &tokens, 16).len(),
            1,
            "2 in 3 is worth one token"
        );
        let mut shared = Vec::new();
        d.propose(&tokens, 16, 8, &mut shared);
        assert!(shared.is_empty(), "not when 8 streams share the step");
        for _ in 0..20 {
            d.learn(4, 4);
        }
        let long = proposal(&mut d, &tokens, 16).len();
        assert!(long >= 4, "{long}");
        for _ in 0..3 {
            d.learn(4, 1);
        }
        let short = proposal(&mut d, &tokens, 16).len();
        assert!(short < long, "{short} after misses, {long} before");
        d.learn(30, 30);
        assert_eq!(
            proposal(&mut d, &tokens, 16).len(),
            8,
            "never past the most"
        );
    }

    #[test]
    fn drafts_that_keep_failing_give_way_to_a_probe_now_and_then() {
        let tokens = [1, 2, 3, 1, 2];
        let mut d = Drafter::new(4);
        for _ in 0..5 {
            d.learn(1, 0);
        }
        let sizes: Vec<usize> = (0..2 * PROBE_EVERY)
            .map(|_| proposal(&mut d, &tokens, 8).len())
            .collect();
        let probes = sizes.iter().filter(|&&n| n > 0).count();
        assert_eq!(probes, 2, "{sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 1), "{sizes:?}");
        // Probes that are taken bring drafts back.
        for _ in 0..10 {
            d.learn(1, 1);
        }
        assert!(!proposal(&mut d, &tokens, 8).is_empty());
    }
}
