//! The `generate` command from checked settings to files: open the backend, run the
//! pipeline, render, write, and report timings.

use anyhow::Context;

use crate::cli::GeneratePlan;
use crate::progress::Reporter;
use crate::report::run_table;
use crate::session::{run_once, Session};
use crate::timing::Clock;
use crate::{output, render};

/// Runs `syllabus generate`.
pub fn generate(plan: &GeneratePlan) -> anyhow::Result<()> {
    // Fail on unwritable outputs before spending minutes on the model.
    for path in plan.output.iter().chain(&plan.timings) {
        output::check_writable(path)?;
    }
    let clock = Clock::new();
    let reporter = Reporter::new(!plan.quiet, plan.slow_call_secs);
    let session = Session::open(plan, &reporter)?;
    let mut engine = session.engine(plan, clock, &reporter)?;
    let load_ms = clock.now_ms();
    let (syllabus, record) = run_once(engine.as_mut(), plan, &clock, load_ms, &reporter, |s| {
        let text = render::render(s, plan.format);
        match &plan.output {
            Some(path) => output::write_atomic(path, text.as_bytes()),
            None => {
                reporter.finish();
                output::write_stdout(text.as_bytes())
            }
        }
    })?;
    reporter.finish();
    if let Some(path) = &plan.timings {
        let json = serde_json::to_string_pretty(&record).context("timing record")?;
        output::write_atomic(path, json.as_bytes())?;
    }
    if !plan.quiet {
        eprint!("{}", run_table(&record));
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
