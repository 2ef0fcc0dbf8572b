//! Checked settings: every command-line value is checked once here, with the flag named in
//! the message, into a plan the run trusts.

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{BenchArgs, DaemonArgs, GenerateArgs};
use crate::course::CourseRequest;
use crate::engine::{ollama, BackendKind, Sampling, Strategy};
use crate::language::{self, LanguageChoice};
use crate::render::Format;

/// Most modules a syllabus may have.
pub const MAX_MODULES: usize = 24;
/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 300;
/// Daemon calls in flight when `--parallel` is not given.
const DEFAULT_PARALLEL: usize = 1;
/// Per-call limit on a daemon when `--call-timeout-secs` is not given.
const DEFAULT_CALL_TIMEOUT_SECS: f64 = 60.0;

/// A command-line value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Checked daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonPlan {
    /// `--ollama-url`, unparsed (the engine reads it with OLLAMA_HOST).
    pub url: Option<String>,
    /// Calls in flight.
    pub parallel: usize,
    /// Per-call limit.
    pub call_timeout: Duration,
}

/// Checked settings of a generate run.
#[derive(Debug, Clone)]
pub struct GeneratePlan {
    /// What to write.
    pub request: CourseRequest,
    /// Model path or alias; `None` is the packed model, else the default alias.
    pub model: Option<String>,
    /// Sampling settings.
    pub sampling: Sampling,
    /// Run seed.
    pub seed: u32,
    /// Threads.
    pub threads: usize,
    /// KV budget.
    pub max_ctx: usize,
    /// Module scheduling.
    pub strategy: Strategy,
    /// Output format.
    pub format: Format,
    /// Output file, or stdout.
    pub output: Option<PathBuf>,
    /// Timing record file.
    pub timings: Option<PathBuf>,
    /// No report on stderr.
    pub quiet: bool,
    /// No downloads.
    pub offline: bool,
    /// Slow-call warning threshold, seconds.
    pub slow_call_secs: f64,
    /// Backend.
    pub backend: BackendKind,
    /// Daemon settings (Ollama backend).
    pub daemon: DaemonPlan,
    /// The language written in, and why.
    pub language: LanguageChoice,
}

/// Checked settings of a bench.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Settings shared by every run (its strategy and backend are replaced per row).
    pub base: GeneratePlan,
    /// Timed runs per combination.
    pub runs: usize,
    /// Strategies; the first is the baseline.
    pub strategies: Vec<Strategy>,
    /// Backends.
    pub backends: Vec<BackendKind>,
    /// Model name on the Ollama daemon.
    pub ollama_model: String,
    /// JSON output.
    pub json: Option<PathBuf>,
    /// SVG chart output.
    pub svg: Option<PathBuf>,
}

/// `value` if within `lo..=hi`, else an error naming `flag`.
fn within<T: PartialOrd + Display>(flag: &str, value: T, lo: T, hi: T) -> Result<T, UsageError> {
    if value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(UsageError(format!(
            "{flag} must be between {lo} and {hi}, not {value}"
        )))
    }
}

/// `value` if above 0 and at most `hi` (and a number), else an error naming `flag`.
fn positive(flag: &str, value: f64, hi: f64) -> Result<f64, UsageError> {
    if value > 0.0 && value <= hi {
        Ok(value)
    } else {
        Err(UsageError(format!(
            "{flag} must be above 0 and at most {hi}, not {value}"
        )))
    }
}

