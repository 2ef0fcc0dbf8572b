//! Which course runs when, on one engine many courses share (`engine::shared`): a number of
//! places (a place is a group at the shared engine), a queue of jobs waiting for one, one thread
//! per running job with its course engine, cancellation of a job waiting or running, and a close
//! that cancels everything. `batch`, `serve` and `bench` put their jobs through it; what a
//! job does, and whom it tells, is theirs (`Worker::run`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::engine::measures::Clock;
use crate::engine::shared::{CourseEngine, CourseEngines, SharedEngine};
use crate::engine::{BatchStats, Engine, EngineError, Strategy};

/// What the places run: the caller's jobs and what they do on a course engine.
pub trait Worker: Send + Sync + 'static {
    /// One job.
    type Job: Send + 'static;

    /// Runs job `id` on `course_engine`, on the job's own thread, after `waited_ms` in the queue.
    fn run(&self, id: u64, job: Self::Job, course_engine: &mut CourseEngine, waited_ms: f64);

    /// A waiting job's place in the queue moved: `position` jobs are ahead of it.
    fn queued(&self, _id: u64, _job: &Self::Job, _position: usize) {}
}

/// Why a job was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRefused {
    /// The queue is full.
    Full,
    /// The places are closed.
    Closing,
}

/// Counts of a places.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Load {
    /// Jobs running.
    pub running: usize,
    /// Jobs waiting for a place.
    pub queued: usize,
    /// Scheduler: jobs at once.
    pub concurrent: usize,
    /// Most jobs that may wait.
    pub queue_limit: usize,
}

struct Waiting<J> {
    id: u64,
    job: J,
    since: Clock,
}

struct State<J> {
    next_id: u64,
    free: Vec<usize>,
    queue: VecDeque<Waiting<J>>,
    /// Running job id -> its group.
    running: HashMap<u64, usize>,
    closing: bool,
}

/// Jobs of `W` run on `course_engines`, a fixed number at once, the rest queued in order.
pub struct Scheduler<W: Worker> {
    state: Mutex<State<W::Job>>,
    /// Signalled whenever a job ends.
    ended: Condvar,
    course_engines: CourseEngines,
    worker: W,
    queue_limit: usize,
}

