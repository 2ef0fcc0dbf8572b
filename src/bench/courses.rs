//! `bench --courses N`: the same N courses written one after another on one engine, and
//! together through the scheduler `batch` and `serve` use (`places`), K at once for each K
//! asked; every configuration once per run, interleaved, so drift spreads over all rows.
//! The ratio to one after another is what chooses how many courses run at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::report::median;
use crate::cli::{CourseCount, CoursePlan};
use crate::courses::{Runner, Start};
use crate::engine::joint::{Seat, Table};
use crate::engine::{BackendKind as Backend, Engine, NoProgress, Progress};
use crate::places::{Places, Worker};
use crate::progress::Reporter;
use crate::session::Session;
use crate::stderr::say;
use crate::timing::Clock;

/// One timed configuration of one run.
#[derive(Debug, Clone, Serialize)]
pub struct CoursesResult {
    /// Backend.
    pub backend: Backend,
    /// Courses at once; `None`: one after another.
    pub at_once: Option<usize>,
    /// 1-based run number.
    pub run: usize,
    /// Courses that gave a valid syllabus, of `courses`.
    pub ok_courses: usize,
    /// Courses in the run.
    pub courses: usize,
    /// Wall time of all of them, from the engine's start, ms.
    pub wall_ms: f64,
    /// The first error, if any course failed.
    pub error: Option<String>,
}

/// Median of one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct CoursesRow {
    /// Backend name.
    pub backend: &'static str,
    /// Courses at once; `None`: one after another.
    pub at_once: Option<usize>,
    /// Runs in which every course was written / all runs.
    pub ok_runs: usize,
    /// All runs.
    pub runs: usize,
    /// Median wall time, ms.
    pub median_ms: f64,
    /// This median over one after another's (below 1 is faster).
    pub ratio: f64,
}

/// Writes the bench's courses; counts them (clones share the counts).
#[derive(Clone)]
struct Timer {
    runner: Runner,
    course: CoursePlan,
    written: Arc<AtomicUsize>,
    error: Arc<Mutex<Option<String>>>,
}

impl Timer {
    fn write(&self, engine: &mut dyn Engine, seed: u32) {
        let start = Start::now(Clock::new(), 0.0);
        let course = (&self.course, seed);
        match self.runner.write(engine, course, start, &NoProgress) {
            Ok(_) => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let mut first = self.error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

impl Worker for Timer {
    type Job = u32;

    fn run(&self, _id: u64, seed: u32, seat: &mut Seat, _waited_ms: f64) {
        self.write(seat, seed);
    }
}

/// One configuration: the `n` courses one after another (`at_once` None) or together;
/// its wall time from the engine's start, ms.
fn once(
    session: &Session,
    timer: &Timer,
    (n, at_once): (usize, Option<usize>),
    reporter: &Reporter,
) -> anyhow::Result<f64> {
    let run = timer.runner.run();
    let clock = Clock::new();
    let mut engine = session.engine(run, clock, reporter)?;
    let seeds = (0..n as u32).map(|i| run.seed.wrapping_add(i));
    let Some(k) = at_once else {
        for seed in seeds {
            timer.write(engine.as_mut(), seed);
        }
        return Ok(clock.now_ms());
    };
    crate::pipeline::reserve(engine.as_mut(), &timer.course.request, run.strategy, k)?;
    let table = Table::new(engine.info());
    let places = Places::new(table.seats().clone(), timer.clone(), (k, n));
    for seed in seeds {
        // No queue limit is reached: the queue holds all `n`.
        let _ = places.submit(seed);
    }
    let seats = table.seats().clone();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            places.wait_idle();
            seats.close();
        });
        table.serve(engine.as_mut(), run.strategy)
    })?;
    Ok(clock.now_ms())
}

/// A label for a configuration.
fn label(at_once: Option<usize>) -> String {
    match at_once {
        None => "one after another".into(),
        Some(k) => format!("{k} at once"),
    }
}

