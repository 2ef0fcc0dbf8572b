//! Side-by-side benchmark on the test model (or `BENCH_MODEL`):
//! 1. generation speed with and without the JSON grammar (same prompt, same token count);
//! 2. end-to-end syllabus time per strategy, with ratios to the first strategy (of the
//!    medians, and the median of each run's own ratio) and the share of the module phase
//!    spent outside llama.cpp's decode calls.
//!
//! `cargo bench --bench engine`; `BENCH_RUNS` (default 3), `BENCH_MODULES` (default 8),
//! `BENCH_STRATEGIES` (default `sequential,prefix,parallel`; `NAME-plain` is the strategy
//! without jump-forward, `NAME-draft` with drafts of up to 8 tokens), `BENCH_GRAMMAR=0` skips part 1.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use syllabus::commands::bench::results::median;
use syllabus::engine::llama::{LlamaEngine, LlamaOptions, LoadedModel, DEFAULT_MAX_CTX};
use syllabus::engine::measures::Clock;
use syllabus::engine::{ChatCall, Engine, NoProgress, Sampling, Strategy};
use syllabus::models;
use syllabus::pipeline::prompt::Calls;

const SAMPLING: Sampling = Sampling::DEFAULT;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options(grammar: bool, jump_forward: bool) -> LlamaOptions {
    LlamaOptions {
        threads: num_cpus::get_physical(),
        max_ctx: DEFAULT_MAX_CTX,
        sampling: SAMPLING,
        grammar,
        jump_forward,
        draft: 0,
    }
}

/// A strategy as `BENCH_STRATEGIES` names it: `parallel`, `parallel-plain` (no
/// jump-forward), `parallel-draft` (speculative decoding).
struct Variant {
    name: String,
    strategy: Strategy,
    jump_forward: bool,
    draft: usize,
}

impl Variant {
    fn parse(s: &str) -> Self {
        let mut parts = s.split('-');
        let strategy = <Strategy as clap::ValueEnum>::from_str(parts.next().unwrap(), true)
            .expect("strategy name");
        let mut v = Self {
            name: s.to_string(),
            strategy,
            jump_forward: true,
            draft: syllabus::engine::draft::DEFAULT_DRAFT,
        };
        for part in parts {
            match part {
                "plain" => v.jump_forward = false,
                "draft" => v.draft = syllabus::engine::draft::SUGGESTED_DRAFT,
                other => panic!("unknown strategy suffix {other}"),
            }
        }
        v
    }

    fn options(&self) -> LlamaOptions {
        LlamaOptions {
            draft: self.draft,
            ..options(true, self.jump_forward)
        }
    }
}

fn grammar_call(tokens: u32) -> ChatCall {
    let (request, outline) = common::jazz_outline(3);
    ChatCall {
        max_tokens: tokens,
        ..Calls::new(&request, 0).module(&outline, 1, 1)
    }
}

fn bench_grammar(model: &LoadedModel, runs: usize) {
    // Short enough that the constrained reply is still open when the budget ends, so both
    // sides generate the same number of tokens at the same context lengths.
    let call = grammar_call(160);
    let (mut on, mut off, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        for grammar in [true, false] {
            let mut engine = LlamaEngine::new(model, options(grammar, false), Clock::new());
            let (outs, _) = engine
                .run(
                    std::slice::from_ref(&call),
                    Strategy::Sequential,
                    &NoProgress,
                )
                .unwrap();
            let r = &outs[0].record;
            tokens.push(r.generated_tokens as f64);
            if grammar {
                on.push(r.tokens_per_s)
            } else {
                off.push(r.tokens_per_s)
            }
        }
    }
    let (on, off) = (median(&on), median(&off));
    println!(
        "grammar cost ({runs} runs each, alternating, ~{:.0} tokens per run, one sequence):",
        median(&tokens)
    );
    println!("  unconstrained {off:7.1} tok/s");
    println!("  llguidance    {on:7.1} tok/s   ratio {:.3}", on / off);
}

