//! `syllabus batch`: many courses from one file, one model in memory. Courses already
//! written (and valid) are skipped, a teacher's edits kept, a file of another course never
//! written over, a replaced file kept beside; the rest go through the shared scheduler
//! (`run::scheduler`): several at once, each with a course engine at one shared engine (`engine::shared`), so their calls
//! decode together; a finished course's place goes to the next. One failing course does
//! not stop the others; `summary.json` records every course.

mod summary;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context as _};

use self::summary::{CourseSummary, Status, Summary};
use crate::cli::{BatchCourse, BatchPlan};
use crate::course::{Syllabus, PROVENANCE_FORMAT};
use crate::engine::measures::Clock;
use crate::engine::shared::{CourseEngine, SharedEngine};
use crate::engine::{BatchStats, Engine, Progress};
use crate::launch::output::Target;
use crate::launch::stderr::say;
use crate::render::{self, Format};
use crate::report::progress::Reporter;
use crate::report::timing::RunRecord;
use crate::run::course_run::{CourseClock, Runner};
use crate::run::scheduler::{Scheduler, Worker};
use crate::run::session::Session;

/// The files a course writes: its JSON, and the other format when asked. Under its name,
/// unless its JSON is found under one of its other names (rows added, removed or
/// reordered since it was written) and no other course of the batch has that name.
fn outputs(plan: &BatchPlan, course: &BatchCourse, taken: &mut HashSet<String>) -> Vec<PathBuf> {
    let json = |name: &str| plan.out_dir.join(format!("{name}.json"));
    let mine = |name: &&String| {
        std::fs::read_to_string(json(name))
            .ok()
            .and_then(|t| serde_json::from_str::<Syllabus>(&t).ok())
            .and_then(|s| s.provenance)
            .is_some_and(|p| p.request == course.course.request)
    };
    let name = if mine(&&course.name) {
        course.name.clone()
    } else {
        course
            .other_names
            .iter()
            .filter(|n| !taken.contains(&n.to_lowercase()))
            .find(mine)
            .unwrap_or(&course.name)
            .clone()
    };
    taken.insert(name.to_lowercase());
    let mut paths = vec![json(&name)];
    if let Some(f) = plan.also {
        paths.push(plan.out_dir.join(format!("{name}.{}", f.extension())));
    }
    paths
}

/// What the output folder already holds of a course.
#[derive(Debug, PartialEq)]
enum Found {
    /// Nothing that stops a new run: no JSON, a JSON not readable as a syllabus (kept
    /// beside the new one), or this course's JSON with another seed or unfinished.
    Nothing,
    /// This course's JSON, whole, for this request and seed; its other file as found.
    Written(Companion),
    /// A syllabus of another request (or of none): not replaced without `--force`.
    Other(String),
}

/// The other file beside a written course's JSON.
#[derive(Debug, PartialEq)]
enum Companion {
    /// None asked for, or the one written with the JSON, unchanged.
    AsWritten,
    /// Asked for and not there: made from the JSON.
    Missing,
    /// Changed since it was written, or not written with this JSON (a teacher's file):
    /// kept as it is.
    Edited,
}

/// What `paths` (the course's JSON, then its other file) hold of `course` with `seed`.
fn found(course: &BatchCourse, seed: u32, paths: &[PathBuf]) -> Found {
    let Ok(text) = std::fs::read_to_string(&paths[0]) else {
        return Found::Nothing;
    };
    let Ok(s) = serde_json::from_str::<Syllabus>(&text) else {
        return Found::Nothing;
    };
    let request = &course.course.request;
    let Some(p) = s.provenance.as_ref().filter(|p| p.request == *request) else {
        let theirs = s
            .provenance
            .as_ref()
            .map_or(s.title.as_str(), |p| p.request.topic.as_str());
        return Found::Other(format!(
            "{} holds another course (\"{theirs}\"); not replaced: move it away or use --force",
            paths[0].display()
        ));
    };
    let whole = p.format == PROVENANCE_FORMAT
        && p.seed == seed
        && s.modules.len() == request.modules
        && s.modules.iter().all(|m| !m.title.trim().is_empty());
    if !whole {
        return Found::Nothing;
    }
    let companion = match paths.get(1) {
        None => Companion::AsWritten,
        Some(other) if !other.exists() => Companion::Missing,
        Some(other) => match p.files.get(&file_name(other)) {
            None => Companion::Edited,
            Some(sum) if crate::launch::digest::sha256_file(other).is_ok_and(|now| now == *sum) => {
                Companion::AsWritten
            }
            Some(_) => Companion::Edited,
        },
    };
    Found::Written(companion)
}

