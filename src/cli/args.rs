//! clap definitions of every command and flag; `plan` checks them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::fields::CourseFields;
use super::gpu_args::GpuArgs;
use crate::engine::{BackendKind, Sampling, Strategy};
use crate::render::Format;

/// Seed of a run when `--seed` is not given.
pub const DEFAULT_SEED: u32 = 42;

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
    /// Write one or more modules of a saved JSON syllabus again; everything else stays.
    Regenerate(Box<RegenerateArgs>),
    /// Write many courses from a CSV, JSON Lines or TOML file, sharing the model's batches.
    Batch(Box<BatchArgs>),
    /// Write a saved JSON syllabus (hand edits welcome) in any format, without the model.
    Render(Box<RenderArgs>),
    /// List, fetch and inspect model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Time whole runs per strategy and backend, side by side, after a warm-up.
    Bench(Box<BenchArgs>),
    /// Serve a web page and an HTTP API that write syllabi, with the model loaded once.
    Serve(Box<ServeArgs>),
    /// The CPU variants this file carries, and which one runs on this machine.
    #[command(subcommand)]
    Cpu(CpuCommand),
    /// Write one executable with a model inside, for machines with nothing else.
    Pack {
        /// Model to put inside: path, alias, Ollama name or owner/repo/file.gguf.
        #[arg(long, default_value = crate::models::DEFAULT_MODEL)]
        model: String,
        /// The executable to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Never download the model.
        #[arg(long)]
        offline: bool,
    },
    /// Loads a model file and decodes a few tokens (run by this program in a child
    /// process before it trusts a model file).
    #[command(name = "probe-model", hide = true)]
    ProbeModel {
        /// The model file.
        path: PathBuf,
        #[command(flatten)]
        gpu: GpuArgs,
        /// KV cells the run may need.
        #[arg(long, default_value_t = 512)]
        room: usize,
    },
    /// Lists the Vulkan devices as JSON (run by this program in a child process).
    #[command(name = "gpu-probe", hide = true)]
    GpuProbe,
}

/// Options of `syllabus bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Course topic.
    pub topic: String,
    /// A .gguf file or alias (llama backend) [default: the packed model, else qwen2.5-coder:0.5b].
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
    /// Model name on the Ollama daemon [default: qwen:latest].
    #[arg(long)]
    pub ollama_model: Option<String>,
    /// Model name on the OpenAI-compatible server [default: the first it lists].
    #[arg(long)]
    pub openai_model: Option<String>,
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Seed of every run.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u32,
    /// Tokens a call may propose per step for the model to check (speculative decoding);
    /// 0 is off.
    #[arg(long, value_name = "N", default_value_t = crate::engine::draft::DEFAULT_DRAFT)]
    pub draft: usize,
    /// Threads [default: $SYLLABUS_THREADS, else the machine's physical cores].
    #[arg(long, env = "SYLLABUS_THREADS", hide_env = true)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Write every run's full timing record to FILE as `{"results": [...]}`.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a bar chart of median times per combination to FILE (SVG).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Instead of strategies: time N courses of the topic (seeds SEED, SEED+1, ...) one
    /// after another against the same N run together as `batch` and `serve` run them.
    #[arg(long, value_name = "N")]
    pub courses: Option<usize>,
    /// Courses at once to time with --courses, comma-separated [default: 1,2,3,N].
    #[arg(long, value_delimiter = ',', value_name = "K,...")]
    pub at_once: Vec<usize>,
    /// Never download a model.
    #[arg(long)]
    pub offline: bool,
    /// Tries a model call gets before its best is kept [default: $SYLLABUS_ATTEMPTS, else 5].
    #[arg(long, value_name = "N", env = "SYLLABUS_ATTEMPTS", hide_env = true)]
    pub attempts: Option<u32>,
}

