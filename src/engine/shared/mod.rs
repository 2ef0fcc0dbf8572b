//! One engine shared by pipelines that run at once (the courses of a batch, the requests
//! of `serve`).
//!
//! Each pipeline runs on its own thread with a `CourseEngine`: an `Engine` whose calls go
//! to the thread that owns the real engine (a llama.cpp context is not shared across
//! threads). That thread, in `SharedEngine::serve`, keeps one open run of the engine going:
//! the calls of every course engine join it as they come, each course engine's calls their
//! own group (so a course's calls share its prefix and continue its own outline); each finished call goes to the pipeline
//! that made it (with the follow-up question), and a pipeline goes on as soon as its own
//! calls are done, while the others' calls go on decoding. Pipelines join at any time
//! (`run::scheduler` decides which), and a course can be cancelled mid-run.

mod open_run;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};

use self::open_run::{Answer, OpenRun, Request};

use anyhow::anyhow;

use crate::engine::{
    Ask, BatchStats, CallOutput, ChatCall, ChatMessage, Engine, EngineError, EngineInfo, Fit,
    FollowUp, Phase, Progress, PromptError, Strategy,
};

/// The owner's side: makes course engines for pipelines and serves their calls.
pub struct SharedEngine {
    requests: Receiver<Request>,
    course_engines: CourseEngines,
}

/// Makes course engines for pipelines; cheap to clone and `Send`.
#[derive(Clone)]
pub struct CourseEngines {
    to_owner: Sender<Request>,
    info: EngineInfo,
}

/// A pipeline's engine: its calls run on the shared engine, as group `group`. Leaves the
/// shared engine when dropped (also when its pipeline panics), so the others never wait for it.
pub struct CourseEngine {
    group: usize,
    course_engines: CourseEngines,
}

impl CourseEngines {
    /// A course engine for a pipeline whose calls form group `group` (unique among joined
    /// pipelines). The shared engine waits for its first calls (or its leaving) before its
    /// next step: make it when the course starts, not before.
    pub fn course_engine(&self, group: usize) -> CourseEngine {
        let _ = self.to_owner.send(Request::Join { group });
        CourseEngine {
            group,
            course_engines: self.clone(),
        }
    }

    /// Abandons the course of `group`: its running calls are cut, its pipeline's engine
    /// calls fail with `why` (`EngineError::Cancelled` or `Stopping`) until its course engine leaves.
    pub fn cancel(&self, group: usize, why: EngineError) {
        let _ = self.to_owner.send(Request::Cancel { group, why });
    }

    /// How a call of `messages` would fit the engine's memory (asked of its thread).
    pub fn measure(&self, messages: &[ChatMessage]) -> Result<Fit, PromptError> {
        self.ask(|answer| Request::Measure {
            messages: messages.to_vec(),
            answer,
        })
    }

    /// Asks the shared engine's thread a question and waits for its answer.
    fn ask<T>(
        &self,
        request: impl FnOnce(Sender<Result<T, PromptError>>) -> Request,
    ) -> Result<T, PromptError> {
        let (answer, reply) = channel();
        self.to_owner
            .send(request(answer))
            .map_err(|_| PromptError::Stopped)?;
        reply.recv().map_err(|_| PromptError::Stopped)?
    }

    /// Ends an open shared engine once nothing runs (`SharedEngine::serve` returns).
    pub fn close(&self) {
        let _ = self.to_owner.send(Request::Close);
    }
}

impl CourseEngine {
    /// This course sends no calls for now (it writes its files): the others' calls go on
    /// without waiting for it.
    pub fn rest(&self) {
        let _ = self
            .course_engines
            .to_owner
            .send(Request::Rest { group: self.group });
    }
}

impl Drop for CourseEngine {
    fn drop(&mut self) {
        let _ = self
            .course_engines
            .to_owner
            .send(Request::Leave { group: self.group });
    }
}