/// Makes a written course's missing other file from its JSON (no model), records its
/// sha256 in the JSON; the line to say.
fn rebuild(paths: &[PathBuf], format: Format) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&paths[0])
        .with_context(|| format!("cannot read {}", paths[0].display()))?;
    let mut syllabus: Syllabus = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a syllabus", paths[0].display()))?;
    let bytes = render::render(&syllabus, format)?;
    if let Some(p) = syllabus.provenance.as_mut() {
        p.files.insert(
            file_name(&paths[1]),
            crate::launch::digest::sha256_hex(&bytes),
        );
    }
    commit_keeping(&paths[1], &bytes)?;
    commit_keeping(&paths[0], &render::render(&syllabus, Format::Json)?)?;
    Ok(format!(
        "made {} from {} (no model needed)",
        paths[1].display(),
        paths[0].display()
    ))
}

/// Writes `bytes` to `path` atomically; a different file already there is kept beside it
/// first (`output::keep_previous`), so nothing a teacher had is lost.
fn commit_keeping(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let target = Target::create(path, None)?;
    if std::fs::read(path).is_ok_and(|old| old != bytes) {
        if let Some(kept) = crate::launch::output::keep_previous(path)? {
            tracing::info!("kept {} as {}", path.display(), kept.display());
        }
    }
    target.commit(bytes)
}

/// The last part of `path`, as recorded in provenance.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One course of the batch: which, and its files.
struct Job {
    /// Its place among the courses to do.
    k: usize,
    course: BatchCourse,
    paths: Vec<PathBuf>,
}

/// Writes the batch's courses on their course engines; keeps each one's outcome.
struct Writer {
    runner: Runner,
    also: Option<Format>,
    clock: Clock,
    bar: indicatif::ProgressBar,
    quiet: bool,
    outcomes: Mutex<Outcomes>,
}

/// Each course's record or error, in order; `None` when its thread ended without one.
type Outcomes = Vec<Option<Result<RunRecord, String>>>;

impl Worker for Writer {
    type Job = Job;

    fn run(&self, _id: u64, job: Job, course_engine: &mut CourseEngine, _waited_ms: f64) {
        let outcome = self
            .write(course_engine, &job)
            .map_err(|e| format!("{e:#}"));
        announce(&self.bar, self.quiet, &job, &outcome);
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner())[job.k] = Some(outcome);
    }
}

/// Counts the batch's written modules on its bar.
struct Modules<'a>(&'a indicatif::ProgressBar);

impl Progress for Modules<'_> {
    fn module_ready(&self, _index: usize, _title: &str) {
        self.0.inc(1);
    }
}

impl Writer {
    /// Writes one course on `course_engine`: the pipeline, then its files (atomically); its record.
    fn write(&self, course_engine: &mut CourseEngine, job: &Job) -> anyhow::Result<RunRecord> {
        // Fails now, not after the model's work, when a file cannot be written.
        for p in &job.paths {
            drop(Target::create(p, None)?);
        }
        let start = CourseClock::now(self.clock, 0.0);
        let seed = self.runner.run().seed;
        let written = self.runner.write(
            course_engine,
            &job.course.course,
            seed,
            start,
            &Modules(&self.bar),
        );
        // Its files are made without the model: the other courses decode meanwhile.
        course_engine.rest();
        let mut draft = written?;
        let other = self
            .also
            .map(|f| render::render(&draft.syllabus, f))
            .transpose()?;
        // The other file first: the JSON marks the course done and records the other's sha256.
        if let (Some(path), Some(bytes)) = (job.paths.get(1), other) {
            if let Some(p) = draft.syllabus.provenance.as_mut() {
                p.files
                    .insert(file_name(path), crate::launch::digest::sha256_hex(&bytes));
            }
            commit_keeping(path, &bytes)?;
        }
        commit_keeping(
            &job.paths[0],
            &render::render(&draft.syllabus, Format::Json)?,
        )?;
        Ok(draft.finish().1)
    }
}

