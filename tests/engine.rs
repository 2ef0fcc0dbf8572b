//! The llama.cpp engine on the real test model: prefix sharing, waves, early finishers,
//! reproducibility per strategy, and the grammar under hostile sampling.

mod common;

use std::sync::{Mutex, MutexGuard, OnceLock};

use syllabus::engine::llama::{shared_prefix_len, LlamaEngine, LlamaOptions, LoadedModel};
use syllabus::engine::measures::{Clock, Phase};
use syllabus::engine::{
    BatchStats, CallOutput, ChatCall, Engine, Finish, NoProgress, Sampling, Strategy,
};
use syllabus::models;
use syllabus::pipeline::prompt::Calls;

fn model() -> &'static LoadedModel {
    static MODEL: OnceLock<LoadedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = common::model_path();
        LoadedModel::load(
            models::resolve(
                path.to_str().unwrap(),
                &syllabus::cli::model_places::local_only(),
            )
            .unwrap(),
            &syllabus::engine::llama::offload::Offload::cpu(),
        )
        .unwrap()
    })
}

/// One model test at a time: contexts must not be created concurrently, and the two
/// cores are better spent on one batch.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const SAMPLING: Sampling = Sampling {
    temperature: 0.7,
    top_p: 0.9,
    top_k: 40,
    dry: 0.8,
};

const GREEDY: Sampling = Sampling {
    temperature: 0.0,
    top_p: 1.0,
    top_k: 1,
    dry: 0.0,
};

fn options(max_ctx: usize, sampling: Sampling) -> LlamaOptions {
    LlamaOptions {
        threads: common::THREADS.1.parse().unwrap(),
        max_ctx,
        sampling,
        grammar: true,
        jump_forward: true,
        draft: 0,
    }
}

fn module_calls(n: usize) -> Vec<ChatCall> {
    common::jazz_module_calls(n, 100)
}

/// `calls` with replies cut at `max_tokens`: for tests that check what happens while
/// tokens are decoded, not whole replies.
fn capped(mut calls: Vec<ChatCall>, max_tokens: u32) -> Vec<ChatCall> {
    for call in &mut calls {
        call.max_tokens = max_tokens;
    }
    calls
}

/// Calls with a shared prefix and replies of a few tokens: for what batching, caching and
/// scheduling do, which needs no long replies (a module reply of the test model is 300-450
/// tokens).
fn item_calls(n: usize) -> Vec<ChatCall> {
    common::jazz_item_calls(n, 100)
}

fn run(
    calls: &[ChatCall],
    strategy: Strategy,
    opts: LlamaOptions,
) -> (Vec<CallOutput>, BatchStats) {
    let mut engine = LlamaEngine::new(model(), opts, Clock::new());
    engine.run(calls, strategy, &NoProgress).unwrap()
}

/// The calls' prompts as the model tokenizes them.
fn prompts(calls: &[ChatCall]) -> Vec<Vec<i32>> {
    calls
        .iter()
        .map(|c| {
            model()
                .tokenize_chat(&c.messages)
                .unwrap()
                .iter()
                .map(|t| t.0)
                .collect()
        })
        .collect()
}

/// Every reply ended and is a JSON object with its schema's keys (a module's or an item's).
fn assert_json_replies(outs: &[CallOutput]) {
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(o.record.finish, Finish::Stop, "call {i}: {}", o.text);
        let v: serde_json::Value = serde_json::from_str(&o.text)
            .unwrap_or_else(|e| panic!("call {i} is not JSON ({e}): {}", o.text));
        let keys = match o.record.phase {
            Phase::Item => v["item"].is_string(),
            _ => v["summary"].is_string() && v["topics"].is_array(),
        };
        assert!(keys, "call {i}: {v}");
    }
}

