//! The shared engine's side of an open run: the requests course engines send, and what the engine's thread
//! does with them (calls joined to the run, finished calls routed to their pipelines,
//! cancelled courses withdrawn).

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};

use crate::engine::{Ask, CallOutput, ChatCall, ChatMessage, EngineError, Fit, PromptError};

/// Longest the engine waits for a course between its calls (a pipeline moves on in
/// milliseconds; one that does not, say a course engine held idle, must not stop the rest).
const BETWEEN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// What a course engine (or whoever holds `CourseEngines`) asks of the shared engine.
pub(super) enum Request {
    /// A course engine for `group` was made: its first calls are waited for.
    Join {
        group: usize,
    },
    Run {
        group: usize,
        calls: Vec<ChatCall>,
        answer: Sender<Answer>,
    },
    Continues {
        conversation: Vec<ChatMessage>,
        answer: Sender<Result<(), PromptError>>,
    },
    /// How a call of these messages would fit the engine's memory.
    Measure {
        messages: Vec<ChatMessage>,
        answer: Sender<Result<Fit, PromptError>>,
    },
    Leave {
        group: usize,
    },
    /// The course of `group` sends no calls for now (it writes its files): not waited for.
    Rest {
        group: usize,
    },
    /// The course of `group` is abandoned: its calls are cut, its pipeline told `why`.
    Cancel {
        group: usize,
        why: EngineError,
    },
    /// An open shared engine ends once nothing runs.
    Close,
}

/// What the shared engine tells a course engine about its run.
pub(super) enum Answer {
    FollowUp {
        call: Box<ChatCall>,
        output: Box<CallOutput>,
        next: Sender<Option<ChatCall>>,
    },
    /// Every call of the course engine's run has finished (or ended, with why).
    Done(Result<(), EngineError>),
}

/// A joined pipeline's run in the open run.
struct SeatCalls {
    answer: Sender<Answer>,
    /// Calls not finished yet (follow-ups included).
    outstanding: usize,
}

/// The shared engine's side of an open run.
pub(super) struct OpenRun<'a> {
    requests: &'a Receiver<Request>,
    /// Waits for calls while the engine is idle, until `Close`.
    pub open: bool,
    course_engines: HashMap<usize, SeatCalls>,
    /// Groups cancelled and not yet left, with why: their calls are refused.
    cancelled: HashMap<usize, EngineError>,
    /// Groups the engine waits for before its next step: joined and not yet sent their first
    /// calls, or done with their calls and not yet sent the next ones, rested or left. So a
    /// course's calls join the batch at the same step in every run, and the batch, rounded
    /// as one, gives the same text run to run.
    between: HashSet<usize>,
}

impl<'a> OpenRun<'a> {
    /// A host reading `requests` for the pipelines that join, until `Close`.
    pub fn new(requests: &'a Receiver<Request>) -> Self {
        Self {
            requests,
            open: true,
            course_engines: HashMap::new(),
            cancelled: HashMap::new(),
            between: HashSet::new(),
        }
    }

    /// Hands a finished call to its pipeline, which says whether another call follows;
    /// tells the pipeline when all its calls are done.
    pub fn follow_up(&mut self, call: &ChatCall, output: &CallOutput) -> Option<ChatCall> {
        let course_engine = self.course_engines.get_mut(&call.group)?;
        let (next_tx, next_rx) = channel();
        let question = Answer::FollowUp {
            call: Box::new(call.clone()),
            output: Box::new(output.clone()),
            next: next_tx,
        };
        let next = match course_engine.answer.send(question) {
            Ok(()) => next_rx.recv().ok().flatten(),
            Err(_) => None,
        };
        match next {
            Some(n) => Some(ChatCall {
                group: call.group,
                ..n
            }),
            None => {
                course_engine.outstanding -= 1;
                if course_engine.outstanding == 0 {
                    let course_engine = self
                        .course_engines
                        .remove(&call.group)
                        .expect("found above");
                    let _ = course_engine.answer.send(Answer::Done(Ok(())));
                    self.between.insert(call.group);
                }
                None
            }
        }
    }

    /// A pipeline left group `group`: calls it left running are withdrawn; the group is
    /// free for another.
    fn leave(&mut self, group: usize, withdrawn: &mut Vec<usize>) {
        self.between.remove(&group);
        if self.course_engines.remove(&group).is_some() {
            withdrawn.push(group);
        }
        self.cancelled.remove(&group);
    }

    /// The course of `group` is abandoned: its pipeline hears why, its calls are withdrawn.
    fn cancel(&mut self, group: usize, why: EngineError, withdrawn: &mut Vec<usize>) {
        self.between.remove(&group);
        if let Some(course_engine) = self.course_engines.remove(&group) {
            let _ = course_engine.answer.send(Answer::Done(Err(why.clone())));
            withdrawn.push(group);
        }
        self.cancelled.insert(group, why);
    }

