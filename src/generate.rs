//! The `generate` command from checked settings to files: open the backend, run the
//! pipeline, render, write, and report timings.

use anyhow::Context;

use crate::cli::GeneratePlan;
use crate::output::{self, Target};
use crate::progress::Reporter;
use crate::render::{self, Format};
use crate::report::run_table;
use crate::session::{run_once, Session};
use crate::stderr::say;
use crate::timing::Clock;

/// Runs `syllabus generate`.
pub fn generate(plan: &GeneratePlan) -> anyhow::Result<()> {
    // The output files exist as temporaries from the start: an unwritable folder fails
    // before minutes of model work, and nothing appears until the run has succeeded.
    let output = Target::optional(plan.output.as_deref())?;
    let timings = Target::optional(plan.timings.as_deref())?;
    let clock = Clock::new();
    let reporter = Reporter::new(!plan.quiet, plan.slow_call_secs);
    let session = Session::open(plan, &reporter)?;
    let mut engine = session.engine(plan, clock, &reporter)?;
    let load_ms = clock.now_ms();
    let mut written = None;
    let (syllabus, record) = run_once(engine.as_mut(), plan, &clock, load_ms, &reporter, |s| {
        let bytes = if plan.format == Format::Json {
            // JSON carries how it was made, so `regenerate` can redo a module.
            let mut s = s.clone();
            s.provenance = Some(session.provenance(plan)?);
            render::render(&s, plan.format)?
        } else {
            render::render(s, plan.format)?
        };
        match output {
            Some(target) => {
                written = Some(target.path().to_path_buf());
                target.commit(&bytes)
            }
            None => {
                reporter.finish();
                output::write_stdout(&bytes)
            }
        }
    })?;
    reporter.finish();
    if let Some(target) = timings {
        let json = serde_json::to_string_pretty(&record).context("timing record")?;
        target.commit(json.as_bytes())?;
    }
    if !plan.quiet {
        say(run_table(&record).trim_end());
        if let Some(line) = crate::report::review_line(&syllabus) {
            say(&line);
        }
        if let Some(path) = written {
            say(&format!(
                "wrote {} ({} modules)",
                path.display(),
                syllabus.modules.len()
            ));
        }
    }
    Ok(())
}
