//! Checked settings: every command-line value is checked once here, with the flag named in
//! the message, into a plan the run trusts.

use std::path::PathBuf;

use super::args::{BenchArgs, GenerateArgs, RunArgs, DEFAULT_SEED};
use super::daemon_args::{backend_enabled, flag_enabled, DaemonPlan};
use super::fields::{CourseFields, CoursePlan, Naming};
use super::model_places::ModelChoice;
use super::usage::{positive, within, UsageError, MAX_MODULES};
use crate::engine::{BackendKind, Sampling, Strategy};
use crate::render::Format;

/// `SYLLABUS_NO_PROBE=1` trusts model files without a probe (for a file known good on a
/// machine where a second load costs too much).
pub const NO_PROBE_VAR: &str = "SYLLABUS_NO_PROBE";

/// Whether model files are probed before they are trusted (`SYLLABUS_NO_PROBE` unset).
pub fn probe_wanted() -> bool {
    std::env::var_os(NO_PROBE_VAR).is_none()
}

/// The run's own settings, checked once: which model on which backend, sampled how, with
/// how many threads and how much memory, reported how. Shared by every command that runs
/// courses; a course's own fields are apart (`CoursePlan`).
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The model, settled: named, packed, or the server's first.
    pub model: ModelChoice,
    /// Sampling settings.
    pub sampling: Sampling,
    /// Tokens a call may propose per step (speculative decoding; 0: none).
    pub draft: usize,
    /// Run seed.
    pub seed: u32,
    /// Threads.
    pub threads: usize,
    /// KV budget.
    pub max_ctx: usize,
    /// Layers on the GPU, and which GPU.
    pub offload: crate::engine::llama::offload::Offload,
    /// Module scheduling.
    pub strategy: Strategy,
    /// Fail rather than keep a reply marked for review.
    pub strict: bool,
    /// Tries per model call.
    pub attempts: u32,
    /// Module prompts stand alone even where they could continue the outline's
    /// conversation (`SYLLABUS_PROMPT_LAYOUT=separate`, a measurement switch).
    pub separate_prompts: bool,
    /// A model file is loaded once in a child process before it is trusted (unless
    /// `SYLLABUS_NO_PROBE` is set).
    pub probe: bool,
    /// No report on stderr.
    pub quiet: bool,
    /// Where the model is looked for and whether it may be downloaded.
    pub models: crate::models::ResolveOptions,
    /// Slow-call warning threshold, seconds.
    pub slow_call_secs: f64,
    /// Backend.
    pub backend: BackendKind,
    /// Daemon settings.
    pub daemon: DaemonPlan,
}

impl RunPlan {
    /// How the pipeline runs a course with `seed`.
    pub fn settings(&self, seed: u32) -> crate::pipeline::RunSettings {
        crate::pipeline::RunSettings {
            strategy: self.strategy,
            seed,
            strict: self.strict,
            attempts: self.attempts,
            separate_prompts: self.separate_prompts,
        }
    }
}

/// What a run falls back on where a flag is absent: generate's defaults, or what a saved
/// syllabus recorded (`regenerate`).
#[derive(Debug, Clone)]
pub(super) struct Fallback {
    /// Seed.
    pub seed: u32,
    /// Model path or alias.
    pub model: Option<String>,
    /// Backend.
    pub backend: BackendKind,
}

impl Fallback {
    /// A new run's: seed 42, the packed or default model, in process.
    pub const NEW: Self = Self {
        seed: DEFAULT_SEED,
        model: None,
        backend: BackendKind::Llama,
    };
}

/// Where a run's syllabus and timing record go.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    /// Output format.
    pub format: Format,
    /// Output file, or stdout.
    pub output: Option<PathBuf>,
    /// Timing record file.
    pub timings: Option<PathBuf>,
}

impl OutputPlan {
    /// Checked: the record never replaces the syllabus.
    pub(super) fn new(
        format: Format,
        output: Option<PathBuf>,
        timings: Option<PathBuf>,
    ) -> Result<Self, UsageError> {
        if let (Some(o), Some(t)) = (&output, &timings) {
            if same_path(o, t) {
                return Err(UsageError(format!(
                    "-o and --timings both name {}; the timing record would replace the syllabus",
                    o.display()
                )));
            }
        }
        Ok(Self {
            format,
            output,
            timings,
        })
    }
}

/// Checked settings of a generate run.
#[derive(Debug, Clone)]
pub struct GeneratePlan {
    /// How the model runs.
    pub run: RunPlan,
    /// What to write.
    pub course: CoursePlan,
    /// Where it goes.
    pub out: OutputPlan,
}

/// Checked settings of a bench.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Settings shared by every run (its strategy and backend are replaced per row).
    pub run: RunPlan,
    /// The course every run writes.
    pub course: CoursePlan,
    /// Timed runs per combination.
    pub runs: usize,
    /// Strategies; the first is the baseline.
    pub strategies: Vec<Strategy>,
    /// Backends.
    pub backends: Vec<BackendKind>,
    /// Model name on the Ollama daemon.
    pub ollama_model: String,
    /// Model name on the OpenAI-compatible server (`None`: the first it lists).
    pub openai_model: Option<String>,
    /// JSON output.
    pub json: Option<PathBuf>,
    /// SVG chart output.
    pub svg: Option<PathBuf>,
    /// Courses one after another against together, instead of strategies.
    pub courses: Option<CourseCount>,
}

/// `bench --courses N --at-once K,...`: N courses, timed one after another and K at once.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseCount {
    /// Courses in each timed run.
    pub n: usize,
    /// Courses at once, one row each, in order.
    pub at_once: Vec<usize>,
}

/// Most courses `bench --courses` times together.
const MAX_BENCH_COURSES: usize = 32;