/// Replies that ended are valid JSON; one cut by its budget used all of it (the pipeline
/// regenerates those: a tiny model at temperature 0.7 sometimes runs into digits).
fn assert_replies_follow_the_grammar(outs: &[CallOutput], max_tokens: u32) {
    assert_cut_or_valid(outs, max_tokens);
    assert!(outs.iter().any(|o| o.record.finish == Finish::Stop));
}

/// Replies that ended are valid JSON, and the others used all of `max_tokens`.
fn assert_cut_or_valid(outs: &[CallOutput], max_tokens: u32) {
    for o in outs {
        match o.record.finish {
            Finish::Stop => assert_json_replies(std::slice::from_ref(o)),
            Finish::Length => assert_eq!(o.record.generated_tokens, max_tokens as usize),
            Finish::Error => panic!("the engine reported an error: {}", o.text),
        }
    }
}

#[test]
fn parallel_calls_share_one_prefix_of_equal_length() {
    let _guard = serial();
    let calls = item_calls(4);
    let (outs, stats) = run(&calls, Strategy::Parallel, options(32_768, SAMPLING));
    // The system turn and the course's lines, to the first token the item turns differ on.
    assert_eq!(
        stats.shared_prefix_tokens,
        shared_prefix_len(&prompts(&calls))
    );
    assert!(stats.shared_prefix_tokens > 100, "{stats:?}");
    assert_eq!(stats.max_parallel, 4);
    for o in &outs {
        assert_eq!(o.record.cached_tokens, stats.shared_prefix_tokens);
        assert!(o.record.prompt_tokens > o.record.cached_tokens);
    }
    assert_replies_follow_the_grammar(&outs, calls[0].max_tokens);
    assert!(stats.decode_ms > 0.0 && stats.decode_ms <= stats.wall_ms);
}

#[test]
fn sequential_recomputes_every_prompt() {
    let _guard = serial();
    let (outs, stats) = run(
        &item_calls(2),
        Strategy::Sequential,
        options(32_768, SAMPLING),
    );
    assert_eq!(stats.shared_prefix_tokens, 0);
    assert_eq!(stats.max_parallel, 1);
    assert!(outs.iter().all(|o| o.record.cached_tokens == 0));
    assert_json_replies(&outs);
}

#[test]
fn each_strategy_is_reproducible_run_to_run() {
    let _guard = serial();
    // The first 48 tokens of each module reply: enough to tell runs apart.
    let calls = capped(module_calls(3), 48);
    for strategy in [Strategy::Sequential, Strategy::Prefix, Strategy::Parallel] {
        let (a, _) = run(&calls, strategy, options(32_768, SAMPLING));
        let (b, _) = run(&calls, strategy, options(32_768, SAMPLING));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.text, y.text, "{strategy:?} differs between runs");
        }
    }
}

#[test]
fn small_context_runs_calls_in_waves() {
    let _guard = serial();
    let calls = item_calls(4);
    let prompts = prompts(&calls);
    let need = calls
        .iter()
        .zip(&prompts)
        .map(|(c, p)| p.len() + c.max_tokens as usize)
        .max()
        .unwrap();
    let shared = shared_prefix_len(&prompts);
    // Room for the shared prefix and two calls' own tokens, not three.
    let max_ctx = shared + 2 * (need - shared);
    let (outs, stats) = run(&calls, Strategy::Parallel, options(max_ctx, SAMPLING));
    assert_eq!(stats.max_parallel, 2, "{stats:?}");
    assert_replies_follow_the_grammar(&outs, calls[0].max_tokens);
    let waited = outs.iter().filter(|o| o.record.queue_ms > 0.0).count();
    assert!(waited >= 2, "later calls waited for a sequence");
}

#[test]
fn a_call_that_ends_early_does_not_disturb_the_others() {
    let _guard = serial();
    let mut calls = module_calls(3);
    calls[1].max_tokens = 8;
    let (outs, stats) = run(&calls, Strategy::Parallel, options(32_768, SAMPLING));
    assert_eq!(stats.max_parallel, 3);
    assert_eq!(outs[1].record.finish, Finish::Length);
    assert_eq!(outs[1].record.generated_tokens, 8);
    assert_json_replies(&[outs[0].clone(), outs[2].clone()]);
}

