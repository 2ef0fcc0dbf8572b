//! The `generate` command from checked settings to files: open the backend, run the
//! pipeline, render, write, and report timings.

use anyhow::Context;

use crate::cli::GeneratePlan;
use crate::courses::{Runner, Start};
use crate::output::{self, Target};
use crate::progress::Reporter;
use crate::render::{self, Format};
use crate::report::run_table;
use crate::session::Session;
use crate::stderr::say;
use crate::timing::Clock;

/// Runs `syllabus generate`.
pub fn generate(plan: &GeneratePlan) -> anyhow::Result<()> {
    let (run, out) = (&plan.run, &plan.out);
    // The output files exist as temporaries from the start: an unwritable folder fails
    // before minutes of model work, and nothing appears until the run has succeeded.
    let output = Target::optional(out.output.as_deref())?;
    let timings = Target::optional(out.timings.as_deref())?;
    let clock = Clock::new();
    let reporter = Reporter::new(!run.quiet, run.slow_call_secs);
    let session = Session::open(run, &reporter)?;
    // How it was made is JSON's alone (`regenerate` reads it): other formats never hash
    // the model file.
    let runner = match out.format {
        Format::Json => Runner::new(&session, run)?,
        _ => Runner::without_provenance(run),
    };
    let mut engine = session.engine(run, clock, &reporter)?;
    let start = Start::now(clock, clock.now_ms());
    let draft = runner.write(engine.as_mut(), (&plan.course, run.seed), start, &reporter)?;
    let bytes = render::render(&draft.syllabus, out.format)?;
    let written = match output {
        Some(target) => {
            let path = target.path().to_path_buf();
            target.commit(&bytes)?;
            Some(path)
        }
        None => {
            reporter.finish();
            output::write_stdout(&bytes)?;
            None
        }
    };
    let (syllabus, record) = draft.finish();
    reporter.finish();
    if let Some(target) = timings {
        let json = serde_json::to_string_pretty(&record).context("timing record")?;
        target.commit(json.as_bytes())?;
    }
    if !run.quiet {
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
