//! Tests of `stream`: prompt chunks, forced tokens, drafts checked row by row.

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

/// A stream that sampled 7 after its prompt and was given `draft`, fed in one step.
fn drafted(draft: &[i32]) -> (Stream, Vec<BatchEntry>) {
    let mut s = Stream::new(0, 2, vec![1, 2], 1, 16);
    step(&mut s, 16);
    s.take_sampled(7, false);
    s.propose(draft);
    let fed = step(&mut s, 16);
    (s, fed)
}

#[test]
fn a_draft_is_fed_after_the_known_tokens_with_logits_on_each() {
    let (s, fed) = drafted(&[8, 9, 10]);
    assert_eq!(
        fed.iter()
            .map(|e| (e.token, e.pos, e.logits))
            .collect::<Vec<_>>(),
        [(7, 2, true), (8, 3, true), (9, 4, true), (10, 5, true)]
    );
    assert_eq!(s.logits_row, Some(0));
    assert_eq!(s.generated(), [7], "a draft is not part of the reply yet");
}

#[test]
fn sampling_goes_on_while_it_matches_the_draft_and_keeps_the_first_mismatch() {
    let (mut s, _) = drafted(&[8, 9, 10]);
    s.take_sampled(8, false);
    assert_eq!(s.next_row(), Some(1));
    s.take_sampled(9, false);
    assert_eq!(s.next_row(), Some(2));
    s.take_sampled(11, false);
    assert_eq!(s.next_row(), None, "11 is not the drafted 10");
    assert_eq!(
        s.end_check(),
        Some(Checked {
            proposed: 3,
            accepted: 2,
            drop_from: Some(5)
        })
    );
    assert_eq!(s.generated(), [7, 8, 9, 11]);
    assert_eq!(s.in_cache(), [1, 2, 7, 8, 9], "the drafted 10 is gone");
    assert_eq!(
        step(&mut s, 16),
        [BatchEntry {
            token: 11,
            pos: 5,
            seq: 2,
            logits: true
        }]
    );
}

#[test]
fn a_draft_taken_whole_gives_one_more_sampled_token_and_drops_nothing() {
    let (mut s, _) = drafted(&[8, 9]);
    for (token, row) in [(8, Some(1)), (9, Some(2)), (4, None)] {
        s.take_sampled(token, false);
        assert_eq!(s.next_row(), row);
    }
    assert_eq!(
        s.end_check(),
        Some(Checked {
            proposed: 2,
            accepted: 2,
            drop_from: None
        })
    );
    assert_eq!(s.in_cache(), [1, 2, 7, 8, 9]);
    assert_eq!(s.generated(), [7, 8, 9, 4]);
}

#[test]
fn forced_tokens_that_match_the_draft_are_passed_over_without_sampling() {
    let (mut s, _) = drafted(&[8, 9, 10, 12]);
    s.take_sampled(8, false);
    s.force(&[9, 10]);
    assert_eq!(s.next_row(), Some(3), "the row after the drafted 10");
    s.take_sampled(13, false);
    assert_eq!(s.next_row(), None);
    let c = s.end_check().unwrap();
    assert_eq!((c.accepted, c.drop_from), (3, Some(6)));
    assert_eq!(s.generated(), [7, 8, 9, 10, 13]);
}

#[test]
fn forced_tokens_that_leave_the_draft_end_the_check() {
    let (mut s, _) = drafted(&[8, 9, 10]);
    s.take_sampled(8, false);
    s.force(&[5]);
    assert_eq!(s.next_row(), None);
    let c = s.end_check().unwrap();
    assert_eq!((c.accepted, c.drop_from), (1, Some(4)));
    assert_eq!(step(&mut s, 16).len(), 1, "the forced 5 is fed next");
}

#[test]
fn the_end_of_generation_or_the_budget_ends_a_check() {
    let (mut s, _) = drafted(&[8, 9]);
    assert_eq!(s.take_sampled(0, true), Some(Finish::Stop));
    assert_eq!(s.next_row(), None);
    let c = s.end_check().unwrap();
    assert_eq!((c.accepted, c.drop_from), (0, Some(3)));

    let mut s = Stream::new(0, 1, vec![1], 0, 3);
    step(&mut s, 4);
    s.take_sampled(5, false);
    assert_eq!(
        s.draft_room(),
        1,
        "one token of the budget is left after the next"
    );
    s.propose(&[6, 7, 8]);
    assert_eq!(
        step(&mut s, 4).len(),
        2,
        "5 and the one drafted token that fits"
    );
    s.take_sampled(6, false);
    assert_eq!(s.next_row(), Some(1));
    s.take_sampled(9, false);
    assert_eq!(s.finish(), Some(Finish::Length));
    assert_eq!(s.next_row(), None);
    assert_eq!(s.end_check().unwrap().drop_from, None);
}

#[test]
fn a_draft_that_does_not_fit_the_batch_is_cut_or_left_out() {
    let mut s = Stream::new(0, 1, vec![1], 0, 16);
    step(&mut s, 4);
    s.take_sampled(5, false);
    s.propose(&[6, 7, 8]);
    assert_eq!(step(&mut s, 3).len(), 3, "5 and two drafted tokens");
    s.take_sampled(2, false);
    assert_eq!(s.end_check().unwrap().drop_from, Some(2));
    s.propose(&[6]);
    s.force(&[3]);
    assert_eq!(step(&mut s, 2).len(), 2, "no room for the draft");
    assert_eq!(s.end_check(), None);
    assert_eq!(s.next_row(), None);
}