#[test]
fn grammar_holds_under_hot_sampling_without_aborting() {
    let _guard = serial();
    let hot = Sampling {
        temperature: 2.0,
        top_p: 1.0,
        top_k: 49_152,
        dry: 0.0,
    };
    // At temperature 2 the replies run long: 256 hot-sampled tokens a call still put the
    // grammar through hostile draws, in a third of the module budget's 881.
    let calls = capped(module_calls(2), 256);
    let (outs, _) = run(&calls, Strategy::Parallel, options(32_768, hot));
    for o in &outs {
        // Every token was allowed by the schema: a complete reply is valid JSON.
        if o.record.finish == Finish::Stop {
            serde_json::from_str::<serde_json::Value>(&o.text).unwrap();
        }
    }
    let (outs, _) = run(
        &module_calls(2),
        Strategy::Parallel,
        options(32_768, GREEDY),
    );
    assert_json_replies(&outs);
}

#[test]
fn context_too_small_for_one_call_is_an_error_not_an_abort() {
    let _guard = serial();
    let mut engine = LlamaEngine::new(model(), options(1024, SAMPLING), Clock::new());
    let err = engine
        .run(&module_calls(2), Strategy::Parallel, &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("raise --ctx"), "{err}");
}

#[test]
fn a_lone_regeneration_reuses_the_prefix_its_batch_left() {
    let _guard = serial();
    let calls = item_calls(3);
    let mut engine = LlamaEngine::new(model(), options(32_768, SAMPLING), Clock::new());
    let (_, first) = engine.run(&calls, Strategy::Parallel, &NoProgress).unwrap();
    assert_eq!(first.reused_prefix_tokens, 0, "nothing cached yet");
    let mut retry = calls[1].clone();
    retry.attempt = 2;
    retry.seed += 1000;
    let (outs, again) = engine
        .run(
            std::slice::from_ref(&retry),
            Strategy::Parallel,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(again.shared_prefix_tokens, first.shared_prefix_tokens);
    assert_eq!(again.reused_prefix_tokens, first.shared_prefix_tokens);
    assert_eq!(outs[0].record.cached_tokens, first.shared_prefix_tokens);
    assert_json_replies(&outs);
    // The same call on a fresh engine computes everything and gives a reply of its own kind.
    let (fresh, stats) = run(
        std::slice::from_ref(&retry),
        Strategy::Parallel,
        options(32_768, SAMPLING),
    );
    assert_eq!(
        (stats.shared_prefix_tokens, stats.reused_prefix_tokens),
        (0, 0)
    );
    assert_json_replies(&fresh);
    // The baseline never reuses.
    let (_, seq) = engine
        .run(
            std::slice::from_ref(&retry),
            Strategy::Sequential,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(seq.reused_prefix_tokens, 0);
    assert_eq!(engine.contexts_created(), 1);
}

#[test]
fn forced_tokens_are_fed_without_a_decode_each() {
    let _guard = serial();
    let calls = module_calls(1);
    let plain = LlamaOptions {
        jump_forward: false,
        ..options(32_768, GREEDY)
    };
    let (a, sa) = run(&calls, Strategy::Sequential, plain);
    let (b, sb) = run(&calls, Strategy::Sequential, options(32_768, GREEDY));
    assert_json_replies(&a);
    assert_json_replies(&b);
    let chunks = a[0].record.prompt_tokens.div_ceil(512);
    // Without jump-forward every reply token costs a decode (the last one yields the end).
    assert_eq!(sa.forced_tokens, 0);
    assert_eq!(sa.decode_calls, chunks + a[0].record.generated_tokens);
    // With it the JSON keys come for free: at least `{"summary":"` and the four other keys.
    assert!(sb.forced_tokens >= 10, "{sb:?}");
    assert!(
        sb.decode_calls + sb.forced_tokens <= chunks + b[0].record.generated_tokens,
        "{sb:?} for {} tokens",
        b[0].record.generated_tokens
    );
}

#[test]
fn drafts_change_the_decodes_not_the_replies() {
    let _guard = serial();
    let drafting = |sampling| LlamaOptions {
        draft: 8,
        ..options(32_768, sampling)
    };
    // Greedy, one call at a time: the cells lie in position order with drafts or without,
    // so every sampled row's logits pick the same token, and a drafted token is kept only
    // where plain decoding would have sampled it: the same reply, token for token. (With a
    // seeded draw, the rounding of a batch of several rows can tip a draw near a boundary:
    // docs/generate.md.)
    // The first 192 tokens of each: the titles repeat within them, so drafts are taken.
    let calls = capped(module_calls(2), 192);
    let (plain, sp) = run(&calls, Strategy::Sequential, options(32_768, GREEDY));
    let (drafted, sd) = run(&calls, Strategy::Sequential, drafting(GREEDY));
    for (i, (a, b)) in plain.iter().zip(&drafted).enumerate() {
        assert_eq!(a.tokens, b.tokens, "call {i}: the same reply");
        assert_eq!(a.text, b.text);
    }
    assert_cut_or_valid(&drafted, calls[0].max_tokens);
    assert_eq!(sp.drafted_tokens, 0);
    // Module replies repeat their prompt's titles and their own phrasing.
    assert!(sd.accepted_draft_tokens > 0, "{sd:?}");
    assert!(sd.accepted_draft_tokens <= sd.drafted_tokens);
    assert!(sd.decode_calls < sp.decode_calls, "{sd:?} against {sp:?}");
    // Decoded together and sampled, with drafts taken and dropped between the others'
    // tokens: every reply still follows its grammar. 256 tokens each: that needs drafts
    // among the others' tokens, not whole replies (one ran to 864 tokens: 17 s, now 7).
    let calls = capped(module_calls(2), 256);
    let (outs, stats) = run(&calls, Strategy::Parallel, drafting(SAMPLING));
    assert_replies_follow_the_grammar(&outs, calls[0].max_tokens);
    assert!(stats.drafted_tokens > 0, "{stats:?}");
}

/// Records the order in which calls start and finish.
#[derive(Default)]
struct Events(std::cell::RefCell<Vec<String>>);

impl syllabus::engine::Progress for Events {
    fn call_started(&self, call: &ChatCall) {
        let label = format!("start {}/{}", call.index, call.attempt);
        self.0.borrow_mut().push(label);
    }
    fn call_finished(&self, record: &syllabus::engine::measures::CallRecord) {
        let label = format!("end {}/{}", record.index, record.attempt);
        self.0.borrow_mut().push(label);
    }
}

#[test]
fn a_follow_up_joins_the_batch_while_the_others_decode() {
    let _guard = serial();
    let mut calls = module_calls(3);
    // Call 1 is cut short; its follow-up gets the full budget.
    calls[1].max_tokens = 8;
    let full = calls[0].max_tokens;
    let events = Events::default();
    let mut engine = LlamaEngine::new(model(), options(32_768, SAMPLING), Clock::new());
    let (outs, stats) = engine
        .run_with_follow_ups(&calls, Strategy::Parallel, &events, &mut |call, out| {
            (out.record.finish == Finish::Length).then(|| ChatCall {
                attempt: call.attempt + 1,
                seed: call.seed + 1000,
                max_tokens: full,
                ..call.clone()
            })
        })
        .unwrap();
    let events = events.0.into_inner();
    let pos = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} in {events:?}"))
    };
    assert!(pos("start 1/2") > pos("end 1/1"));
    assert!(
        pos("start 1/2") < pos("end 0/1") && pos("start 1/2") < pos("end 2/1"),
        "the follow-up waited for the batch: {events:?}"
    );
    assert_eq!(outs.len(), 4);
    assert_eq!((outs[3].record.index, outs[3].record.attempt), (1, 2));
    assert_eq!(outs[3].record.cached_tokens, stats.shared_prefix_tokens);
    assert_eq!(stats.max_parallel, 3);
    assert_replies_follow_the_grammar(&[outs[0].clone(), outs[2].clone(), outs[3].clone()], full);
}