fn bench_strategies(model: &LoadedModel, runs: usize) {
    let modules: usize = env_or::<usize>("BENCH_MODULES", 8).min(12);
    // A fixed outline: every strategy decodes the same calls, and content validation of a
    // tiny model's replies cannot decide which strategy gets measured.
    let (request, _) = common::jazz_outline(modules);
    let strategies: Vec<Variant> = std::env::var("BENCH_STRATEGIES")
        .unwrap_or_else(|_| "sequential,prefix,parallel".into())
        .split(',')
        .map(Variant::parse)
        .collect();
    let n = strategies.len();
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut module_walls: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut outside: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut gen_rates: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut drafts: Vec<(usize, usize)> = vec![(0, 0); n];
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut prefix = 0;
    for run in 0..runs {
        // Each run draws other seeds (the same for every strategy within the run): reply
        // lengths vary with the draw, and one fixed draw would tie each strategy's time to
        // one particular set of lengths.
        let seed = 42 + 1000 * run as u32;
        let calls = common::jazz_module_calls(modules, seed);
        let outline_call = Calls::new(&request, seed).outline(1);
        for (k, v) in strategies.iter().enumerate() {
            let clock = Clock::new();
            let mut engine = LlamaEngine::new(model, v.options(), clock);
            engine
                .run(
                    std::slice::from_ref(&outline_call),
                    Strategy::Sequential,
                    &NoProgress,
                )
                .unwrap();
            let (outs, stats) = engine.run(&calls, v.strategy, &NoProgress).unwrap();
            walls[k].push(clock.now_ms());
            module_walls[k].push(stats.wall_ms);
            outside[k].push(1.0 - stats.decode_ms / stats.wall_ms);
            let tokens: usize = outs.iter().map(|o| o.record.generated_tokens).sum();
            gen_rates[k].push(tokens as f64 * 1000.0 / stats.wall_ms);
            drafts[k].0 += stats.drafted_tokens;
            drafts[k].1 += stats.accepted_draft_tokens;
            steps[k].push(tokens as f64 / stats.decode_calls as f64);
            prefix = prefix.max(stats.shared_prefix_tokens);
        }
    }
    println!("\nOutline call + {modules} module calls (History of Jazz, fixed outline), {runs} runs each, interleaved, seeds 42 + 1000 x run:");
    println!("  strategy          median s   min s   max s   vs first   paired (min-max)   modules s   tok/s   outside decode   tokens/decode   drafts taken");
    let base = median(&walls[0]);
    for (k, v) in strategies.iter().enumerate() {
        let w = &walls[k];
        let m = median(w);
        let taken = match drafts[k] {
            (0, _) => "-".to_string(),
            (d, a) => format!("{a} of {d}"),
        };
        // Each run's ratio to the first strategy on the same seeds, the same minute.
        let paired: Vec<f64> = walls[0].iter().zip(w).map(|(a, b)| a / b).collect();
        println!(
            "  {:<16} {:>9.2} {:>7.2} {:>7.2} {:>9.2}x {:>7.2}x ({:.2}-{:.2}) {:>10.2} {:>7.1} {:>15.1}% {:>15.2}   {}",
            v.name,
            m / 1000.0,
            w.iter().cloned().fold(f64::MAX, f64::min) / 1000.0,
            w.iter().cloned().fold(0.0, f64::max) / 1000.0,
            base / m,
            median(&paired),
            paired.iter().cloned().fold(f64::MAX, f64::min),
            paired.iter().cloned().fold(0.0, f64::max),
            median(&module_walls[k]) / 1000.0,
            median(&gen_rates[k]),
            100.0 * median(&outside[k]),
            median(&steps[k]),
            taken,
        );
    }
    println!("  shared prefix: {prefix} tokens");
}

fn main() {
    let path: PathBuf = env_or(
        "BENCH_MODEL",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    );
    let runs: usize = env_or("BENCH_RUNS", 3);
    let resolved = models::resolve(
        path.to_str().expect("UTF-8 path"),
        &syllabus::cli::model_places::local_only(),
    )
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let model = LoadedModel::load(
        resolved,
        &syllabus::engine::llama::offload::Offload::auto(32_768),
    )
    .unwrap();
    println!(
        "model {} , {} threads",
        path.display(),
        num_cpus::get_physical()
    );
    if std::env::var("BENCH_GRAMMAR").as_deref() != Ok("0") {
        bench_grammar(&model, runs);
    }
    bench_strategies(&model, runs);
}
