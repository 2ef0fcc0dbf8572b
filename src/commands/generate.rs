//! The `generate` command from checked settings to files: open the backend, run the
//! pipeline, render, write, and report timings.

use anyhow::Context;

use crate::cli::GeneratePlan;
use crate::engine::measures::Clock;
use crate::launch::output::{self, Target};
use crate::launch::stderr::say;
use crate::models::{BETTER_MODEL, DEFAULT_MODEL};
use crate::render::{self, Format};
use crate::report::progress::Reporter;
use crate::report::tables::run_table;
use crate::report::timing::ModelRecord;
use crate::run::course_run::{CourseClock, Runner};
use crate::run::session::Session;

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
    let start = CourseClock::now(clock, clock.now_ms());
    let draft = runner.write(engine.as_mut(), &plan.course, run.seed, start, &reporter)?;
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
        if let Some(line) = crate::report::tables::review_line(&syllabus) {
            say(&line);
        }
        if let Some(path) = &written {
            say(&format!(
                "wrote {} ({} modules)",
                path.display(),
                syllabus.modules.len()
            ));
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let to_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
            for line in next_steps(&record.model, written.is_some() || !to_terminal, out.format) {
                say(&line);
            }
        }
    }
    Ok(())
}

/// A few lines for a person at a terminal: which model wrote the course and what a better
/// one is, and how to open what was written (or how to get a file to hand out).
fn next_steps(model: &ModelRecord, to_file: bool, format: Format) -> Vec<String> {
    let mut lines = Vec::new();
    let size = model
        .size_bytes
        .map_or_else(String::new, |b| format!(", {} MB", b / 1_000_000));
    if model.name == DEFAULT_MODEL {
        lines.push(format!(
            "model: {DEFAULT_MODEL}, the default{size}; `--model {BETTER_MODEL}` writes better courses (`syllabus models pull {BETTER_MODEL}`, 935 MB)"
        ));
    } else if model.name == "smollm2:135m" || model.name.contains("SmolLM2-135M") {
        lines.push(format!(
            "model: the 135M test model{size}: it shows the program works, not courses to hand out; leave out --model for the default ({DEFAULT_MODEL})"
        ));
    }
    lines.push(match (to_file, format) {
        (false, _) => "the course is above, as Markdown; `-o course.docx` (or .pdf, .html) writes a file to hand out".into(),
        (true, Format::Markdown) => "open it in any text editor; `-o course.docx` (or .pdf, .html) gives a document".into(),
        (true, Format::Json) => "`syllabus render FILE.json -o course.docx` (or .pdf, .html, .imscc) makes a document of it without the model".into(),
        (true, Format::Html) => "open it in a web browser; it prints as it shows".into(),
        (true, Format::Docx) => "open it in Word, LibreOffice Writer or Google Docs".into(),
        (true, Format::Pdf) => "open it in any PDF reader, or print it".into(),
        (true, Format::Imscc) => "import it into Canvas (Settings, Import Course Content, Common Cartridge); for Moodle use --format imscc-1.1".into(),
        (true, Format::Imscc11) => "restore it in Moodle (Course reuse, Import, or Restore: IMS Common Cartridge)".into(),
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> ModelRecord {
        ModelRecord {
            name: name.into(),
            path: None,
            size_bytes: Some(491_400_064),
            quantization: None,
            chat_template: None,
        }
    }

    #[test]
    fn the_next_steps_name_the_model_and_how_to_open_the_file() {
        let lines = next_steps(&model(DEFAULT_MODEL), true, Format::Docx);
        assert!(
            lines[0].contains("the default, 491 MB") && lines[0].contains("--model qwen2:1.5b")
        );
        assert!(lines[1].contains("Word"), "{lines:?}");
        let lines = next_steps(&model("smollm2:135m"), false, Format::Markdown);
        assert!(lines[0].contains("test model"), "{lines:?}");
        assert!(lines[1].contains("-o course.docx"), "{lines:?}");
        // Any other model: only where the course went.
        assert_eq!(next_steps(&model("qwen2:1.5b"), true, Format::Pdf).len(), 1);
    }
}
