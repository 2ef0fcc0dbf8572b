//! `syllabus regenerate`: the saved syllabus read and checked (written by this program, a
//! provenance record of a version it reads, the modules asked for in range) into a plan
//! with the original run's course and model.

use std::path::PathBuf;

use serde_json::Value;

use super::args::RegenerateArgs;
use super::fields::CoursePlan;
use super::plan::{output_format, Fallback, OutputPlan, RunPlan};
use super::usage::UsageError;
use crate::course::language::LanguageChoice;
use crate::course::{Syllabus, PROVENANCE_FORMAT};
use crate::engine::BackendKind;
use crate::render::Format;

/// Checked settings of a regenerate run.
#[derive(Debug, Clone)]
pub struct RegeneratePlan {
    /// The original model, with this run's sampling.
    pub run: RunPlan,
    /// The original course.
    pub course: CoursePlan,
    /// Where the syllabus goes (always a file).
    pub out: OutputPlan,
    /// The syllabus file read.
    pub file: PathBuf,
    /// Modules to write again, 0-based, ascending.
    pub modules: Vec<usize>,
    /// The teacher's note.
    pub note: Option<String>,
    /// The file as read, so every other field is written back as it was.
    pub original: Value,
    /// The same, typed.
    pub syllabus: Syllabus,
}

impl RegenerateArgs {
    /// Reads the file and checks every value once. A file that is not a syllabus of ours
    /// (or of another provenance version) is a `UsageError`; one that cannot be read is not.
    pub fn plan(&self) -> anyhow::Result<RegeneratePlan> {
        let shown = self.file.display();
        let text = super::render_args::read_capped(&self.file)?;
        let not_ours = |why: &str| {
            UsageError(format!(
                "{shown} {why}; regenerate takes a syllabus written by `syllabus generate --format json`"
            ))
        };
        let mut original: Value =
            serde_json::from_str(&text).map_err(|_| not_ours("is not JSON"))?;
        super::render_args::clean_strings(&mut original, "")
            .map_err(|why| UsageError(format!("{shown}: {why}")))?;
        // The version first: a later format may change the record's shape.
        let format = original
            .pointer("/provenance/format")
            .and_then(Value::as_u64);
        if let Some(format) = format.filter(|&f| f != u64::from(PROVENANCE_FORMAT)) {
            let program = original
                .pointer("/provenance/program")
                .and_then(Value::as_str);
            return Err(UsageError(format!(
                "{shown} records provenance format {format}; this program reads format {PROVENANCE_FORMAT}: \
                 use the syllabus version that wrote it ({}), or generate it again",
                program.unwrap_or("unknown")
            ))
            .into());
        }
        let syllabus: Syllabus = serde_json::from_value(original.clone())
            .map_err(|e| not_ours(&format!("is not a syllabus ({e})")))?;
        let Some(p) = &syllabus.provenance else {
            return Err(not_ours(
                "has no `provenance` record (written before syllabus 0.2, or by another program)",
            )
            .into());
        };
        let modules = self.modules_of(&syllabus)?;
        let note = self.checked_note()?;
        let (format, output) = self.target()?;
        let language = LanguageChoice {
            name: p.request.language.clone(),
            source: "recorded",
            detail: None,
        };
        let backend = match p.backend.as_str() {
            "ollama" => BackendKind::Ollama,
            "openai" => BackendKind::OpenAi,
            _ => BackendKind::Llama,
        };
        // The recorded file when it is still there, else the name (an alias, say).
        let model = p
            .model
            .path
            .clone()
            .filter(|path| std::path::Path::new(path).is_file())
            .unwrap_or_else(|| p.model.name.clone());
        // Another seed than the first run's, so the module comes out differently.
        let seed = p.seed.wrapping_add(1);
        let run = self.run.plan(Fallback {
            seed,
            model: Some(model),
            backend,
        })?;
        Ok(RegeneratePlan {
            run,
            course: CoursePlan {
                request: p.request.clone(),
                language,
            },
            out: OutputPlan::new(format, Some(output), self.run.timings.clone())?,
            file: self.file.clone(),
            modules,
            note,
            original,
            syllabus,
        })
    }

    /// The `--module` values as 0-based indices, each once, in order.
    fn modules_of(&self, syllabus: &Syllabus) -> Result<Vec<usize>, UsageError> {
        let n = syllabus.modules.len();
        let mut modules = Vec::new();
        for &m in &self.modules {
            if !(1..=n).contains(&m) {
                return Err(UsageError(format!(
                    "--module {m}: {} has {n} modules (1 to {n})",
                    self.file.display()
                )));
            }
            if !modules.contains(&(m - 1)) {
                modules.push(m - 1);
            }
        }
        modules.sort_unstable();
        Ok(modules)
    }

    /// `--note`, trimmed; an empty one is refused.
    /// The output's format and file: by default the JSON in place (its previous version is
    /// kept beside it); another format goes to a file of its own, never over the JSON.
    fn target(&self) -> Result<(Format, PathBuf), UsageError> {
        let named = self.output.as_deref();
        let format = match named {
            Some(o) => output_format(self.format, Some(o), Format::Json)?,
            None => self.format.unwrap_or(Format::Json),
        };
        let output = match named {
            Some(o) => o.to_path_buf(),
            None if format == Format::Json => self.file.clone(),
            None => self.file.with_extension(format.extension()),
        };
        let same = |a: &std::path::Path, b: &std::path::Path| {
            a == b || std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
        };
        if format != Format::Json && output.exists() && same(&output, &self.file) {
            return Err(UsageError(format!(
                "{} would replace the JSON syllabus {} with {}; give -o another file",
                output.display(),
                self.file.display(),
                format.describe()
            )));
        }
        Ok((format, output))
    }

    fn checked_note(&self) -> Result<Option<String>, UsageError> {
        match self.note.as_deref().map(str::trim) {
            Some("") => Err(UsageError(
                "--note is empty; leave it out or say what to change".into(),
            )),
            other => Ok(other.map(str::to_string)),
        }
    }
}