impl SharedEngine {
    /// A shared engine for an engine described by `info`.
    pub fn new(info: EngineInfo) -> Self {
        let (to_owner, requests) = channel();
        Self {
            requests,
            course_engines: CourseEngines { to_owner, info },
        }
    }

    /// What makes course engines for this shared engine.
    pub fn course_engines(&self) -> &CourseEngines {
        &self.course_engines
    }

    /// Serves pipelines that join at any time (course engines made from `course_engines()`, each with a group
    /// not joined at the moment) until `CourseEngines::close`; the figures of its last run. An
    /// engine failure fails the calls in flight; the shared engine then goes on with a new run.
    pub fn serve(&self, engine: &mut dyn Engine, strategy: Strategy) -> anyhow::Result<BatchStats> {
        loop {
            let state = RefCell::new(OpenRun::new(&self.requests));
            let result = serve_one_run(engine, strategy, &state);
            let mut host = state.into_inner();
            match result {
                Ok(stats) => return Ok(stats),
                Err(e) => {
                    let why = format!("{e:#}");
                    tracing::error!(error = %why, "the shared engine failed; its calls in flight fail");
                    host.fail_all(&why);
                    if !host.open {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// One open run of `engine` for the course engines `host` serves.
fn serve_one_run(
    engine: &mut dyn Engine,
    strategy: Strategy,
    host: &RefCell<OpenRun<'_>>,
) -> anyhow::Result<BatchStats> {
    let mut follow_up =
        |call: &ChatCall, output: &CallOutput| host.borrow_mut().follow_up(call, output);
    let mut more = |ask: Ask<'_>| host.borrow_mut().more(ask);
    let progress = &crate::engine::NoProgress;
    let (_, stats) = engine.run_open(&[], strategy, progress, &mut follow_up, &mut more)?;
    Ok(stats)
}

fn key(c: &ChatCall) -> (Phase, usize, u32) {
    (c.phase, c.index, c.attempt)
}

fn stopped() -> anyhow::Error {
    anyhow!("the shared engine has stopped")
}

impl Engine for CourseEngine {
    fn info(&self) -> EngineInfo {
        self.course_engines.info.clone()
    }

    fn continues(&mut self, conversation: &[ChatMessage]) -> Result<(), PromptError> {
        self.course_engines.ask(|answer| Request::Continues {
            conversation: conversation.to_vec(),
            answer,
        })
    }

    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        _strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        let (answer, replies) = channel();
        let request = Request::Run {
            group: self.group,
            calls: calls.to_vec(),
            answer,
        };
        self.course_engines
            .to_owner
            .send(request)
            .map_err(|_| stopped())?;
        // Outputs in the order an engine gives them: the calls, then follow-ups as asked.
        let mut order: HashMap<(Phase, usize, u32), usize> =
            calls.iter().enumerate().map(|(i, c)| (key(c), i)).collect();
        let mut outputs: Vec<(usize, CallOutput)> = Vec::new();
        loop {
            match replies.recv().map_err(|_| stopped())? {
                Answer::FollowUp { call, output, next } => {
                    progress.call_finished(&output.record);
                    let then = follow_up(&call, &output);
                    if let Some(n) = &then {
                        order.insert(key(n), order.len());
                    }
                    let _ = next.send(then);
                    let at = order.get(&key(&call)).copied().unwrap_or(usize::MAX);
                    outputs.push((at, *output));
                }
                Answer::Done(outcome) => {
                    outcome?;
                    outputs.sort_by_key(|(at, _)| *at);
                    let outputs = outputs.into_iter().map(|(_, o)| o).collect();
                    return Ok((outputs, BatchStats::default()));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::measures::{CallMarks, CallRecord, CallTokens};
    use crate::engine::{Finish, NoProgress};

    /// Answers each call with "group/index/attempt"; runs follow-ups as they are asked.
    pub(crate) struct Echo;

    impl Engine for Echo {
        fn info(&self) -> EngineInfo {
            EngineInfo::fake("echo")
        }

        fn run_with_follow_ups(
            &mut self,
            calls: &[ChatCall],
            _strategy: Strategy,
            _progress: &dyn Progress,
            follow_up: FollowUp<'_>,
        ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
            let mut queue: std::collections::VecDeque<ChatCall> = calls.iter().cloned().collect();
            let mut outputs = Vec::new();
            while let Some(c) = queue.pop_front() {
                let out = CallOutput {
                    text: format!("{}/{}/{}", c.group, c.index, c.attempt),
                    tokens: Vec::new(),
                    record: CallRecord::new(
                        c.phase,
                        c.index,
                        c.attempt,
                        CallMarks::default(),
                        CallTokens::default(),
                        Finish::Stop,
                    ),
                };
                if let Some(next) = follow_up(&c, &out) {
                    queue.push_back(next);
                }
                outputs.push(out);
            }
            Ok((outputs, BatchStats::default()))
        }
    }

    #[test]
    fn each_seat_gets_its_own_outputs_and_follow_ups() {
        let mut engine = Echo;
        let shared_engine = SharedEngine::new(engine.info());
        let texts = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|g| {
                    let mut course_engine = shared_engine.course_engines().course_engine(g);
                    s.spawn(move || {
                        let calls = [ChatCall::bare(0), ChatCall::bare(1)];
                        // Group 1 asks once for a regeneration of its first call.
                        let mut redo = |c: &ChatCall, _: &CallOutput| {
                            (g == 1 && c.index == 0 && c.attempt == 1).then(|| ChatCall {
                                attempt: 2,
                                ..c.clone()
                            })
                        };
                        let (outs, _) = course_engine
                            .run_with_follow_ups(&calls, Strategy::Parallel, &NoProgress, &mut redo)
                            .unwrap();
                        let second = course_engine.run(
                            &[ChatCall::bare(5)],
                            Strategy::Parallel,
                            &NoProgress,
                        );
                        let mut texts: Vec<String> = outs.into_iter().map(|o| o.text).collect();
                        texts.extend(second.unwrap().0.into_iter().map(|o| o.text));
                        texts
                    })
                })
                .collect();
            let course_engines = shared_engine.course_engines().clone();
            let closer = s.spawn(move || {
                let texts: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                course_engines.close();
                texts
            });
            shared_engine
                .serve(&mut engine, Strategy::Parallel)
                .unwrap();
            closer.join().unwrap()
        });
        assert_eq!(texts[0], ["0/0/1", "0/1/1", "0/5/1"]);
        assert_eq!(texts[1], ["1/0/1", "1/1/1", "1/0/2", "1/5/1"]);
    }

    #[test]
    fn an_open_table_takes_late_seats_and_a_cancelled_course_ends_alone() {
        let mut engine = Echo;
        let shared_engine = SharedEngine::new(engine.info());
        let course_engines = shared_engine.course_engines().clone();
        let client = std::thread::spawn(move || {
            let run = |course_engine: &mut CourseEngine| {
                course_engine
                    .run(&[ChatCall::bare(0)], Strategy::Parallel, &NoProgress)
                    .map(|(outs, _)| outs[0].text.clone())
            };
            let (mut a, mut b) = (
                course_engines.course_engine(0),
                course_engines.course_engine(1),
            );
            course_engines.cancel(0, EngineError::Stopping);
            let cancelled = run(&mut a).unwrap_err();
            let other = run(&mut b).unwrap();
            // It makes no more calls for now: the engine does not wait for it.
            b.rest();
            drop(a);
            // The group is free again once its course engine left.
            let again = run(&mut course_engines.course_engine(0)).unwrap();
            course_engines.close();
            (cancelled, other, again)
        });
        shared_engine
            .serve(&mut engine, Strategy::Parallel)
            .unwrap();
        let (cancelled, other, again) = client.join().unwrap();
        assert_eq!(
            cancelled.downcast_ref::<EngineError>(),
            Some(&EngineError::Stopping)
        );
        assert!(EngineError::is_ended(&cancelled));
        assert_eq!((other.as_str(), again.as_str()), ("1/0/1", "0/0/1"));
    }
}