fn optional_text(flag: &str, value: &Option<String>) -> Result<Option<String>, UsageError> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(UsageError(format!(
            "{flag} is empty; leave it out or give a value"
        ))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// An error unless this build has the backend.
fn backend_enabled(backend: BackendKind) -> Result<(), UsageError> {
    match backend {
        BackendKind::Llama => Ok(()),
        BackendKind::Ollama => ollama::check_enabled().map_err(|e| UsageError(e.into())),
    }
}

impl DaemonArgs {
    /// Checks the values; daemon flags are refused in a build without a daemon backend.
    pub fn plan(&self) -> Result<DaemonPlan, UsageError> {
        let given = self.ollama_url.is_some()
            || self.parallel.is_some()
            || self.call_timeout_secs.is_some();
        if given {
            backend_enabled(BackendKind::Ollama)?;
        }
        let parallel = within(
            "--parallel",
            self.parallel.unwrap_or(DEFAULT_PARALLEL),
            1,
            64,
        )?;
        let secs = self.call_timeout_secs.unwrap_or(DEFAULT_CALL_TIMEOUT_SECS);
        let secs = positive("--call-timeout-secs", secs, 86_400.0)?;
        Ok(DaemonPlan {
            url: self.ollama_url.clone(),
            parallel,
            call_timeout: Duration::from_secs_f64(secs),
        })
    }
}

impl GenerateArgs {
    /// Checks every value once; the run trusts the result.
    pub fn plan(&self) -> Result<GeneratePlan, UsageError> {
        backend_enabled(self.backend)?;
        let (request, language) = self.request()?;
        Ok(GeneratePlan {
            request,
            language,
            model: self.model_spec()?,
            sampling: self.sampling()?,
            seed: self.seed,
            threads: within(
                "--threads",
                self.threads.unwrap_or_else(num_cpus::get_physical),
                1,
                512,
            )?,
            max_ctx: within(
                "--ctx",
                self.ctx.unwrap_or(crate::engine::llama::DEFAULT_MAX_CTX),
                256,
                1 << 20,
            )?,
            strategy: self.strategy,
            format: self.format,
            output: self.output.clone(),
            timings: self.timings.clone(),
            quiet: self.quiet,
            offline: self.offline,
            slow_call_secs: positive("--slow-call-secs", self.slow_call_secs, 86_400.0)?,
            backend: self.backend,
            daemon: self.daemon.plan()?,
        })
    }

    fn request(&self) -> Result<(CourseRequest, LanguageChoice), UsageError> {
        let topic = self.topic.split_whitespace().collect::<Vec<_>>().join(" ");
        if topic.is_empty() {
            return Err(UsageError("the topic is empty; say what the course is about, e.g. \"Introduction to Marine Biology\"".into()));
        }
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(UsageError(format!(
                "the topic is longer than {MAX_TOPIC_CHARS} characters; shorten it"
            )));
        }
        let flag = self.language.as_deref().map(str::trim);
        if flag == Some("") {
            return Err(UsageError(
                "--language is empty; e.g. --language English".into(),
            ));
        }
        let language = language::choose(flag, &topic);
        let request = CourseRequest {
            modules: within("--modules", self.modules, 1, MAX_MODULES)?,
            audience: optional_text("--audience", &self.audience)?,
            level: optional_text("--level", &self.level)?,
            weeks: self
                .weeks
                .map(|w| within("--weeks", w, 1, 104))
                .transpose()?,
            language: language.name.clone(),
            topic,
        };
        Ok((request, language))
    }

    fn model_spec(&self) -> Result<Option<String>, UsageError> {
        match self.model.as_deref().map(str::trim) {
            Some("") => Err(UsageError(
                "--model is empty; give a .gguf path or an alias such as smollm2:135m".into(),
            )),
            other => Ok(other.map(str::to_string)),
        }
    }

    fn sampling(&self) -> Result<Sampling, UsageError> {
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(UsageError(format!(
                "--top-p must be above 0 and at most 1, not {}",
                self.top_p
            )));
        }
        Ok(Sampling {
            temperature: within("--temperature", self.temperature, 0.0, 2.0)?,
            top_p: self.top_p,
            top_k: within("--top-k", self.top_k, 1, i32::MAX)?,
            dry: within("--dry", self.dry, 0.0, 5.0)?,
        })
    }
}

impl BenchArgs {
    /// Checks every value once, with generate's defaults for the rest.
    pub fn plan(&self) -> Result<BenchPlan, UsageError> {
        let base = GenerateArgs {
            topic: self.topic.clone(),
            model: self.model.clone(),
            modules: self.modules,
            audience: None,
            level: None,
            weeks: None,
            language: None,
            format: Format::Json,
            output: None,
            seed: self.seed,
            temperature: Sampling::DEFAULT.temperature,
            top_p: Sampling::DEFAULT.top_p,
            top_k: Sampling::DEFAULT.top_k,
            dry: Sampling::DEFAULT.dry,
            threads: self.threads,
            ctx: None,
            strategy: Strategy::Parallel,
            timings: None,
            slow_call_secs: crate::progress::DEFAULT_SLOW_CALL_SECS,
            backend: BackendKind::Llama,
            daemon: self.daemon.clone(),
            offline: self.offline,
            quiet: false,
        }
        .plan()?;
        let runs = within("--runs", self.runs, 1, 100)?;
        let mut strategies = self.strategies.clone();
        strategies.dedup();
        if strategies.is_empty() {
            return Err(UsageError("--strategies is empty".into()));
        }
        let mut backends = Vec::new();
        for &b in &self.backends {
            backend_enabled(b)?;
            if !backends.contains(&b) {
                backends.push(b);
            }
        }
        if backends.is_empty() {
            return Err(UsageError("--backends is empty".into()));
        }
        let ollama_model = match self.ollama_model.as_deref().map(str::trim) {
            Some("") => return Err(UsageError("--ollama-model is empty".into())),
            Some(m) => {
                backend_enabled(BackendKind::Ollama)?;
                m.to_string()
            }
            None => crate::engine::DEFAULT_OLLAMA_MODEL.to_string(),
        };
        Ok(BenchPlan {
            base,
            runs,
            strategies,
            backends,
            ollama_model,
            json: self.json.clone(),
            svg: self.svg.clone(),
        })
    }
}
