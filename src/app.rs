//! The `generate` command from checked settings to files: resolve and load the model, run
//! the pipeline, render, write, and report timings.

use std::io::Write;

use anyhow::Context;

use crate::cli::GeneratePlan;
use crate::course::Syllabus;
use crate::engine::llama::{LlamaEngine, LlamaOptions, LoadedModel};
use crate::engine::{BackendKind, Engine, Progress};
use crate::progress::Reporter;
use crate::timing::{Clock, Phases, RunRecord};
use crate::{models, output, pack, pipeline, render};

/// Resolves and loads the plan's model; returns it with the load time on `clock`.
pub fn load_model(plan: &GeneratePlan, progress: &dyn Progress) -> anyhow::Result<LoadedModel> {
    progress.stage("finding the model");
    let opts = models::ResolveOptions::new(plan.offline, !plan.quiet);
    let resolved = match &plan.model {
        Some(spec) => models::resolve(spec, opts)?,
        None => match pack::embedded()? {
            Some(e) => {
                progress.stage("checking the packed model");
                pack::resolve_embedded(&e)?
            }
            None => models::resolve(models::DEFAULT_MODEL, opts)?,
        },
    };
    progress.stage("loading the model");
    LoadedModel::load(resolved)
}

/// The in-process engine settings of a plan.
pub fn llama_options(plan: &GeneratePlan) -> LlamaOptions {
    LlamaOptions {
        threads: plan.threads,
        max_ctx: plan.max_ctx,
        sampling: plan.sampling,
        grammar: true,
        jump_forward: true,
    }
}

/// Runs the pipeline once on `engine`, then `finalize` (render, write); the record's
/// phases start at `clock`'s zero, with `load_ms` already spent.
pub fn run_once(
    engine: &mut dyn Engine,
    plan: &GeneratePlan,
    clock: &Clock,
    load_ms: f64,
    progress: &dyn Progress,
    finalize: impl FnOnce(&Syllabus) -> anyhow::Result<()>,
) -> anyhow::Result<(Syllabus, RunRecord)> {
    let out = pipeline::run(
        engine,
        &plan.request,
        plan.strategy,
        plan.seed,
        clock,
        progress,
    )?;
    finalize(&out.syllabus)?;
    let wall_ms = clock.now_ms();
    // Assembly ran inside the pipeline after the module phase; it counts here too.
    let finalize_ms = wall_ms - load_ms - out.outline_ms - out.modules_ms;
    let record = RunRecord::new(
        engine.info(),
        plan.strategy.name(),
        plan.request.modules,
        wall_ms,
        Phases {
            load_ms,
            outline_ms: out.outline_ms,
            modules_ms: out.modules_ms,
            finalize_ms,
        },
        out.module_batches,
        out.calls,
    );
    Ok((out.syllabus, record))
}

/// Model name on the daemon when `--model` is not given (the old set-up's model).
pub const DEFAULT_OLLAMA_MODEL: &str = "qwen:latest";

/// Connects to the Ollama daemon of a plan, checking it has `model`.
#[cfg(feature = "ollama")]
pub fn ollama_engine(
    plan: &GeneratePlan,
    model: &str,
    clock: Clock,
) -> anyhow::Result<crate::engine::ollama::OllamaEngine> {
    use crate::engine::ollama::{base_url, OllamaEngine, OllamaOptions};
    let opts = OllamaOptions {
        url: base_url(plan.daemon.url.as_deref())?,
        model: model.to_string(),
        parallel: plan.daemon.parallel,
        call_timeout: plan.daemon.call_timeout,
        sampling: plan.sampling,
    };
    OllamaEngine::connect(opts, clock)
}

/// Runs `syllabus generate`.
pub fn generate(plan: &GeneratePlan) -> anyhow::Result<()> {
    // Fail on unwritable outputs before spending minutes on the model.
    for path in plan.output.iter().chain(&plan.timings) {
        output::check_writable(path)?;
    }
    let clock = Clock::new();
    let reporter = Reporter::new(!plan.quiet, plan.slow_call_secs);
    match plan.backend {
        BackendKind::Llama => {
            let model = load_model(plan, &reporter)?;
            let load_ms = clock.now_ms();
            let mut engine = LlamaEngine::new(&model, llama_options(plan), clock);
            generate_on(&mut engine, plan, &clock, load_ms, &reporter)
        }
        #[cfg(feature = "ollama")]
        BackendKind::Ollama => {
            reporter.stage("connecting to Ollama");
            let model = plan.model.as_deref().unwrap_or(DEFAULT_OLLAMA_MODEL);
            let mut engine = ollama_engine(plan, model, clock)?;
            let load_ms = clock.now_ms();
            generate_on(&mut engine, plan, &clock, load_ms, &reporter)
        }
    }
}

fn generate_on(
    engine: &mut dyn Engine,
    plan: &GeneratePlan,
    clock: &Clock,
    load_ms: f64,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    let (syllabus, record) = run_once(engine, plan, clock, load_ms, reporter, |s| {
        let text = render::render(s, plan.format);
        match &plan.output {
            Some(path) => output::write_atomic(path, text.as_bytes()),
            None => {
                reporter.finish();
                write_stdout(text.as_bytes())
            }
        }
    })?;
    reporter.finish();
    if let Some(path) = &plan.timings {
        let json = serde_json::to_string_pretty(&record).context("timing record")?;
        output::write_atomic(path, json.as_bytes())?;
    }
    if !plan.quiet {
        eprint!("{}", record.table());
        if let Some(path) = &plan.output {
            eprintln!(
                "wrote {} ({} modules)",
                path.display(),
                syllabus.modules.len()
            );
        }
    }
    Ok(())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}