impl CourseCount {
    /// `--courses` and `--at-once`, checked.
    fn check(n: Option<usize>, at_once: &[usize]) -> Result<Option<Self>, UsageError> {
        let Some(n) = n else {
            if !at_once.is_empty() {
                return Err(UsageError("--at-once goes with --courses N".into()));
            }
            return Ok(None);
        };
        let n = within("--courses", n, 2, MAX_BENCH_COURSES)?;
        let mut at_once = if at_once.is_empty() {
            [1, 2, 3, n].into_iter().filter(|&k| k <= n).collect()
        } else {
            at_once.to_vec()
        };
        for &k in &at_once {
            within("--at-once", k, 1, n)?;
        }
        at_once.dedup();
        Ok(Some(Self { n, at_once }))
    }
}

/// Whether two paths name the same file (compared as absolute paths).
fn same_path(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::path::absolute(a), std::path::absolute(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl RunArgs {
    /// Checks the run settings once; `fallback` stands in for absent flags.
    pub(super) fn plan(&self, fallback: Fallback) -> Result<RunPlan, UsageError> {
        let backend = self.backend.unwrap_or(fallback.backend);
        backend_enabled(backend)?;
        let max_ctx = within(
            "--ctx",
            self.ctx.unwrap_or(crate::engine::llama::DEFAULT_MAX_CTX),
            256,
            1 << 20,
        )?;
        Ok(RunPlan {
            model: ModelChoice::settle(self.model_spec()?.or(fallback.model), backend)?,
            sampling: self.sampling()?,
            draft: within("--draft", self.draft, 0, crate::engine::draft::MOST_DRAFT)?,
            seed: self.seed.unwrap_or(fallback.seed),
            threads: within(
                "--threads",
                self.threads.unwrap_or_else(num_cpus::get_physical),
                1,
                512,
            )?,
            max_ctx,
            offload: self.gpu.plan(max_ctx)?,
            strategy: self.strategy,
            strict: self.strict,
            attempts: within(
                "--attempts",
                self.attempts.unwrap_or(crate::pipeline::ATTEMPTS),
                1,
                20,
            )?,
            separate_prompts: std::env::var_os(crate::pipeline::PROMPT_LAYOUT_VAR)
                .is_some_and(|v| v == "separate"),
            probe: probe_wanted(),
            quiet: self.quiet,
            models: super::model_places::resolve_options(self.offline, !self.quiet),
            slow_call_secs: positive("--slow-call-secs", self.slow_call_secs, 86_400.0)?,
            backend,
            daemon: self.daemon.plan()?,
        })
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

/// The format to write: `--format`, else the output file's extension, else `default`; a
/// format that disagrees with the extension, or Word to a terminal, is refused.
pub fn output_format(
    flag: Option<Format>,
    output: Option<&std::path::Path>,
    default: Format,
) -> Result<Format, UsageError> {
    let by_name = output.and_then(Format::from_path);
    let format = match (flag, by_name) {
        // `imscc-1.1` writes a `.imscc` file too.
        (Some(f), Some(n)) if f.extension() != n.extension() => {
            return Err(UsageError(format!(
                "--format {} disagrees with -o {}, which names a {} file; drop one of them",
                f.name(),
                output.map_or(String::new(), |p| p.display().to_string()),
                n.name()
            )))
        }
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => default,
    };
    if !format.is_text() && output.is_none() {
        return Err(UsageError(format!(
            "{} is a file, not text for a terminal: give -o NAME.{}",
            format.describe(),
            format.extension()
        )));
    }
    Ok(format)
}

impl GenerateArgs {
    /// Checks every value once; the run trusts the result.
    pub fn plan(&self) -> Result<GeneratePlan, UsageError> {
        let course = self.course.check(Naming::Flags, MAX_MODULES)?;
        let out = &self.out;
        let format = output_format(out.format, out.output.as_deref(), Format::Markdown)?;
        Ok(GeneratePlan {
            run: self.run.plan(Fallback::NEW)?,
            course,
            out: OutputPlan::new(format, out.output.clone(), self.run.timings.clone())?,
        })
    }
}

impl BenchArgs {
    /// Checks every value once, with generate's defaults for the rest.
    pub fn plan(&self) -> Result<BenchPlan, UsageError> {
        let course = CourseFields {
            topic: self.topic.clone(),
            modules: Some(self.modules),
            ..CourseFields::default()
        }
        .check(Naming::Flags, MAX_MODULES)?;
        let run = RunArgs {
            model: self.model.clone(),
            seed: Some(self.seed),
            draft: self.draft,
            threads: self.threads,
            gpu: self.gpu.clone(),
            daemon: self.daemon.clone(),
            offline: self.offline,
            attempts: self.attempts,
            ..RunArgs::defaults()
        }
        .plan(Fallback::NEW)?;
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
                flag_enabled("--ollama-model", BackendKind::Ollama)?;
                m.to_string()
            }
            None => crate::engine::DEFAULT_OLLAMA_MODEL.to_string(),
        };
        let openai_model = match self.openai_model.as_deref().map(str::trim) {
            Some("") => return Err(UsageError("--openai-model is empty".into())),
            Some(m) => {
                flag_enabled("--openai-model", BackendKind::OpenAi)?;
                Some(m.to_string())
            }
            None => None,
        };
        Ok(BenchPlan {
            run,
            course,
            runs,
            strategies,
            backends,
            ollama_model,
            openai_model,
            json: self.json.clone(),
            svg: self.svg.clone(),
            courses: match CourseCount::check(self.courses, &self.at_once)? {
                Some(_) if self.svg.is_some() => {
                    return Err(UsageError(
                        "--svg charts strategies, not --courses: leave one out".into(),
                    ))
                }
                count => count,
            },
        })
    }
}
