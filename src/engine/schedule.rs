//! The bookkeeping of one engine run, free of any backend: which calls wait, which slot
//! (a KV sequence in process, a connection for a daemon) each one runs on, their time marks,
//! and their outputs, with follow-up calls queued as calls finish.
//!
//! Both engines drive a `Ledger`; it owns no model, socket or clock, so its rules (first
//! come first served, a freed slot goes to the next waiting call, outputs in submission
//! order) are tested on their own.

use std::collections::VecDeque;

use anyhow::bail;

use super::measures::{CallMarks, CallRecord, CallTokens, Finish};
use super::{CallOutput, ChatCall, FollowUp};

/// One call and what the engine knows of it.
#[derive(Debug)]
pub struct Entry<P> {
    /// The call.
    pub call: ChatCall,
    /// The engine's form of the prompt (token ids in process; nothing for a daemon).
    pub prompt: P,
    /// Prompt tokens already in the cache when the call starts.
    pub cached: usize,
    /// Time marks on the run's clock.
    pub marks: CallMarks,
    output: Option<CallOutput>,
}

impl<P> Entry<P> {
    /// The call's record from its marks, given its prompt and generated token counts.
    pub fn record(&self, prompt_tokens: usize, generated: usize, finish: Finish) -> CallRecord {
        let tokens = CallTokens {
            prompt: prompt_tokens,
            cached: self.cached,
            generated,
        };
        let c = &self.call;
        CallRecord::new(c.phase, c.index, c.attempt, self.marks, tokens, finish)
    }
}

/// Calls of one run, their slots and outputs.
#[derive(Debug)]
pub struct Ledger<P> {
    entries: Vec<Entry<P>>,
    waiting: VecDeque<usize>,
    /// Free slots; the last one is handed out first.
    free: Vec<i32>,
}

impl<P> Ledger<P> {
    /// A ledger with slots `slots`, handed out in the order given.
    pub fn new(slots: impl DoubleEndedIterator<Item = i32>) -> Self {
        Self {
            entries: Vec::new(),
            waiting: VecDeque::new(),
            free: slots.rev().collect(),
        }
    }

    /// Queues a call submitted at `now`; returns its index (outputs come in this order).
    pub fn submit(&mut self, call: ChatCall, prompt: P, cached: usize, now: f64) -> usize {
        self.entries.push(Entry {
            call,
            prompt,
            cached,
            marks: CallMarks {
                submitted: now,
                ..CallMarks::default()
            },
            output: None,
        });
        self.waiting.push_back(self.entries.len() - 1);
        self.entries.len() - 1
    }

    /// The call that `admit` would take next, if any waits.
    pub fn next_waiting(&self) -> Option<usize> {
        self.waiting.front().copied()
    }

    /// The next waiting call on a free slot, marked admitted at `now`; `None` when either
    /// no call waits or no slot is free.
    pub fn admit(&mut self, now: f64) -> Option<(usize, i32)> {
        if self.waiting.is_empty() {
            return None;
        }
        let slot = self.free.pop()?;
        let i = self.waiting.pop_front().expect("checked above");
        self.entries[i].marks.admitted = now;
        Some((i, slot))
    }

    /// Call `i`.
    pub fn entry(&self, i: usize) -> &Entry<P> {
        &self.entries[i]
    }

    /// Call `i`, to update its marks.
    pub fn entry_mut(&mut self, i: usize) -> &mut Entry<P> {
        &mut self.entries[i]
    }

    /// Stores the output of call `i`, frees its `slot`, and asks `follow_up` whether another
    /// call should run after it; returns that call for the engine to prepare and `submit`.
    pub fn finish(
        &mut self,
        i: usize,
        slot: i32,
        output: CallOutput,
        follow_up: FollowUp<'_>,
    ) -> Option<ChatCall> {
        let next = follow_up(&self.entries[i].call, &output);
        self.entries[i].output = Some(output);
        self.free.push(slot);
        next
    }

    /// Drops the waiting calls `which` picks, each finished at `now` as an error with an
    /// empty output; returns how many.
    pub fn withdraw(&mut self, which: impl Fn(&ChatCall) -> bool, now: f64) -> usize {
        let entries = &mut self.entries;
        let before = self.waiting.len();
        self.waiting.retain(|&i| {
            let e = &mut entries[i];
            if !which(&e.call) {
                return true;
            }
            e.marks.admitted = now;
            let record = e.record(0, 0, Finish::Error);
            e.output = Some(CallOutput {
                text: String::new(),
                tokens: Vec::new(),
                record,
            });
            false
        });
        before - self.waiting.len()
    }