/// The outline call of `jazz_outline(modules)` run alone, then module calls that continue
/// its conversation; returns the engine with what it ran.
fn continued_run(
    engine: &mut LlamaEngine<'_>,
    modules: usize,
) -> (Vec<i32>, CallOutput, Vec<ChatCall>) {
    let (request, outline) = common::jazz_outline(modules);
    let calls = Calls::new(&request, 5);
    let outline_call = calls.outline(1);
    // Sized up front for the module batch, as the pipeline does: a context created anew
    // for a bigger batch would lose the outline's sequence.
    let mut like = outline_call.clone();
    like.max_tokens = like.max_tokens.max(1000);
    let extra = outline_call.max_tokens as usize + 256;
    engine.reserve(&like, extra, modules, 1).unwrap();
    let prompt = engine.prompt_tokens(&outline_call.messages).unwrap();
    let (mut outs, _) = engine
        .run(
            std::slice::from_ref(&outline_call),
            Strategy::Parallel,
            &NoProgress,
        )
        .unwrap();
    let reply = outs.remove(0);
    let calls = calls.continuing(&reply.text);
    engine.continues(&calls.conversation(&reply.text)).unwrap();
    let modules = (0..modules).map(|i| calls.module(&outline, i, 1)).collect();
    (prompt, reply, modules)
}

