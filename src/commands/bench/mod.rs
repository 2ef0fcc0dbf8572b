//! `syllabus bench`: whole runs per backend and strategy, side by side in one process.
//!
//! Each backend loads its model once and makes one warm-up run; then every combination
//! runs `runs` times, interleaved (run 1 of each, then run 2 of each, ...) so drift on a
//! noisy machine spreads over all rows alike.

pub mod courses;
pub mod results;

use anyhow::Context;

use self::results::{summarize, svg, table, BenchResult};
use crate::cli::{BenchPlan, ModelChoice};
use crate::engine::measures::Clock;
use crate::engine::{BackendKind as Backend, Progress, Strategy};
use crate::launch::output::{self, Target};
use crate::launch::stderr::say;
use crate::report::progress::Reporter;
use crate::run::course_run::{CourseClock, Runner};
use crate::run::session::Session;

/// One warm-up run, then every strategy `plan.runs` times, interleaved.
fn runs(
    plan: &BenchPlan,
    runner: &Runner,
    session: &Session,
    reporter: &Reporter,
) -> Vec<BenchResult> {
    let run = runner.run();
    let backend = run.backend;
    let once = |strategy: Strategy, label: &str| {
        reporter.stage(label);
        let runner = runner.with_strategy(strategy);
        let clock = Clock::new();
        let mut engine = session.engine(runner.run(), clock, reporter)?;
        let load_ms = if session.loads_per_run() {
            clock.now_ms()
        } else {
            0.0
        };
        let start = CourseClock::now(clock, load_ms);
        runner
            .write(engine.as_mut(), &plan.course, run.seed, start, reporter)
            .map(|d| d.finish())
    };
    if let Err(e) = once(
        plan.strategies[0],
        &format!("{}: warm-up run", backend.name()),
    ) {
        reporter.finish();
        tracing::warn!(error = %format!("{e:#}"), "warm-up run failed");
    }
    let mut results = Vec::new();
    for run in 1..=plan.runs {
        for &strategy in &plan.strategies {
            let label = format!(
                "{}: run {run}/{}, {}",
                backend.name(),
                plan.runs,
                strategy.name()
            );
            let result = once(strategy, &label);
            if let Err(e) = &result {
                reporter.finish();
                say(&format!("{label} failed: {e:#}"));
            }
            let (ok, error, record) = match result {
                Ok((_, record)) => (true, None, Some(record)),
                Err(e) => (false, Some(format!("{e:#}")), None),
            };
            results.push(BenchResult {
                backend,
                strategy,
                run,
                ok,
                error,
                record,
            });
        }
    }
    results
}

/// Runs the bench and prints its table; writes JSON and SVG when asked.
pub fn run(plan: &BenchPlan) -> anyhow::Result<()> {
    let json_out = Target::optional(plan.json.as_deref())?;
    let svg_out = Target::optional(plan.svg.as_deref())?;
    let reporter = Reporter::new(!plan.run.quiet, plan.run.slow_call_secs);
    let mut results = Vec::new();
    let mut course_results = Vec::new();
    for &backend in &plan.backends {
        let mut run = plan.run.clone();
        run.backend = backend;
        match backend {
            Backend::Ollama => run.model = ModelChoice::Named(plan.ollama_model.clone()),
            Backend::OpenAi => {
                run.model = plan
                    .openai_model
                    .clone()
                    .map_or(ModelChoice::ServersFirst, ModelChoice::Named);
            }
            Backend::Llama => {}
        }
        let load = Clock::new();
        let session = Session::open(&run, &reporter)?;
        if backend == Backend::Llama {
            say(&format!(
                "llama: {} loaded in {:.2} s",
                session.model_name(),
                load.now_ms() / 1000.0
            ));
        }
        // Bench runs write no files: no provenance, no hashing of the model.
        let runner = Runner::without_provenance(&run);
        match &plan.courses {
            Some(count) => course_results.extend(courses::runs(
                count,
                plan.runs,
                &runner,
                &plan.course,
                &session,
                &reporter,
            )),
            None => results.extend(runs(plan, &runner, &session, &reporter)),
        }
    }
    reporter.finish();
    if let Some(count) = &plan.courses {
        return courses_report(plan, count, &course_results, json_out);
    }
    let rows = summarize(&results);
    let title = format!(
        "syllabus bench: \"{}\", {} modules, {} run(s) each",
        plan.course.request.topic, plan.course.request.modules, plan.runs
    );
    let text = format!("{title}\n{}{}", table(&rows), results::devices(&results));
    output::write_stdout(text.as_bytes())?;
    if let Some(target) = json_out {
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "topic": plan.course.request.topic,
            "modules": plan.course.request.modules,
            "runs": plan.runs,
            "summary": rows,
            "results": results,
        }))
        .context("bench results")?;
        target.commit(json.as_bytes())?;
    }
    if let Some(target) = svg_out {
        target.commit(svg(&rows, &title).as_bytes())?;
    }
    if results.iter().all(|r| !r.ok) {
        anyhow::bail!("no run produced a valid syllabus");
    }
    Ok(())
}

/// Prints the table of `bench --courses`; writes JSON when asked.
fn courses_report(
    plan: &BenchPlan,
    count: &crate::cli::CourseCount,
    results: &[courses::CoursesResult],
    json_out: Option<Target>,
) -> anyhow::Result<()> {
    let rows = courses::summarize(results);
    let title = format!(
        "syllabus bench: {} courses of \"{}\", {} modules, {} run(s) each",
        count.n, plan.course.request.topic, plan.course.request.modules, plan.runs
    );
    output::write_stdout(format!("{title}\n{}", courses::table(&rows)).as_bytes())?;
    if let Some(target) = json_out {
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "topic": plan.course.request.topic,
            "modules": plan.course.request.modules,
            "courses": count.n,
            "runs": plan.runs,
            "summary": rows,
            "results": results,
        }))
        .context("bench results")?;
        target.commit(json.as_bytes())?;
    }
    if rows.iter().all(|r| r.ok_runs == 0) {
        anyhow::bail!("no run wrote all its courses");
    }
    Ok(())
}