/// Where the batch writes its summary (a name no course is given).
fn summary_path(plan: &BatchPlan) -> PathBuf {
    let name = crate::cli::course_file::SUMMARY_NAME;
    plan.out_dir.join(format!("{name}.json"))
}

/// Every course's files, in order (see `outputs`).
fn all_outputs(plan: &BatchPlan) -> Vec<Vec<PathBuf>> {
    // Every course's own name first, so an old name found on disk never takes another's.
    let mut taken: HashSet<String> = plan.courses.iter().map(|c| c.name.to_lowercase()).collect();
    plan.courses
        .iter()
        .map(|c| {
            taken.remove(&c.name.to_lowercase());
            outputs(plan, c, &mut taken)
        })
        .collect()
}

/// Settles every course the output folder already holds (skipped, its other file made
/// from its JSON, or refused for holding another course); the ones to write, in order.
fn sort_out(
    plan: &BatchPlan,
    paths: &[Vec<PathBuf>],
    results: &mut [CourseSummary],
) -> anyhow::Result<Vec<usize>> {
    let mut todo = Vec::new();
    let tell = |line: &str| {
        if !plan.run.quiet {
            say(line);
        }
    };
    for (i, r) in results.iter_mut().enumerate() {
        let found = if plan.force {
            Found::Nothing
        } else {
            found(&plan.courses[i], plan.run.seed, &paths[i])
        };
        let label = &plan.courses[i].place.label;
        match found {
            Found::Nothing => todo.push(i),
            Found::Written(Companion::AsWritten) => r.status = Status::Skipped,
            Found::Written(Companion::Edited) => {
                r.status = Status::Skipped;
                let note = format!(
                    "{} was edited since it was written: kept as it is",
                    paths[i][1].display()
                );
                tell(&format!("{label}: {note}"));
                r.note = Some(note);
            }
            Found::Written(Companion::Missing) => {
                let also = plan.also.context("a course's other file has a format")?;
                match rebuild(&paths[i], also) {
                    Ok(line) => {
                        r.status = Status::Rebuilt;
                        tell(&line);
                    }
                    Err(e) => r.error = Some(format!("{e:#}")),
                }
            }
            Found::Other(why) => {
                tell(&format!("{label}: {why}"));
                r.error = Some(why);
            }
        }
    }
    Ok(todo)
}

/// Runs `syllabus batch`.
pub fn run(plan: &BatchPlan) -> anyhow::Result<()> {
    let clock = Clock::new();
    std::fs::create_dir_all(&plan.out_dir)
        .with_context(|| format!("cannot create {}", plan.out_dir.display()))?;
    let summary_path = summary_path(plan);
    // Fails now, not after the courses, when the folder cannot be written.
    let summary_target = Target::create(&summary_path, None)?;
    let paths = all_outputs(plan);
    let mut results: Vec<CourseSummary> = plan
        .courses
        .iter()
        .zip(&paths)
        .map(|(c, p)| CourseSummary::new(c, p))
        .collect();
    let todo = sort_out(plan, &paths, &mut results)?;
    let mut summary = Summary::new(plan);
    if !todo.is_empty() {
        let done = write_courses(plan, &todo, &paths, clock, &mut summary)?;
        for (k, outcome) in done.into_iter().enumerate() {
            results[todo[k]].settle(outcome);
        }
    }
    summary.wall_ms = clock.now_ms();
    summary.needs_review = results
        .iter()
        .filter(|c| c.record.as_ref().is_some_and(|r| r.review > 0))
        .count();
    summary.courses = results;
    let json = serde_json::to_string_pretty(&summary).context("summary")?;
    summary_target.commit(json.as_bytes())?;
    report(&summary, &summary_path, plan.run.quiet)
}