impl<W: Worker> Scheduler<W> {
    /// Scheduler for `worker`'s jobs on `course_engines`, `concurrent` at once and `queue_limit` waiting.
    pub fn new(
        course_engines: CourseEngines,
        worker: W,
        concurrent: usize,
        queue_limit: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                next_id: 0,
                free: (0..concurrent.max(1)).rev().collect(),
                queue: VecDeque::new(),
                running: HashMap::new(),
                closing: false,
            }),
            ended: Condvar::new(),
            course_engines,
            worker,
            queue_limit,
        })
    }

    fn state(&self) -> MutexGuard<'_, State<W::Job>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What runs the jobs.
    pub fn worker(&self) -> &W {
        &self.worker
    }

    /// Takes a job (its id), refused when closed or when no place is free and the queue
    /// is full; it starts at once when a place is free.
    pub fn submit(self: &Arc<Self>, job: W::Job) -> Result<u64, JobRefused> {
        let mut state = self.state();
        if state.closing {
            return Err(JobRefused::Closing);
        }
        if state.free.is_empty() && state.queue.len() >= self.queue_limit {
            return Err(JobRefused::Full);
        }
        state.next_id += 1;
        let id = state.next_id;
        state.queue.push_back(Waiting {
            id,
            job,
            since: Clock::new(),
        });
        self.start_next(&mut state);
        if let Some(position) = state.queue.iter().position(|w| w.id == id) {
            self.worker.queued(id, &state.queue[position].job, position);
        }
        Ok(id)
    }

    /// Starts waiting jobs while places are free; tells those still waiting their place.
    fn start_next(self: &Arc<Self>, state: &mut State<W::Job>) {
        let mut started = false;
        while !state.free.is_empty() && !state.queue.is_empty() {
            let group = state.free.pop().expect("checked");
            let job = state.queue.pop_front().expect("checked");
            let id = job.id;
            state.running.insert(id, group);
            let places = Arc::clone(self);
            // Made here, in the order the jobs start: the shared engine waits for the first
            // calls of every course started before its next step.
            let course_engine = self.course_engines.course_engine(group);
            let spawned = std::thread::Builder::new()
                .name(format!("course-{id}"))
                .spawn(move || places.run(job, group, course_engine));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a thread for a course");
                state.running.remove(&id);
                state.free.push(group);
                break;
            }
            started = true;
        }
        if started {
            for (position, w) in state.queue.iter().enumerate() {
                self.worker.queued(w.id, &w.job, position);
            }
        }
    }

    /// Runs one job on a course engine of `group` (its own thread); its place goes to the next.
    fn run(self: Arc<Self>, job: Waiting<W::Job>, group: usize, mut course_engine: CourseEngine) {
        let waited_ms = job.since.now_ms();
        let id = job.id;
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.worker.run(id, job.job, &mut course_engine, waited_ms)
        }));
        if ran.is_err() {
            tracing::error!(job = id, "a course's thread panicked; its place is freed");
        }
        // Under the lock: a cancel for this job is sent before its course engine leaves, or not at
        // all, so it never reaches the next job of the group.
        let mut state = self.state();
        state.running.remove(&id);
        drop(course_engine);
        state.free.push(group);
        if !state.closing {
            self.start_next(&mut state);
        }
        self.ended.notify_all();
    }

    /// Job `id` is abandoned: taken off the queue, or cancelled in the engine with `why`.
    pub fn cancel(&self, id: u64, why: EngineError) {
        let mut state = self.state();
        if let Some(at) = state.queue.iter().position(|w| w.id == id) {
            state.queue.remove(at);
            for (position, w) in state.queue.iter().enumerate().skip(at) {
                self.worker.queued(w.id, &w.job, position);
            }
        } else if let Some(&group) = state.running.get(&id) {
            tracing::info!(course = id, reason = %why, "course cancelled");
            self.course_engines.cancel(group, why);
        }
    }

    /// Takes no more jobs: the waiting ones are handed back (with their ids), the running
    /// ones are cancelled with `why`.
    pub fn close(&self, why: EngineError) -> Vec<(u64, W::Job)> {
        let mut state = self.state();
        state.closing = true;
        for &group in state.running.values() {
            self.course_engines.cancel(group, why.clone());
        }
        state.queue.drain(..).map(|w| (w.id, w.job)).collect()
    }

    /// Whether no job runs or waits.
    pub fn is_idle(&self) -> bool {
        let state = self.state();
        state.running.is_empty() && state.queue.is_empty()
    }

    /// Runs a fixed set of `jobs` (batch, bench) on `shared engine`'s engine until every one has
    /// ended, then closes the course engines; the figures of the engine's run.
    pub fn run_all(
        self: &Arc<Self>,
        jobs: impl IntoIterator<Item = W::Job>,
        shared_engine: &SharedEngine,
        engine: &mut dyn Engine,
        strategy: Strategy,
    ) -> anyhow::Result<BatchStats> {
        for job in jobs {
            // Callers size the queue for all their jobs, and nothing closes it before this.
            let _ = self.submit(job);
        }
        std::thread::scope(|scope| {
            scope.spawn(|| {
                self.wait_idle();
                self.course_engines.close();
            });
            shared_engine.serve(engine, strategy)
        })
    }

    /// Blocks until no job runs or waits.
    pub fn wait_idle(&self) {
        let mut state = self.state();
        while !(state.running.is_empty() && state.queue.is_empty()) {
            state = self.ended.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Jobs running and waiting.
    pub fn load(&self) -> Load {
        let state = self.state();
        Load {
            running: state.running.len(),
            queued: state.queue.len(),
            concurrent: state.free.len() + state.running.len(),
            queue_limit: self.queue_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::shared::SharedEngine;
    use crate::engine::{ChatCall, Engine, Strategy};
    use std::sync::mpsc::{channel, Sender};

    /// A job's id, its index, and the reply to its one call.
    type Report = (u64, usize, Result<String, String>);

    /// Each job runs one call and reports which group it ran in, and its outcome.
    struct Probe(Mutex<Sender<Report>>);

    impl Worker for Probe {
        type Job = usize;

        fn run(&self, id: u64, index: usize, course_engine: &mut CourseEngine, _: f64) {
            let out = course_engine
                .run(
                    &[ChatCall::bare(index)],
                    Strategy::Parallel,
                    &crate::engine::NoProgress,
                )
                .map(|(o, _)| o[0].text.clone())
                .map_err(|e| format!("{e:#}"));
            let _ = self.0.lock().unwrap().send((id, index, out));
        }
    }

    #[test]
    fn jobs_take_free_places_in_order_and_a_full_queue_refuses() {
        let mut engine = crate::engine::shared::tests::Echo;
        let shared_engine = SharedEngine::new(engine.info());
        let (tx, rx) = channel();
        let places = Scheduler::new(
            shared_engine.course_engines().clone(),
            Probe(Mutex::new(tx)),
            2,
            3,
        );
        let ids: Vec<_> = (0..5).map(|i| places.submit(i)).collect();
        assert!(ids.iter().all(Result::is_ok), "2 places and 3 waiting");
        assert_eq!(places.submit(9), Err(JobRefused::Full));
        let course_engines = shared_engine.course_engines().clone();
        let closer = {
            let places = Arc::clone(&places);
            std::thread::spawn(move || {
                places.wait_idle();
                course_engines.close();
            })
        };
        shared_engine
            .serve(&mut engine, Strategy::Parallel)
            .unwrap();
        closer.join().unwrap();
        let mut done: Vec<_> = rx.try_iter().collect();
        done.sort();
        assert_eq!(done.len(), 5);
        for (id, index, out) in done {
            // Echo answers "group/index/attempt"; only groups 0 and 1 exist.
            let text = out.unwrap();
            assert!(text == format!("0/{index}/1") || text == format!("1/{index}/1"));
            assert_eq!(id as usize, index + 1);
        }
        assert!(places.is_idle());
        assert!(places.close(EngineError::Stopping).is_empty());
        assert_eq!(places.submit(1), Err(JobRefused::Closing));
    }
}
