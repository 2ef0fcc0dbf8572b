//! Command-line definitions, and their check into the settings a run trusts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::course::CourseRequest;
use crate::engine::{BackendKind, Sampling, Strategy};
use crate::render::Format;

/// Most modules a syllabus may have.
pub const MAX_MODULES: usize = 24;
/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 300;

/// Writes a whole course syllabus with a language model running in this process.
#[derive(Debug, Parser)]
#[command(
    name = "syllabus",
    about,
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Print the version and the packed model, if any.
    #[arg(short = 'V', long)]
    pub version: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a syllabus: an outline, then one detailed module per outline entry.
    Generate(Box<GenerateArgs>),
    /// List, fetch and inspect model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Time whole runs per strategy and backend, side by side, after a warm-up.
    Bench(Box<BenchArgs>),
    /// Write one executable with a model inside, for machines with nothing else.
    Pack {
        /// Model to put inside: path, alias, Ollama name or owner/repo/file.gguf.
        #[arg(long)]
        model: String,
        /// The executable to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Never download the model.
        #[arg(long)]
        offline: bool,
    },
}

/// Options of `syllabus bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Course topic.
    pub topic: String,
    /// A .gguf file or alias (llama backend) [default: the packed model, else smollm2:135m].
    #[arg(long)]
    pub model: Option<String>,
    /// Modules per syllabus.
    #[arg(long, default_value_t = 8)]
    pub modules: usize,
    /// Timed runs per combination (after one warm-up run per backend).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Strategies to compare, comma-separated; the first row is the baseline.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Strategy::Sequential, Strategy::Parallel])]
    pub strategies: Vec<Strategy>,
    /// Backends to compare, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [BackendKind::Llama])]
    pub backends: Vec<BackendKind>,
    /// Model name on the Ollama daemon.
    #[arg(long, default_value = "qwen:latest")]
    pub ollama_model: String,
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Seed of every run.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
    /// Threads (default: the machine's physical cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write every run's full timing record to FILE as `{"results": [...]}`.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a bar chart of median times per combination to FILE (SVG).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Never download a model.
    #[arg(long)]
    pub offline: bool,
}