    /// New calls from the course engines; waits for some when the engine is idle, until the shared engine
    /// closes, and for every course it waits for (`between`). Answers other requests meanwhile.
    pub fn more(&mut self, ask: Ask<'_>) -> Vec<ChatCall> {
        let mut new = Vec::new();
        let patience = std::time::Instant::now() + BETWEEN_PATIENCE;
        loop {
            let idle = ask.idle && new.is_empty() && self.open;
            let request = if idle {
                match self.requests.recv() {
                    Ok(r) => r,
                    Err(_) => return in_group_order(new),
                }
            } else if !self.between.is_empty() {
                let left = patience.saturating_duration_since(std::time::Instant::now());
                match self.requests.recv_timeout(left) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        tracing::debug!(courses = ?self.between, "not waiting longer for courses between calls");
                        self.between.clear();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return in_group_order(new),
                }
            } else {
                match self.requests.try_recv() {
                    Ok(r) => r,
                    Err(_) => return in_group_order(new),
                }
            };
            match request {
                Request::Continues {
                    conversation,
                    answer,
                } => {
                    let _ = answer.send((ask.continues)(&conversation));
                }
                Request::Measure { messages, answer } => {
                    let _ = answer.send((ask.measure)(&messages));
                }
                Request::Join { group } => {
                    self.between.insert(group);
                }
                Request::Rest { group } => {
                    self.between.remove(&group);
                }
                Request::Run {
                    group,
                    calls,
                    answer,
                } => {
                    self.between.remove(&group);
                    if let Some(why) = self.cancelled.get(&group) {
                        let _ = answer.send(Answer::Done(Err(why.clone())));
                        continue;
                    }
                    if calls.is_empty() {
                        let _ = answer.send(Answer::Done(Ok(())));
                        // Done at once: its next calls are as near as after a run.
                        self.between.insert(group);
                        continue;
                    }
                    let outstanding = calls.len();
                    self.course_engines.insert(
                        group,
                        SeatCalls {
                            answer,
                            outstanding,
                        },
                    );
                    new.extend(calls.into_iter().map(|c| ChatCall { group, ..c }));
                }
                Request::Leave { group } => self.leave(group, ask.withdrawn),
                Request::Cancel { group, why } => {
                    // Calls of the group not yet given to the engine go with it.
                    new.retain(|c| c.group != group);
                    self.cancel(group, why, ask.withdrawn);
                }
                Request::Close => self.open = false,
            }
        }
    }

    /// After the engine failed: the calls waiting now are answered with `why`.
    pub fn fail_all(&mut self, why: &str) {
        for (_, course_engine) in self.course_engines.drain() {
            let _ = course_engine
                .answer
                .send(Answer::Done(Err(EngineError::Failed(why.to_string()))));
        }
    }
}

/// `calls` by group, each group's in the order it sent them: the order the courses' threads
/// happened to send them in must not change the batch's rows.
fn in_group_order(mut calls: Vec<ChatCall>) -> Vec<ChatCall> {
    calls.sort_by_key(|c| c.group);
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The calls `more` gathers while the engine is busy, and how long it took.
    fn gather(open: &mut OpenRun<'_>) -> (Vec<(usize, usize)>, Duration) {
        let mut withdrawn = Vec::new();
        let ask = Ask {
            idle: false,
            continues: &|_| Ok(()),
            measure: &|_| Ok(Fit::UNKNOWN),
            withdrawn: &mut withdrawn,
        };
        let t = Instant::now();
        let calls = open.more(ask);
        (
            calls.iter().map(|c| (c.group, c.index)).collect(),
            t.elapsed(),
        )
    }

    fn run(group: usize, index: usize) -> Request {
        Request::Run {
            group,
            calls: vec![ChatCall::bare(index)],
            answer: channel().0,
        }
    }

    #[test]
    fn the_step_waits_for_a_joined_course_and_takes_calls_in_group_order() {
        let (tx, rx) = channel();
        let mut open = OpenRun::new(&rx);
        tx.send(Request::Join { group: 0 }).unwrap();
        tx.send(Request::Join { group: 1 }).unwrap();
        tx.send(run(1, 7)).unwrap();
        // Course 0 sends its calls later than course 1: they still come in this step, first.
        let late = tx.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            late.send(run(0, 3)).unwrap();
        });
        let (calls, _) = gather(&mut open);
        sender.join().unwrap();
        assert_eq!(calls, [(0, 3), (1, 7)]);
    }

    #[test]
    fn a_resting_course_is_not_waited_for_and_a_silent_one_only_for_a_while() {
        let (tx, rx) = channel();
        let mut open = OpenRun::new(&rx);
        tx.send(Request::Join { group: 1 }).unwrap();
        tx.send(Request::Rest { group: 1 }).unwrap();
        tx.send(run(0, 2)).unwrap();
        let (calls, took) = gather(&mut open);
        assert_eq!(calls, [(0, 2)]);
        assert!(took < BETWEEN_PATIENCE, "{took:?}");

        tx.send(Request::Join { group: 2 }).unwrap();
        tx.send(run(3, 4)).unwrap();
        let (calls, took) = gather(&mut open);
        assert_eq!(calls, [(3, 4)]);
        assert!(took >= BETWEEN_PATIENCE, "{took:?}");
        // Given up on, it is not waited for again until it has run.
        tx.send(run(4, 5)).unwrap();
        let (calls, took) = gather(&mut open);
        assert_eq!(calls, [(4, 5)]);
        assert!(took < BETWEEN_PATIENCE, "{took:?}");
    }
}
