//! `syllabus render`: a saved syllabus written in another format, without the model; the
//! same bytes `generate` writes for the same syllabus.

use crate::cli::RenderPlan;
use crate::launch::output::{self, Target};
use crate::launch::stderr::say;
use crate::render;

/// Runs `syllabus render`.
pub fn render(plan: &RenderPlan) -> anyhow::Result<()> {
    let format = plan.out.format;
    let bytes = render::render(&plan.syllabus, format)?;
    match &plan.out.output {
        Some(path) => {
            Target::create(path, None)?.commit(&bytes)?;
            say(&format!(
                "wrote {} ({}, {} modules)",
                path.display(),
                format.describe(),
                plan.syllabus.modules.len()
            ));
            Ok(())
        }
        None => output::write_stdout(&bytes),
    }
}