#[test]
fn modules_continue_the_outline_sequence_token_for_token() {
    let _guard = serial();
    let mut engine = LlamaEngine::new(model(), options(32_768, SAMPLING), Clock::new());
    let (outline_prompt, reply, modules) = continued_run(&mut engine, 4);
    // What is checked is where the modules' prompts start; 96 tokens of each reply show they
    // decode from there.
    let modules = capped(modules, 96);
    assert!(!reply.tokens.is_empty());
    let prompt = engine.prompt_tokens(&modules[2].messages).unwrap();
    let n = outline_prompt.len();
    assert_eq!(
        prompt[..n],
        outline_prompt[..],
        "the outline's prompt first"
    );
    assert_eq!(
        prompt[n..n + reply.tokens.len()],
        reply.tokens[..],
        "then its reply as sampled"
    );
    let (outs, stats) = engine
        .run(&modules, Strategy::Parallel, &NoProgress)
        .unwrap();
    // All is in the cache already but the reply's end: its last sampled token and the
    // closing tokens the grammar forced after it, never decoded (`"}]}` and the like).
    assert!(
        stats.reused_prefix_tokens + 8 >= n + reply.tokens.len(),
        "{stats:?}"
    );
    assert_eq!(
        stats.computed_prefix_tokens,
        stats.shared_prefix_tokens - stats.reused_prefix_tokens
    );
    assert!(stats.computed_prefix_tokens <= 4 * 40, "{stats:?}");
    for o in &outs {
        let own = o.record.prompt_tokens - o.record.cached_tokens;
        assert!(
            own <= 40,
            "module turn of {own} tokens beyond the shared prefix"
        );
    }
    assert_cut_or_valid(&outs, modules[0].max_tokens);
}

#[test]
fn regenerations_reuse_the_continued_prefix() {
    let _guard = serial();
    let mut engine = LlamaEngine::new(model(), options(32_768, SAMPLING), Clock::new());
    let (_, _, modules) = continued_run(&mut engine, 3);
    // What the cells hold is checked, not the replies: 64 tokens each, 8 for the first.
    let mut modules = capped(modules, 64);
    modules[0].max_tokens = 8;
    let full = modules[1].max_tokens;
    let (outs, stats) = engine
        .run_with_follow_ups(
            &modules,
            Strategy::Parallel,
            &NoProgress,
            &mut |call, out| {
                (out.record.finish == Finish::Length && call.attempt == 1).then(|| ChatCall {
                    attempt: 2,
                    seed: call.seed + 1000,
                    max_tokens: full,
                    ..call.clone()
                })
            },
        )
        .unwrap();
    assert!(stats.reused_prefix_tokens > 0, "{stats:?}");
    let retry = outs.iter().find(|o| o.record.attempt == 2).unwrap();
    assert_eq!(retry.record.cached_tokens, stats.shared_prefix_tokens);
}

