//! The server's courses: up to `concurrent` run at once, each pipeline on its own thread
//! with a seat at the shared engine (its own group); the rest wait in a bounded queue and
//! hear their place as it moves. A job whose ticket is dropped (the client went away) is
//! taken off the queue or cancelled in the engine; finished syllabi are kept for download.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::cli::CoursePlan;
use crate::course::Syllabus;
use crate::courses::{Runner, Start};
use crate::engine::joint::{Seat, Seats};
use crate::engine::{EngineError, Phase, Progress};
use crate::timing::{CallRecord, Clock, RunRecord};

/// Finished syllabi kept for download.
const KEPT: usize = 64;

/// What a client hears about its course, in order; `Done` or `Failed` ends it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Waiting for a place: `position` requests are ahead (0: next).
    Queued { id: u64, position: usize },
    /// The course is being written.
    Started { id: u64 },
    /// The outline is written: the module titles.
    Outline { titles: Vec<String> },
    /// A model call ended (a rejected reply is written again).
    Call {
        phase: Phase,
        index: usize,
        attempt: u32,
        generated_tokens: usize,
        ms: f64,
    },
    /// Module `index` (0-based) is written.
    Module { index: usize, title: String },
    /// The whole syllabus, its timing record, and where to download it.
    Done(Box<Finished>),
    /// The course could not be written; `stopping` when the server's stop ended it.
    Failed {
        message: String,
        #[serde(skip)]
        stopping: bool,
    },
}

/// A finished course.
#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    /// Its number on this server.
    pub id: u64,
    /// The syllabus, with how it was made.
    pub syllabus: Syllabus,
    /// Wall-clock record of the run.
    pub record: RunRecord,
    /// Time spent waiting for a place, milliseconds.
    pub queued_ms: f64,
    /// Download paths by format.
    pub downloads: HashMap<&'static str, String>,
}

/// Why a course was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full.
    Full,
    /// The server is stopping.
    Closing,
}

/// A client's hold on its course: dropping it abandons the course.
pub struct Ticket {
    id: u64,
    jobs: Arc<Jobs>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.jobs.abandon(self.id);
    }
}

/// What a job writes.
pub enum Work {
    /// A whole course, with its seed.
    Course {
        /// The course, checked.
        course: Box<CoursePlan>,
        /// Its seed.
        seed: u32,
    },
    /// Module `index` (0-based) of a finished course again, steered by `note`.
    Module {
        /// The course.
        of: Arc<Finished>,
        /// Which module.
        index: usize,
        /// What to change, if said.
        note: Option<String>,
    },
}

struct Waiting {
    id: u64,
    work: Work,
    events: UnboundedSender<Event>,
    since: Clock,
}

#[derive(Default)]
struct State {
    next_id: u64,
    free: Vec<usize>,
    queue: VecDeque<Waiting>,
    /// Running course id -> its group.
    running: HashMap<u64, usize>,
    finished: VecDeque<Arc<Finished>>,
    closing: bool,
}

/// Every course of the server.
pub struct Jobs {
    state: Mutex<State>,
    seats: Seats,
    runner: Runner,
    queue_limit: usize,
}

/// Counts for `/healthz`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    /// Courses being written.
    pub running: usize,
    /// Courses waiting for a place.
    pub queued: usize,
    /// Places for courses at once.
    pub concurrent: usize,
    /// Most courses that may wait.
    pub queue_limit: usize,
}

/// `work`'s result, or its panic as an error that says the course was not written.
fn caught<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(anyhow::anyhow!(
            "this course stopped on an internal error ({why}) and was not written; the server goes on"
        ))
    })
}