/// Every configuration `plan.runs` times, interleaved, after one warm-up course.
pub fn runs(
    (count, runs): (&CourseCount, usize),
    (runner, course): (&Runner, &CoursePlan),
    session: &Session,
    reporter: &Reporter,
) -> Vec<CoursesResult> {
    let backend = runner.run().backend;
    let fresh = || Timer {
        runner: runner.clone(),
        course: course.clone(),
        written: Arc::default(),
        error: Arc::default(),
    };
    reporter.stage(&format!("{}: warm-up course", backend.name()));
    if let Err(e) = once(session, &fresh(), (1, None), reporter) {
        tracing::warn!(error = %format!("{e:#}"), "warm-up course failed");
    }
    let configurations: Vec<Option<usize>> = std::iter::once(None)
        .chain(count.at_once.iter().map(|&k| Some(k)))
        .collect();
    let mut results = Vec::new();
    for run in 1..=runs {
        for &at_once in &configurations {
            let what = label(at_once);
            reporter.stage(&format!(
                "{}: run {run}/{runs}, {} courses {what}",
                backend.name(),
                count.n
            ));
            let timer = fresh();
            let timed = once(session, &timer, (count.n, at_once), reporter);
            let written = timer.written.load(Ordering::Relaxed);
            let mut error = timer.error.lock().unwrap_or_else(|e| e.into_inner()).take();
            let wall_ms = match timed {
                Ok(ms) => ms,
                Err(e) => {
                    error = Some(format!("{e:#}"));
                    f64::NAN
                }
            };
            if let Some(e) = &error {
                reporter.finish();
                say(&format!("{} courses {what}, run {run}: {e}", count.n));
            }
            results.push(CoursesResult {
                backend,
                at_once,
                run,
                ok_courses: written,
                courses: count.n,
                wall_ms,
                error,
            });
        }
    }
    results
}

/// Medians per backend and configuration, in the order they ran; ratios to one after
/// another on the same backend.
pub fn summarize(results: &[CoursesResult]) -> Vec<CoursesRow> {
    let mut keys: Vec<(Backend, Option<usize>)> = Vec::new();
    for r in results {
        if !keys.contains(&(r.backend, r.at_once)) {
            keys.push((r.backend, r.at_once));
        }
    }
    let mut rows: Vec<CoursesRow> = keys
        .iter()
        .map(|&(backend, at_once)| {
            let runs: Vec<&CoursesResult> = results
                .iter()
                .filter(|r| r.backend == backend && r.at_once == at_once)
                .collect();
            let whole: Vec<f64> = runs
                .iter()
                .filter(|r| r.ok_courses == r.courses && r.wall_ms.is_finite())
                .map(|r| r.wall_ms)
                .collect();
            CoursesRow {
                backend: backend.name(),
                at_once,
                ok_runs: whole.len(),
                runs: runs.len(),
                median_ms: median(&whole),
                ratio: f64::NAN,
            }
        })
        .collect();
    let bases: Vec<(&'static str, f64)> = rows
        .iter()
        .filter(|r| r.at_once.is_none())
        .map(|r| (r.backend, r.median_ms))
        .collect();
    for row in &mut rows {
        let base = bases.iter().find(|(b, _)| *b == row.backend);
        row.ratio = base.map_or(f64::NAN, |(_, ms)| row.median_ms / ms);
    }
    rows
}

/// The table people read: one row per configuration.
pub fn table(rows: &[CoursesRow]) -> String {
    let mut out = format!(
        "{:<8} {:<18} {:>5} {:>9} {:>22}\n",
        "backend", "courses", "ok", "median s", "vs one after another"
    );
    for r in rows {
        let median = if r.median_ms.is_nan() {
            "-".to_string()
        } else {
            format!("{:.2}", r.median_ms / 1000.0)
        };
        let ratio = if r.ratio.is_nan() {
            "-".to_string()
        } else {
            format!("{:.2}x", r.ratio)
        };
        out += &format!(
            "{:<8} {:<18} {:>5} {:>9} {:>22}\n",
            r.backend,
            label(r.at_once),
            format!("{}/{}", r.ok_runs, r.runs),
            median,
            ratio
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(at_once: Option<usize>, run: usize, wall_ms: f64, ok: usize) -> CoursesResult {
        CoursesResult {
            backend: Backend::Llama,
            at_once,
            run,
            ok_courses: ok,
            courses: 4,
            wall_ms,
            error: None,
        }
    }

    #[test]
    fn ratios_are_to_one_after_another_and_a_run_with_a_lost_course_is_left_out() {
        let results = [
            result(None, 1, 100.0, 4),
            result(Some(2), 1, 80.0, 4),
            result(None, 2, 120.0, 4),
            result(Some(2), 2, 10.0, 3),
            result(None, 3, 110.0, 4),
            result(Some(2), 3, 90.0, 4),
        ];
        let rows = summarize(&results);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].median_ms, rows[0].ratio), (110.0, 1.0));
        assert_eq!((rows[1].ok_runs, rows[1].runs), (2, 3));
        assert_eq!(rows[1].median_ms, 85.0);
        assert!((rows[1].ratio - 85.0 / 110.0).abs() < 1e-9);
        let text = table(&rows);
        assert!(text.contains("one after another") && text.contains("2 at once"));
        assert!(text.contains("0.77x"), "{text}");
    }
}