#[test]
fn a_template_that_rewrites_earlier_replies_is_detected() {
    let _guard = serial();
    // llama.cpp's mistral-v7 template puts a space before every earlier assistant turn.
    let dir = tempfile::tempdir().unwrap();
    let mut g = common::gguf::Gguf::read(&common::model_path());
    g.set(
        "tokenizer.chat_template",
        common::gguf::Raw::string("mistral-v7"),
    );
    let path = dir.path().join("mistral.gguf");
    g.write(&path);
    let resolved = models::resolve(
        path.to_str().unwrap(),
        &syllabus::cli::model_places::local_only(),
    )
    .unwrap();
    let mistral =
        LoadedModel::load(resolved, &syllabus::engine::llama::offload::Offload::cpu()).unwrap();
    let mut engine = LlamaEngine::new(&mistral, options(32_768, SAMPLING), Clock::new());
    let (request, _) = common::jazz_outline(2);
    let calls = Calls::new(&request, 5);
    let (outs, _) = engine
        .run(&[calls.outline(1)], Strategy::Parallel, &NoProgress)
        .unwrap();
    let why = engine
        .continues(&calls.conversation(&outs[0].text))
        .unwrap_err();
    assert!(
        matches!(why, syllabus::engine::PromptError::Rerendered { .. }),
        "{why}"
    );
    assert!(why.to_string().contains("does not render an earlier reply"));
    // The reference model's ChatML keeps replies as they are.
    let mut chatml = LlamaEngine::new(model(), options(32_768, SAMPLING), Clock::new());
    let (outs, _) = chatml
        .run(&[calls.outline(1)], Strategy::Parallel, &NoProgress)
        .unwrap();
    assert!(chatml.continues(&calls.conversation(&outs[0].text)).is_ok());
    // A reply the engine did not write cannot be continued token for token.
    assert!(chatml.continues(&calls.conversation("{}")).is_err());
}

#[test]
fn a_group_takes_the_start_another_group_holds_instead_of_computing_it() {
    let _one = serial();
    let call = ChatCall {
        group: 0,
        ..item_calls(1)[0].clone()
    };
    let mut engine = LlamaEngine::new(model(), options(8192, GREEDY), Clock::new());
    engine.reserve(&call, 0, 1, 2).unwrap();
    // The same prompt comes twice, the second time in another group (as two requests of
    // `serve` that begin alike do), one after the other in one open run.
    let mut queue = vec![
        vec![call.clone()],
        vec![ChatCall {
            group: 1,
            ..call.clone()
        }],
    ]
    .into_iter();
    let mut more = |ask: syllabus::engine::Ask<'_>| {
        if ask.idle {
            queue.next().unwrap_or_default()
        } else {
            Vec::new()
        }
    };
    let (outs, stats) = engine
        .run_open(
            &[],
            Strategy::Parallel,
            &NoProgress,
            &mut |_, _| None,
            &mut more,
        )
        .unwrap();
    let prompt = prompts(std::slice::from_ref(&call))[0].len();
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0].record.cached_tokens, 0);
    assert_eq!(stats.borrowed_prefix_tokens, prompt - 1, "{stats:?}");
    assert_eq!(outs[1].record.cached_tokens, prompt - 1);
    // The shared cells hold what computing them would: greedy decoding writes the same.
    assert_eq!(outs[1].text, outs[0].text);
    assert_json_replies(&outs);
}