impl Jobs {
    /// Courses written by `runner` on `seats`, `concurrent` at once and `queue_limit` waiting.
    pub fn new(
        seats: Seats,
        runner: Runner,
        (concurrent, queue_limit): (usize, usize),
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: (0..concurrent).rev().collect(),
                ..State::default()
            }),
            seats,
            runner,
            queue_limit,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a job; `events` hears of it until `Done` or `Failed`.
    pub fn submit(
        self: &Arc<Self>,
        work: Work,
        events: UnboundedSender<Event>,
    ) -> Result<Ticket, Refused> {
        let mut state = self.state();
        if state.closing {
            return Err(Refused::Closing);
        }
        if state.free.is_empty() && state.queue.len() >= self.queue_limit {
            return Err(Refused::Full);
        }
        state.next_id += 1;
        let id = state.next_id;
        state.queue.push_back(Waiting {
            id,
            work,
            events,
            since: Clock::new(),
        });
        self.start_next(&mut state);
        if let Some(position) = state.queue.iter().position(|w| w.id == id) {
            let _ = state.queue[position]
                .events
                .send(Event::Queued { id, position });
        }
        Ok(Ticket {
            id,
            jobs: Arc::clone(self),
        })
    }

    /// Starts waiting courses while places are free.
    fn start_next(self: &Arc<Self>, state: &mut State) {
        let mut started = false;
        while !state.free.is_empty() && !state.queue.is_empty() {
            let group = state.free.pop().expect("checked");
            let job = state.queue.pop_front().expect("checked");
            state.running.insert(job.id, group);
            let jobs = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name(format!("course-{}", job.id))
                .spawn(move || jobs.write(job, group));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a thread for a course");
                state.running.retain(|_, g| *g != group);
                state.free.push(group);
                break;
            }
            started = true;
        }
        if started {
            for (position, w) in state.queue.iter().enumerate() {
                let _ = w.events.send(Event::Queued { id: w.id, position });
            }
        }
    }

    /// The syllabus and record of `work`, written on `seat` as job `id`.
    fn produce(
        &self,
        (id, work): (u64, &Work),
        seat: &mut Seat,
        progress: &Relay,
    ) -> anyhow::Result<(Syllabus, RunRecord)> {
        match work {
            Work::Course { course, seed } => {
                let start = Start::now(Clock::new(), 0.0);
                let draft = self.runner.write(seat, (course, *seed), start, progress)?;
                Ok(draft.finish())
            }
            Work::Module { of, index, note } => {
                // Another seed each time: the same module asked again reads differently.
                let course_seed = of.syllabus.provenance.as_ref().map(|p| p.seed);
                let run = self.runner.run();
                let seed = course_seed
                    .unwrap_or(run.seed)
                    .wrapping_add((id as u32).wrapping_mul(7919));
                let how = (run.strategy, seed);
                let (indexes, note) = (&[*index][..], note.as_deref());
                crate::regenerate::rewrite(seat, &of.syllabus, (indexes, note), how, progress)
            }
        }
    }

    /// Writes one job on a seat of group `group` (on its own thread).
    fn write(self: Arc<Self>, job: Waiting, group: usize) {
        let queued_ms = job.since.now_ms();
        let _ = job.events.send(Event::Started { id: job.id });
        let progress = Relay(job.events.clone());
        let mut seat = self.seats.seat(group);
        // A course that panics fails alone: its place is freed below like any other's.
        let result = caught(|| self.produce((job.id, &job.work), &mut seat, &progress));
        {
            // Under the lock: a cancel for this course is sent before its seat leaves, or
            // not at all, so it never reaches the next course of the group.
            let mut state = self.state();
            state.running.remove(&job.id);
            drop(seat);
            state.free.push(group);
            if !state.closing {
                self.start_next(&mut state);
            }
        }
        let event = match result {
            Ok((syllabus, record)) => {
                let downloads = ["markdown", "json", "html", "docx"]
                    .into_iter()
                    .map(|f| (f, format!("/api/syllabus/{}/{f}", job.id)))
                    .collect();
                let done = Arc::new(Finished {
                    id: job.id,
                    syllabus,
                    record,
                    queued_ms,
                    downloads,
                });
                let mut state = self.state();
                state.finished.push_back(Arc::clone(&done));
                if state.finished.len() > KEPT {
                    state.finished.pop_front();
                }
                Event::Done(Box::new((*done).clone()))
            }
            Err(e) => match e.downcast_ref::<EngineError>() {
                // Ended on purpose: the reason alone, not the chain of contexts.
                Some(why @ (EngineError::Cancelled | EngineError::Stopping)) => Event::Failed {
                    message: why.to_string(),
                    stopping: *why == EngineError::Stopping,
                },
                _ => Event::Failed {
                    message: format!("{e:#}"),
                    stopping: false,
                },
            },
        };
        let _ = job.events.send(event);
    }

    /// The client of course `id` went away: off the queue, or cancelled in the engine.
    fn abandon(&self, id: u64) {
        let mut state = self.state();
        if let Some(at) = state.queue.iter().position(|w| w.id == id) {
            state.queue.remove(at);
            for (position, w) in state.queue.iter().enumerate().skip(at) {
                let _ = w.events.send(Event::Queued { id: w.id, position });
            }
        } else if let Some(&group) = state.running.get(&id) {
            tracing::info!(course = id, "client went away; course cancelled");
            self.seats.cancel(group, EngineError::Cancelled);
        }
    }

    /// A finished course still kept.
    pub fn finished(&self, id: u64) -> Option<Arc<Finished>> {
        self.state().finished.iter().find(|f| f.id == id).cloned()
    }

    /// Courses running and waiting.
    pub fn load(&self) -> Load {
        let state = self.state();
        Load {
            running: state.running.len(),
            queued: state.queue.len(),
            concurrent: state.free.len() + state.running.len(),
            queue_limit: self.queue_limit,
        }
    }

    /// Stops taking courses: waiting ones fail, running ones are cancelled. Returns once
    /// every running course has ended.
    pub async fn shut_down(&self) {
        {
            let mut state = self.state();
            state.closing = true;
            for w in state.queue.drain(..) {
                let _ = w.events.send(Event::Failed {
                    message: EngineError::Stopping.to_string(),
                    stopping: true,
                });
            }
            for &group in state.running.values() {
                self.seats.cancel(group, EngineError::Stopping);
            }
        }
        while !self.state().running.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Progress of one course, sent to its client.
struct Relay(UnboundedSender<Event>);

impl Progress for Relay {
    fn call_finished(&self, record: &CallRecord) {
        let _ = self.0.send(Event::Call {
            phase: record.phase,
            index: record.index,
            attempt: record.attempt,
            generated_tokens: record.generated_tokens,
            ms: record.total_ms,
        });
    }

    fn outline_ready(&self, titles: &[String]) {
        let _ = self.0.send(Event::Outline {
            titles: titles.to_vec(),
        });
    }

    fn module_ready(&self, index: usize, title: &str) {
        let _ = self.0.send(Event::Module {
            index,
            title: title.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_course_is_an_error_not_a_lost_thread() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let err = caught::<()>(|| panic!("index out of bounds")).unwrap_err();
        std::panic::set_hook(hook);
        let text = err.to_string();
        assert!(
            text.contains("index out of bounds") && text.contains("not written"),
            "{text}"
        );
        assert_eq!(caught(|| Ok(7)).unwrap(), 7);
    }
}