/// Loads the engine and writes the courses `todo` (indices into the plan), several at
/// once; each one's outcome, in `todo`'s order. Fills the summary's engine figures.
fn write_courses(
    plan: &BatchPlan,
    todo: &[usize],
    paths: &[Vec<PathBuf>],
    clock: Clock,
    summary: &mut Summary,
) -> anyhow::Result<Outcomes> {
    let run = &plan.run;
    let reporter = Reporter::new(!run.quiet, run.slow_call_secs);
    let session = Session::open(run, &reporter)?;
    let mut engine = session.engine(run, clock, &reporter)?;
    reporter.finish();
    summary.load_ms = clock.now_ms();
    summary.engine = Some(engine.info());
    let runner = Runner::new(&session, run)?;
    let widest = todo
        .iter()
        .map(|&i| &plan.courses[i].course.request)
        .max_by_key(|r| r.modules)
        .context("some course to do")?;
    let at_once = plan.at_once.min(todo.len());
    crate::pipeline::reserve(engine.as_mut(), widest, run.strategy, at_once)?;
    let jobs: Vec<Job> = todo
        .iter()
        .enumerate()
        .map(|(k, &i)| Job {
            k,
            course: plan.courses[i].clone(),
            paths: paths[i].clone(),
        })
        .collect();
    let total_modules = jobs.iter().map(|j| j.course.course.request.modules).sum();
    let writer = Writer {
        runner,
        also: plan.also,
        clock,
        bar: bar(run.quiet, jobs.len(), total_modules),
        quiet: run.quiet,
        outcomes: Mutex::new(vec![None; jobs.len()]),
    };
    let (done, stats) = run_all(engine.as_mut(), writer, jobs, at_once, run.strategy);
    summary.engine_run = stats.ok();
    Ok(done)
}

/// Runs `jobs` through `writer`, `at_once` at a time, on `engine`; the outcome of each job
/// in order, and the figures of the engine's run.
fn run_all(
    engine: &mut dyn Engine,
    writer: Writer,
    jobs: Vec<Job>,
    at_once: usize,
    strategy: crate::engine::Strategy,
) -> (Outcomes, anyhow::Result<BatchStats>) {
    let shared_engine = SharedEngine::new(engine.info());
    let places = Scheduler::new(
        shared_engine.course_engines().clone(),
        writer,
        at_once,
        usize::MAX,
    );
    let stats = places.run_all(jobs, &shared_engine, engine, strategy);
    let writer = places.worker();
    writer.bar.finish_and_clear();
    let outcomes = std::mem::take(&mut *writer.outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    (outcomes, stats)
}

/// A bar over the modules of the batch, drawn on a terminal unless quiet.
fn bar(quiet: bool, courses: usize, modules: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(modules as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {msg} modules {pos}/{len} {wide_bar} {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(format!("{courses} courses,"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// One line per finished course.
fn announce(
    bar: &indicatif::ProgressBar,
    quiet: bool,
    job: &Job,
    outcome: &Result<RunRecord, String>,
) {
    if quiet {
        return;
    }
    let line = match outcome {
        Ok(r) => format!(
            "wrote {} ({} modules, {:.1} s)",
            job.paths[0].display(),
            job.course.course.request.modules,
            r.wall_ms / 1000.0
        ),
        Err(e) => format!("{}: failed: {e}", job.course.place.label),
    };
    bar.suspend(|| say(&line));
}

/// The closing lines; an error (exit 1) when a course failed.
fn report(summary: &Summary, path: &Path, quiet: bool) -> anyhow::Result<()> {
    let count = |s: Status| summary.courses.iter().filter(|c| c.status == s).count();
    let (written, skipped, failed) = (
        count(Status::Written) + count(Status::Rebuilt),
        count(Status::Skipped),
        count(Status::Failed),
    );
    if !quiet {
        let marked = match summary.needs_review {
            0 => String::new(),
            n => format!(" ({n} with parts marked \"needs review\")"),
        };
        say(&format!(
            "{written} written{marked}, {skipped} already there, {failed} failed, in {:.1} s; summary in {}",
            summary.wall_ms / 1000.0,
            path.display()
        ));
    }
    if failed > 0 {
        bail!(
            "{failed} of {} courses were not written (see {}); the same command again redoes only those",
            summary.courses.len(),
            path.display()
        );
    }
    Ok(())
}