    /// Whether a call waits for a slot.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Every output, in submission order; an error if a call never finished.
    pub fn into_outputs(self) -> anyhow::Result<Vec<CallOutput>> {
        let mut outputs = Vec::with_capacity(self.entries.len());
        for (i, e) in self.entries.into_iter().enumerate() {
            match e.output {
                Some(o) => outputs.push(o),
                None => bail!("internal error: call {i} never finished"),
            }
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(ledger: &Ledger<()>, i: usize) -> CallOutput {
        CallOutput {
            text: format!("reply {i}"),
            tokens: Vec::new(),
            record: ledger.entry(i).record(10, 2, Finish::Stop),
        }
    }

    #[test]
    fn calls_wait_for_free_slots_in_submission_order() {
        let mut l: Ledger<()> = Ledger::new(1..=2);
        for i in 0..3 {
            l.submit(ChatCall::bare(i), (), 0, 0.0);
        }
        assert_eq!(l.admit(1.0), Some((0, 1)));
        assert_eq!(l.admit(1.0), Some((1, 2)));
        assert_eq!(l.admit(1.0), None, "no slot free");
        assert!(l.has_waiting());
        assert_eq!(l.next_waiting(), Some(2));
        let out = output(&l, 1);
        assert!(l.finish(1, 2, out, &mut |_, _| None).is_none());
        assert_eq!(
            l.admit(5.0),
            Some((2, 2)),
            "the freed slot goes to the next call"
        );
        assert_eq!(l.entry(2).marks.admitted, 5.0);
        assert_eq!(l.entry(2).marks.submitted, 0.0);
        assert_eq!(l.admit(5.0), None, "nothing waits");
    }

    #[test]
    fn follow_ups_queue_behind_waiting_calls_and_outputs_keep_submission_order() {
        let mut l: Ledger<()> = Ledger::new(1..=1);
        l.submit(ChatCall::bare(0), (), 3, 0.0);
        l.submit(ChatCall::bare(1), (), 3, 0.0);
        let (i, slot) = l.admit(0.0).unwrap();
        let out = output(&l, i);
        let next = l.finish(i, slot, out, &mut |c, _| {
            Some(ChatCall {
                attempt: c.attempt + 1,
                ..c.clone()
            })
        });
        let next = next.expect("follow-up asked for");
        assert_eq!(l.submit(next, (), 1, 2.0), 2);
        assert_eq!(l.admit(3.0), Some((1, 1)), "the waiting call first");
        let out = output(&l, 1);
        l.finish(1, 1, out, &mut |_, _| None);
        assert_eq!(l.admit(4.0), Some((2, 1)));
        assert_eq!(l.entry(2).cached, 1);
        let record = l.entry(2).record(10, 2, Finish::Stop);
        assert_eq!(
            (record.attempt, record.cached_tokens, record.queue_ms),
            (2, 1, 2.0)
        );
        let out = output(&l, 2);
        l.finish(2, 1, out, &mut |_, _| None);
        let outs = l.into_outputs().unwrap();
        let texts: Vec<_> = outs.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(texts, ["reply 0", "reply 1", "reply 2"]);
    }

    #[test]
    fn withdrawn_calls_leave_the_queue_with_empty_outputs() {
        let mut l: Ledger<()> = Ledger::new(1..=1);
        for (i, group) in [(0, 0), (1, 1), (2, 0)] {
            l.submit(
                ChatCall {
                    group,
                    ..ChatCall::bare(i)
                },
                (),
                0,
                0.0,
            );
        }
        assert_eq!(l.admit(1.0), Some((0, 1)));
        assert_eq!(
            l.withdraw(|c| c.group == 0, 2.0),
            1,
            "only the waiting call of group 0"
        );
        let out = output(&l, 0);
        l.finish(0, 1, out, &mut |_, _| None);
        assert_eq!(l.admit(3.0), Some((1, 1)), "group 1 goes on");
        let out = output(&l, 1);
        l.finish(1, 1, out, &mut |_, _| None);
        let outs = l.into_outputs().unwrap();
        assert_eq!(outs[2].record.finish, Finish::Error);
        assert!(outs[2].text.is_empty());
    }

    #[test]
    fn an_unfinished_call_is_an_error_not_a_panic() {
        let mut l: Ledger<()> = Ledger::new(1..=1);
        l.submit(ChatCall::bare(0), (), 0, 0.0);
        assert!(l.into_outputs().is_err());
    }
}