/// `syllabus models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every catalog alias and whether (and where) it is on this machine.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download a model into the Hugging Face cache (HF_ENDPOINT, HF_TOKEN, HF_HOME honoured).
    Pull {
        /// Catalog alias, or owner/repo/file.gguf on Hugging Face.
        model: String,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// What a model file's header says, without loading its weights.
    Info {
        /// Path, alias, Ollama name or owner/repo/file.gguf (found locally, never downloaded).
        model: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `syllabus generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Course topic, e.g. "Introduction to Marine Biology".
    pub topic: String,
    /// A .gguf file, a catalog alias (qwen2:1.5b, llama3.2:1b, ...), an Ollama name or
    /// owner/repo/file.gguf [default: the packed model, else smollm2:135m].
    #[arg(long)]
    pub model: Option<String>,
    /// Number of modules.
    #[arg(long, default_value_t = 6)]
    pub modules: usize,
    /// Intended learners.
    #[arg(long)]
    pub audience: Option<String>,
    /// Level, e.g. introductory or advanced.
    #[arg(long)]
    pub level: Option<String>,
    /// Course length in weeks; modules are spread over them.
    #[arg(long)]
    pub weeks: Option<u32>,
    /// Language the syllabus is written in.
    #[arg(long, default_value = "English")]
    pub language: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Seed: the same seed and inputs give the same syllabus.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub top_p: f32,
    /// Candidates kept before nucleus sampling.
    #[arg(long, default_value_t = 40, allow_negative_numbers = true)]
    pub top_k: i32,
    /// Penalty on verbatim repeats in replies (DRY multiplier); 0 turns it off.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub dry: f32,
    /// Threads (default: the machine's physical cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// KV-cache tokens for all sequences together (default: sized from the prompts, at most 32768).
    #[arg(long)]
    pub ctx: Option<usize>,
    /// How module calls are scheduled.
    #[arg(long, value_enum, default_value_t = Strategy::Parallel)]
    pub strategy: Strategy,
    /// Write the run's timing record as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub timings: Option<PathBuf>,
    /// Warn about any model call slower than this many seconds.
    #[arg(long, default_value_t = crate::progress::DEFAULT_SLOW_CALL_SECS)]
    pub slow_call_secs: f64,
    /// Where the model runs: in this process, or an Ollama daemon.
    #[arg(long, value_enum, default_value_t = BackendKind::Llama)]
    pub backend: BackendKind,
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Never download a model (also when HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// Print nothing but errors on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of daemon backends.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Ollama address [default: $OLLAMA_HOST, else http://127.0.0.1:11434].
    #[arg(long, value_name = "URL")]
    pub ollama_url: Option<String>,
    /// Module calls in flight at once on a daemon (match OLLAMA_NUM_PARALLEL).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// Limit on one daemon call, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub call_timeout_secs: f64,
}

/// Checked daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonPlan {
    /// `--ollama-url`, unparsed (the engine reads it with OLLAMA_HOST).
    pub url: Option<String>,
    /// Calls in flight.
    pub parallel: usize,
    /// Per-call limit.
    pub call_timeout: std::time::Duration,
}

impl DaemonArgs {
    /// Checks the values.
    pub fn plan(&self) -> Result<DaemonPlan, UsageError> {
        if !(1..=64).contains(&self.parallel) {
            return Err(UsageError(format!(
                "--parallel must be between 1 and 64, not {}",
                self.parallel
            )));
        }
        if self.call_timeout_secs.is_nan()
            || self.call_timeout_secs <= 0.0
            || self.call_timeout_secs > 86_400.0
        {
            return Err(UsageError(format!(
                "--call-timeout-secs must be above 0 and at most 86400, not {}",
                self.call_timeout_secs
            )));
        }
        Ok(DaemonPlan {
            url: self.ollama_url.clone(),
            parallel: self.parallel,
            call_timeout: std::time::Duration::from_secs_f64(self.call_timeout_secs),
        })
    }
}

/// A command-line value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

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

impl GenerateArgs {
    /// Checks every value once; the run trusts the result.
    pub fn plan(&self) -> Result<GeneratePlan, UsageError> {
        let topic = self.topic.split_whitespace().collect::<Vec<_>>().join(" ");
        if topic.is_empty() {
            return Err(UsageError("the topic is empty; say what the course is about, e.g. \"Introduction to Marine Biology\"".into()));
        }
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(UsageError(format!(
                "the topic is longer than {MAX_TOPIC_CHARS} characters; shorten it"
            )));
        }
        if !(1..=MAX_MODULES).contains(&self.modules) {
            return Err(UsageError(format!(
                "--modules must be between 1 and {MAX_MODULES}, not {}",
                self.modules
            )));
        }
        if let Some(w) = self.weeks {
            if !(1..=104).contains(&w) {
                return Err(UsageError(format!(
                    "--weeks must be between 1 and 104, not {w}"
                )));
            }
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(UsageError(format!(
                "--temperature must be between 0 and 2, not {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(UsageError(format!(
                "--top-p must be above 0 and at most 1, not {}",
                self.top_p
            )));
        }
        if !(0.0..=5.0).contains(&self.dry) {
            return Err(UsageError(format!(
                "--dry must be between 0 and 5, not {}",
                self.dry
            )));
        }
        if self.top_k < 1 {
            return Err(UsageError(format!(
                "--top-k must be at least 1, not {}",
                self.top_k
            )));
        }
        let threads = self.threads.unwrap_or_else(num_cpus::get_physical);
        if !(1..=512).contains(&threads) {
            return Err(UsageError(format!(
                "--threads must be between 1 and 512, not {threads}"
            )));
        }
        let max_ctx = self.ctx.unwrap_or(crate::engine::llama::DEFAULT_MAX_CTX);
        if !(256..=1 << 20).contains(&max_ctx) {
            return Err(UsageError(format!(
                "--ctx must be between 256 and 1048576 tokens, not {max_ctx}"
            )));
        }
        if self.slow_call_secs.is_nan() || self.slow_call_secs <= 0.0 {
            return Err(UsageError(format!(
                "--slow-call-secs must be above 0, not {}",
                self.slow_call_secs
            )));
        }
        let language = self.language.trim();
        if language.is_empty() {
            return Err(UsageError(
                "--language is empty; e.g. --language English".into(),
            ));
        }
        if self.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(UsageError(
                "--model is empty; give a .gguf path or an alias such as smollm2:135m".into(),
            ));
        }
        Ok(GeneratePlan {
            request: CourseRequest {
                topic,
                modules: self.modules,
                audience: optional_text("--audience", &self.audience)?,
                level: optional_text("--level", &self.level)?,
                weeks: self.weeks,
                language: language.to_string(),
            },
            model: self.model.as_deref().map(|m| m.trim().to_string()),
            sampling: Sampling {
                temperature: self.temperature,
                top_p: self.top_p,
                top_k: self.top_k,
                dry: self.dry,
            },
            seed: self.seed,
            threads,
            max_ctx,
            strategy: self.strategy,
            format: self.format,
            output: self.output.clone(),
            timings: self.timings.clone(),
            quiet: self.quiet,
            offline: self.offline,
            slow_call_secs: self.slow_call_secs,
            backend: self.backend,
            daemon: self.daemon.plan()?,
        })
    }
}

impl BenchArgs {
    /// Checks every value once, with generate's defaults for the rest.
    pub fn plan(&self) -> Result<crate::bench::BenchPlan, UsageError> {
        let base = GenerateArgs {
            topic: self.topic.clone(),
            model: self.model.clone(),
            modules: self.modules,
            audience: None,
            level: None,
            weeks: None,
            language: "English".into(),
            format: Format::Json,
            output: None,
            seed: self.seed,
            temperature: 0.7,
            top_p: 0.9,
            top_k: 40,
            dry: 0.8,
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
        if !(1..=100).contains(&self.runs) {
            return Err(UsageError(format!(
                "--runs must be between 1 and 100, not {}",
                self.runs
            )));
        }
        let mut strategies = self.strategies.clone();
        strategies.dedup();
        if strategies.is_empty() {
            return Err(UsageError("--strategies is empty".into()));
        }
        let mut backends = Vec::new();
        for &b in &self.backends {
            if !backends.contains(&b) {
                backends.push(b);
            }
        }
        if backends.is_empty() {
            return Err(UsageError("--backends is empty".into()));
        }
        if self.ollama_model.trim().is_empty() {
            return Err(UsageError("--ollama-model is empty".into()));
        }
        Ok(crate::bench::BenchPlan {
            base,
            runs: self.runs,
            strategies,
            backends,
            ollama_model: self.ollama_model.trim().to_string(),
            json: self.json.clone(),
            svg: self.svg.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<GeneratePlan, UsageError> {
        let mut argv = vec!["syllabus", "generate"];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command.unwrap() {
            Command::Generate(g) => g.plan(),
            _ => unreachable!("generate was parsed"),
        }
    }

    #[test]
    fn bench_lists_parse_and_unknown_backends_are_refused() {
        let bench = |extra: &[&str]| {
            let mut argv = vec!["syllabus", "bench", "Chemistry"];
            argv.extend(extra);
            match Cli::try_parse_from(argv).unwrap().command.unwrap() {
                Command::Bench(b) => b.plan(),
                _ => unreachable!("bench was parsed"),
            }
        };
        let plan = bench(&["--strategies", "prefix,parallel", "--runs", "2"]).unwrap();
        assert_eq!(plan.backends, [BackendKind::Llama]);
        let mut argv = vec!["syllabus", "bench", "X", "--backends", "vllm"];
        assert!(Cli::try_parse_from(std::mem::take(&mut argv)).is_err());
        assert_eq!(plan.strategies, [Strategy::Prefix, Strategy::Parallel]);
        assert_eq!((plan.runs, plan.base.request.modules), (2, 8));
        for (argv, needle) in [
            (vec!["--parallel", "0"], "--parallel"),
            (vec!["--runs", "0"], "--runs"),
            (vec!["--modules", "0"], "--modules"),
        ] {
            let err = bench(&argv).unwrap_err().to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }

    #[test]
    fn defaults_are_a_parallel_markdown_run() {
        let plan = args(&["Marine Biology"]).unwrap();
        assert_eq!(plan.strategy, Strategy::Parallel);
        assert_eq!(plan.format, Format::Markdown);
        assert_eq!(plan.model, None);
        assert!(plan.threads >= 1);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (argv, needle) in [
            (vec!["  "], "topic is empty"),
            (vec!["X", "--modules", "0"], "--modules"),
            (vec!["X", "--modules", "500"], "--modules"),
            (vec!["X", "--weeks", "0"], "--weeks"),
            (vec!["X", "--temperature", "9"], "--temperature"),
            (vec!["X", "--audience", " "], "--audience"),
            (vec!["X", "--threads", "0"], "--threads"),
            (vec!["X", "--ctx", "10"], "--ctx"),
            (vec!["X", "--dry", "-1"], "--dry"),
        ] {
            let err = args(&argv).unwrap_err().to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }

    #[test]
    fn unknown_format_is_a_parse_error() {
        assert!(Cli::try_parse_from(["syllabus", "generate", "X", "--format", "pdf"]).is_err());
    }
}