/// `syllabus cpu ...`
#[derive(Debug, Subcommand)]
pub enum CpuCommand {
    /// The build running and why, this CPU's features, the builds this file carries, and
    /// the GPUs seen.
    Info,
    /// Write a copy of this program carrying another build of it: for x86-64-v4 CPUs, or
    /// the Vulkan build (scripts/build-variants.sh).
    Embed {
        /// The same program built with `-C target-cpu=x86-64-v4`, or with `--features vulkan`.
        variant: PathBuf,
        /// What it is: x86-64-v4, with +feature for any feature added to the build (e.g.
        /// x86-64-v4+avx512vnni), or vulkan.
        #[arg(long, default_value = "x86-64-v4")]
        name: String,
        /// The executable to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
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
    #[command(flatten)]
    pub course: CourseFields,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of `syllabus render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A JSON syllabus from generate, regenerate, batch or the page, edited or not.
    pub file: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Options of `syllabus regenerate`.
#[derive(Debug, Args)]
pub struct RegenerateArgs {
    /// A syllabus written by `syllabus generate --format json`.
    pub file: PathBuf,
    /// Module to write again (1-based); repeat for several, written together.
    #[arg(long = "module", value_name = "N", required = true)]
    pub modules: Vec<usize>,
    /// A note to steer the new version, e.g. "more hands-on activities".
    #[arg(long)]
    pub note: Option<String>,
    /// Format of what is written [default: from -o's extension, else JSON].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to FILE (atomically) [default: FILE itself, rewritten].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where and how a syllabus is written.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Output format [default: from -o's extension, else markdown].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to FILE (atomically) instead of standard output; .md, .json, .html, .docx, .pdf
    /// or .imscc picks the format.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// How the model runs: model, sampling, memory, backend, reporting.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A .gguf file, a catalog alias (qwen2:1.5b, llama3.2:1b, ...), an Ollama name or
    /// owner/repo/file.gguf [default: the packed model, else qwen2.5-coder:0.5b].
    #[arg(long)]
    pub model: Option<String>,
    /// Seed: the same seed and inputs give the same syllabus [default: 42].
    #[arg(long)]
    pub seed: Option<u32>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = Sampling::DEFAULT.temperature, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = Sampling::DEFAULT.top_p, allow_negative_numbers = true)]
    pub top_p: f32,
    /// Candidates kept before nucleus sampling.
    #[arg(long, default_value_t = Sampling::DEFAULT.top_k, allow_negative_numbers = true)]
    pub top_k: i32,
    /// Penalty on verbatim repeats in replies (DRY multiplier); 0 turns it off.
    #[arg(long, default_value_t = Sampling::DEFAULT.dry, allow_negative_numbers = true)]
    pub dry: f32,
    /// Tokens a call may propose per step, found earlier in its prompt or reply, for the
    /// model to check beside its next token (speculative decoding, same replies in
    /// distribution; 8 is a good start); 0 is off.
    #[arg(long, value_name = "N", default_value_t = crate::engine::draft::DEFAULT_DRAFT)]
    pub draft: usize,
    /// Threads [default: $SYLLABUS_THREADS, else the machine's physical cores].
    #[arg(long, env = "SYLLABUS_THREADS", hide_env = true)]
    pub threads: Option<usize>,
    /// KV-cache tokens for all sequences together (default: sized from the prompts, at most 32768).
    #[arg(long)]
    pub ctx: Option<usize>,
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// How module calls are scheduled.
    #[arg(long, value_enum, default_value_t = Strategy::Parallel)]
    pub strategy: Strategy,
    /// Write the run's timing record as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub timings: Option<PathBuf>,
    /// Warn about any model call slower than this many seconds.
    #[arg(long, default_value_t = crate::report::progress::DEFAULT_SLOW_CALL_SECS)]
    pub slow_call_secs: f64,
    /// Where the model runs: in this process, or an Ollama daemon [default: llama].
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Never download a model (also when HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// Print nothing but errors on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Fail (exit 1, nothing written) when a reply fails its checks in every attempt,
    /// instead of keeping the best one marked "needs review".
    #[arg(long)]
    pub strict: bool,
    /// Tries a model call gets before its best is kept (or, with --strict, the run fails);
    /// fewer is faster, more gives small models more chances [default: $SYLLABUS_ATTEMPTS,
    /// else 5].
    #[arg(long, value_name = "N", env = "SYLLABUS_ATTEMPTS", hide_env = true)]
    pub attempts: Option<u32>,
}

impl RunArgs {
    /// The defaults, for commands that set only some of these (bench).
    pub fn defaults() -> Self {
        Self {
            model: None,
            seed: None,
            temperature: Sampling::DEFAULT.temperature,
            top_p: Sampling::DEFAULT.top_p,
            top_k: Sampling::DEFAULT.top_k,
            dry: Sampling::DEFAULT.dry,
            draft: crate::engine::draft::DEFAULT_DRAFT,
            threads: None,
            ctx: None,
            gpu: GpuArgs::default(),
            strategy: Strategy::Parallel,
            timings: None,
            slow_call_secs: crate::report::progress::DEFAULT_SLOW_CALL_SECS,
            backend: None,
            daemon: DaemonArgs::default(),
            offline: false,
            quiet: false,
            strict: false,
            attempts: None,
        }
    }
}

/// Options of daemon backends (refused in a build without them).
#[derive(Debug, Clone, Default, Args)]
pub struct DaemonArgs {
    /// Ollama address [default: $OLLAMA_HOST, else http://127.0.0.1:11434].
    #[arg(long, value_name = "URL")]
    pub ollama_url: Option<String>,
    /// OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 [default: $OPENAI_BASE_URL,
    /// else http://127.0.0.1:8080/v1].
    #[arg(long, value_name = "URL", visible_alias = "openai-url")]
    pub base_url: Option<String>,
    /// Environment variable holding the API key [default: OPENAI_API_KEY]; never printed.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Module calls in flight at once on a daemon (match OLLAMA_NUM_PARALLEL) [default: 1].
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Limit on one daemon call, in seconds [default: 60].
    #[arg(long)]
    pub call_timeout_secs: Option<f64>,
}

/// Options of `syllabus batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The courses: .csv (header: topic,modules,audience,level,weeks,language,outline),
    /// .jsonl (one object a line, same keys) or .toml ([[course]] tables).
    pub courses: PathBuf,
    /// Folder for the syllabi (NAME.json each, named from the topic) and summary.json.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Also write each syllabus in this format beside its JSON.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write every course again, even those whose output is already there and valid.
    #[arg(long)]
    pub force: bool,
    /// Courses in progress at once, sharing the model's batches (in process) or the
    /// server's `--parallel` calls.
    #[arg(long, value_name = "N")]
    pub courses_at_once: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of `syllabus serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; port 0 picks a free one (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Secret every request must carry (Authorization: Bearer, or the page's sign-in);
    /// needed to listen beyond this machine [default: $SYLLABUS_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Listen beyond this machine without a token (anyone on the network can use it).
    #[arg(long)]
    pub allow_open: bool,
    /// A reverse proxy in front of the server (repeatable): requests through it count,
    /// for the sign-in limit, against the client its X-Forwarded-For header names, and its
    /// connections are not capped per address.
    #[arg(long = "trust-proxy", value_name = "IP")]
    pub trust_proxy: Vec<std::net::IpAddr>,
    /// Courses written at once, sharing the model's batches [default: 3].
    #[arg(long, value_name = "N")]
    pub concurrent: Option<usize>,
    /// Requests that may wait for a place beyond those [default: 16].
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,
    /// Most modules a request may ask for [default: 12].
    #[arg(long, value_name = "N")]
    pub max_modules: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
}
