//! The server's courses on the shared places (`crate::run::scheduler`): up to `concurrent`
//! run at once, each with a course engine at the shared engine; the rest wait in a bounded queue and
//! hear their place as it moves. A job whose ticket is dropped (the client went away) is
//! taken off the queue or cancelled in the engine; finished syllabi are kept for download.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::cli::CoursePlan;
use crate::course::Syllabus;
use crate::engine::measures::{CallRecord, Clock};
use crate::engine::shared::{CourseEngine, CourseEngines};
use crate::engine::{
    CallOutput, ChatCall, Engine, EngineError, NoProgress, Phase, Progress, Strategy,
};
use crate::report::timing::RunRecord;
use crate::run::course_run::{CourseClock, Runner};
pub use crate::run::scheduler::{JobRefused, Load};
use crate::run::scheduler::{Scheduler, Worker};

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
    /// Text of a chat's reply as it is written (the Ollama and OpenAI APIs; not sent as
    /// a course event).
    #[serde(skip)]
    Piece(String),
    /// A chat's reply, whole (the Ollama and OpenAI APIs).
    #[serde(skip)]
    Answered(Box<CallOutput>),
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

/// A client's hold on its course: dropping it abandons the course.
pub struct Ticket {
    id: u64,
    jobs: Arc<Scheduler<Writer>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.jobs.cancel(self.id, EngineError::Cancelled);
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
    /// One call of the Ollama or OpenAI API, answered with `Piece`s and `Answered`.
    Chat(Box<ChatCall>),
}

/// A job with whom to tell about it.
pub struct Job {
    work: Work,
    events: UnboundedSender<Event>,
}

/// Writes the server's jobs and keeps the finished ones.
pub struct Writer {
    runner: Runner,
    finished: Mutex<VecDeque<Arc<Finished>>>,
}

/// Every course of the server.
pub struct Jobs {
    places: Arc<Scheduler<Writer>>,
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
    /// Courses written by `runner` on `course_engines`, `concurrent` at once and `queue_limit` waiting.
    pub fn new(
        course_engines: CourseEngines,
        runner: Runner,
        concurrent: usize,
        queue_limit: usize,
    ) -> Arc<Self> {
        let writer = Writer {
            runner,
            finished: Mutex::new(VecDeque::new()),
        };
        Arc::new(Self {
            places: Scheduler::new(course_engines, writer, concurrent, queue_limit),
        })
    }

    /// Takes a job; `events` hears of it until `Done` or `Failed`.
    pub fn submit(&self, work: Work, events: UnboundedSender<Event>) -> Result<Ticket, JobRefused> {
        let id = self.places.submit(Job { work, events })?;
        Ok(Ticket {
            id,
            jobs: Arc::clone(&self.places),
        })
    }

    /// A finished course still kept.
    pub fn finished(&self, id: u64) -> Option<Arc<Finished>> {
        let kept = self.places.worker().finished.lock();
        let kept = kept.unwrap_or_else(|e| e.into_inner());
        kept.iter().find(|f| f.id == id).cloned()
    }

    /// Courses running and waiting.
    pub fn load(&self) -> Load {
        self.places.load()
    }

    /// Stops taking courses: waiting ones fail, running ones are cancelled. Returns once
    /// every running course has ended.
    pub async fn shut_down(&self) {
        for (_, job) in self.places.close(EngineError::Stopping) {
            let _ = job.events.send(Event::Failed {
                message: EngineError::Stopping.to_string(),
                stopping: true,
            });
        }
        while !self.places.is_idle() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Writer {
    /// The syllabus and record of `work`, written on `course_engine` as job `id`.
    fn produce(
        &self,
        id: u64,
        work: &Work,
        course_engine: &mut CourseEngine,
        progress: &Relay,
    ) -> anyhow::Result<(Syllabus, RunRecord)> {
        match work {
            Work::Course { course, seed } => {
                let start = CourseClock::now(Clock::new(), 0.0);
                let draft = self
                    .runner
                    .write(course_engine, course, *seed, start, progress)?;
                Ok(draft.finish())
            }
            Work::Chat(_) => anyhow::bail!("a chat is answered, not written as a course"),
            Work::Module { of, index, note } => {
                // Another seed each time: the same module asked again reads differently.
                let course_seed = of.syllabus.provenance.as_ref().map(|p| p.seed);
                let run = self.runner.run();
                let seed = course_seed
                    .unwrap_or(run.seed)
                    .wrapping_add((id as u32).wrapping_mul(7919));
                let how = run.settings(seed);
                let rewrite = crate::pipeline::Rewrite {
                    indexes: &[*index],
                    note: note.as_deref(),
                };
                crate::commands::regenerate::rewrite(
                    course_engine,
                    &of.syllabus,
                    rewrite,
                    how,
                    progress,
                )
            }
        }
    }

    /// What the client hears at the end of job `id`.
    fn ended(
        &self,
        id: u64,
        result: anyhow::Result<(Syllabus, RunRecord)>,
        queued_ms: f64,
    ) -> Event {
        match result {
            Ok((syllabus, record)) => {
                let downloads = [
                    "markdown",
                    "json",
                    "html",
                    "docx",
                    "pdf",
                    "imscc",
                    "imscc-1.1",
                ]
                .into_iter()
                .map(|f| (f, format!("/api/syllabus/{id}/{f}")))
                .collect();
                let done = Arc::new(Finished {
                    id,
                    syllabus,
                    record,
                    queued_ms,
                    downloads,
                });
                let mut kept = self.finished.lock().unwrap_or_else(|e| e.into_inner());
                kept.push_back(Arc::clone(&done));
                if kept.len() > KEPT {
                    kept.pop_front();
                }
                Event::Done(Box::new((*done).clone()))
            }
            Err(e) => Event::failed(&e),
        }
    }
}

impl Event {
    /// What a client hears of a job that ended with `e`.
    fn failed(e: &anyhow::Error) -> Self {
        match e.downcast_ref::<EngineError>() {
            // Ended on purpose: the reason alone, not the chain of contexts.
            Some(why @ (EngineError::Cancelled | EngineError::Stopping)) => Self::Failed {
                message: why.to_string(),
                stopping: *why == EngineError::Stopping,
            },
            _ => Self::Failed {
                message: format!("{e:#}"),
                stopping: false,
            },
        }
    }
}

impl Worker for Writer {
    type Job = Job;

    fn run(&self, id: u64, job: Job, course_engine: &mut CourseEngine, waited_ms: f64) {
        let _ = job.events.send(Event::Started { id });
        if let Work::Chat(call) = &job.work {
            let _ = job.events.send(answer(course_engine, call));
            return;
        }
        let progress = Relay(job.events.clone());
        // A course that panics fails alone, with a message.
        let result = caught(|| self.produce(id, &job.work, course_engine, &progress));
        let _ = job.events.send(self.ended(id, result, waited_ms));
    }

    fn queued(&self, id: u64, job: &Job, position: usize) {
        let _ = job.events.send(Event::Queued { id, position });
    }
}

/// A chat call's reply on `course_engine`, or why there is none.
fn answer(course_engine: &mut CourseEngine, call: &ChatCall) -> Event {
    let ran =
        caught(|| course_engine.run(std::slice::from_ref(call), Strategy::Parallel, &NoProgress));
    match ran.map(|(outputs, _)| outputs.into_iter().next()) {
        Ok(Some(output)) => Event::Answered(Box::new(output)),
        Ok(None) => Event::Failed {
            message: "the engine gave no reply".into(),
            stopping: false,
        },
        Err(e) => Event::failed(&e),
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
