//! The `generate` command from checked settings to files: resolve and load the model, run
//! the pipeline, render, write, and report timings.

use std::io::Write;

use anyhow::Context;

use crate::cli::GeneratePlan;
use crate::engine::llama::{LlamaEngine, LlamaOptions, LoadedModel};
use crate::engine::{Engine, NoProgress};
use crate::timing::{Clock, Phases, RunRecord};
use crate::{models, output, pipeline, render};

/// Version of the timing record layout.
pub const TIMING_SCHEMA_VERSION: u32 = 1;

/// Runs `syllabus generate`.
pub fn generate(plan: &GeneratePlan) -> anyhow::Result<()> {
    // Fail on unwritable outputs before spending minutes on the model.
    for path in plan.output.iter().chain(&plan.timings) {
        output::check_writable(path)?;
    }
    let clock = Clock::new();
    let resolved = models::resolve(
        &plan.model,
        models::ResolveOptions::new(plan.offline, !plan.quiet),
    )?;
    let model = LoadedModel::load(resolved)?;
    let load_ms = clock.now_ms();
    let opts = LlamaOptions {
        threads: plan.threads,
        max_ctx: plan.max_ctx,
        sampling: plan.sampling,
        grammar: true,
    };
    let mut engine = LlamaEngine::new(&model, opts, clock);
    let out = pipeline::run(
        &mut engine,
        &plan.request,
        plan.strategy,
        plan.seed,
        &clock,
        &NoProgress,
    )?;

    let text = render::render(&out.syllabus, plan.format);
    match &plan.output {
        Some(path) => output::write_atomic(path, text.as_bytes())?,
        None => write_stdout(text.as_bytes())?,
    }
    // Assembly ran inside the pipeline after the module phase; it counts here too.
    let finalize_ms = clock.now_ms() - load_ms - out.outline_ms - out.modules_ms;
    let record = RunRecord {
        schema_version: TIMING_SCHEMA_VERSION,
        engine: engine.info(),
        strategy: plan.strategy.name().to_string(),
        modules: plan.request.modules,
        wall_ms: clock.now_ms(),
        phases: Phases {
            load_ms,
            outline_ms: out.outline_ms,
            modules_ms: out.modules_ms,
            finalize_ms,
        },
        peak_rss_bytes: crate::timing::peak_rss_bytes(),
        module_batches: out.module_batches,
        calls: out.calls,
    };
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
                out.syllabus.modules.len()
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
