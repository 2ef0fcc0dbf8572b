//! Wall-clock timing: one clock per run, per-call records, the run record and its report.
//!
//! Every time in a record is read from the run's `Clock` as milliseconds since the run
//! started, so phases and calls share one time line and add up.

use std::time::Instant;

use serde::Serialize;

use crate::build_info::BuildInfo;
use crate::engine::{call_label, BatchStats, EngineInfo, Finish, Phase};

/// Milliseconds since the run started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// Milliseconds since the clock started.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
}

/// Timestamps of one call on the run's clock; turned into a `CallRecord` when it ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMarks {
    /// The call was handed to the engine.
    pub submitted: f64,
    /// The call got a slot (a KV sequence or a connection).
    pub admitted: f64,
    /// Its prompt was fully processed.
    pub prompt_done: Option<f64>,
    /// Its first token was generated.
    pub first_token: Option<f64>,
    /// It ended.
    pub done: f64,
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallTokens {
    /// Prompt tokens in all, cached ones included.
    pub prompt: usize,
    /// Prompt tokens reused from a cache, not recomputed.
    pub cached: usize,
    /// Tokens generated.
    pub generated: usize,
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// Timing and token counts of one model call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// Outline or module.
    pub phase: Phase,
    /// Position within the phase.
    pub index: usize,
    /// 1 for the first try, 2 and 3 for regenerations.
    pub attempt: u32,
    /// Prompt tokens in all.
    pub prompt_tokens: usize,
    /// Prompt tokens reused, not recomputed.
    pub cached_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Waiting for a slot.
    pub queue_ms: f64,
    /// From getting a slot to the prompt being processed.
    pub prompt_ms: f64,
    /// From submission to the first generated token.
    pub ttft_ms: f64,
    /// From the first generated token to the end.
    pub gen_ms: f64,
    /// From submission to the end.
    pub total_ms: f64,
    /// Generated tokens per second of generation time.
    pub tokens_per_s: f64,
    /// Why it ended.
    pub finish: Finish,
    /// The daemon's own figures, for backends that report them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerTiming>,
}

/// What a daemon reports about one call (Ollama's fields, durations in ms); a field the
/// server left out stays empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerTiming {
    /// Prompt tokens the server counted (cached prefix tokens included).
    pub prompt_eval_count: Option<u64>,
    /// Time on new prompt tokens only.
    pub prompt_eval_ms: Option<f64>,
    /// Tokens generated.
    pub eval_count: Option<u64>,
    /// Generation time.
    pub eval_ms: Option<f64>,
    /// Model load time within the call.
    pub load_ms: Option<f64>,
    /// The server's whole time for the call.
    pub total_ms: Option<f64>,
    /// Client wall time minus the server's total: transport and daemon overhead.
    pub overhead_ms: Option<f64>,
}

impl CallRecord {
    /// Builds a record from a call's timestamps and token counts.
    pub fn new(
        phase: Phase,
        index: usize,
        attempt: u32,
        marks: CallMarks,
        tokens: CallTokens,
        finish: Finish,
    ) -> Self {
        let prompt_done = marks.prompt_done.unwrap_or(marks.done);
        let first = marks.first_token.unwrap_or(marks.done);
        let gen_ms = marks.done - first;
        // The first token comes with the prompt's logits: generation rate counts the rest.
        let tokens_per_s = if gen_ms > 0.0 && tokens.generated > 1 {
            (tokens.generated - 1) as f64 * 1000.0 / gen_ms
        } else {
            0.0
        };
        Self {
            phase,
            index,
            attempt,
            prompt_tokens: tokens.prompt,
            cached_tokens: tokens.cached,
            generated_tokens: tokens.generated,
            queue_ms: round(marks.admitted - marks.submitted),
            prompt_ms: round(prompt_done - marks.admitted),
            ttft_ms: round(first - marks.submitted),
            gen_ms: round(gen_ms),
            total_ms: round(marks.done - marks.submitted),
            tokens_per_s: round(tokens_per_s),
            finish,
            server: None,
        }
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Wall time of each phase of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Finding and loading the model.
    pub load_ms: f64,
    /// The outline call(s).
    pub outline_ms: f64,
    /// All module calls.
    pub modules_ms: f64,
    /// Assembling, validating and writing the output.
    pub finalize_ms: f64,
}

/// The model a run used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    /// Alias, file name or daemon model name.
    pub name: String,
    /// Local file, when there is one.
    pub path: Option<String>,
    /// File size in bytes, when known.
    pub size_bytes: Option<u64>,
    /// Quantization such as Q4_0, when known.
    pub quantization: Option<String>,
}

/// The timing record of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Version of this record's layout.
    pub schema_version: u32,
    /// "llama" (in process) or "ollama".
    pub backend: String,
    /// The model.
    pub model: ModelRecord,
    /// Module scheduling strategy.
    pub strategy: String,
    /// Generation threads.
    pub threads: usize,
    /// Modules asked for.
    pub modules: usize,
    /// Whole run.
    pub wall_ms: f64,
    /// Time per phase; they add up to `wall_ms`.
    pub phases: Phases,
    /// Peak resident memory of the process, where the platform reports it.
    pub peak_rss_bytes: Option<u64>,
    /// Versions, target and CPU features.
    pub build: BuildInfo,
    /// The module phase's batch figures (shared prefix, parallelism, decode time).
    pub module_batches: Vec<BatchStats>,
    /// Every model call, regenerations included.
    pub calls: Vec<CallRecord>,
}

/// Version of the timing record layout.
pub const TIMING_SCHEMA_VERSION: u32 = 2;

impl RunRecord {
    /// A record of a finished run.
    pub fn new(
        engine: EngineInfo,
        strategy: &str,
        modules: usize,
        wall_ms: f64,
        phases: Phases,
        module_batches: Vec<BatchStats>,
        calls: Vec<CallRecord>,
    ) -> Self {
        Self {
            schema_version: TIMING_SCHEMA_VERSION,
            backend: engine.backend,
            model: ModelRecord {
                name: engine.model,
                path: engine.path,
                size_bytes: engine.size_bytes,
                quantization: engine.quantization,
            },
            strategy: strategy.to_string(),
            threads: engine.threads,
            modules,
            wall_ms,
            phases,
            peak_rss_bytes: peak_rss_bytes(),
            build: crate::build_info::build_info(),
            module_batches,
            calls,
        }
    }

    /// Tokens generated per second of the module phase (0 when it took no time).
    pub fn module_tokens_per_s(&self) -> f64 {
        let tokens: usize = self
            .calls
            .iter()
            .filter(|c| c.phase == Phase::Module)
            .map(|c| c.generated_tokens)
            .sum();
        if self.phases.modules_ms > 0.0 {
            tokens as f64 * 1000.0 / self.phases.modules_ms
        } else {
            0.0
        }
    }

    /// Tokens generated across all calls.
    pub fn generated_tokens(&self) -> usize {
        self.calls.iter().map(|c| c.generated_tokens).sum()
    }

    /// A compact table for people: phases, then calls, slowest call marked.
    pub fn table(&self) -> String {
        let p = &self.phases;
        let mut out = format!(
            "{} on {} ({}), strategy {}: {:.2} s, peak memory {}\n  load {:.2} s | outline {:.2} s | modules {:.2} s | finalize {:.2} s\n",
            self.backend,
            self.model.name,
            self.model.quantization.as_deref().unwrap_or("?"),
            self.strategy,
            self.wall_ms / 1000.0,
            self.peak_rss_bytes
                .map_or_else(|| "unknown".to_string(), |b| format!("{} MB", b / 1_000_000)),
            p.load_ms / 1000.0,
            p.outline_ms / 1000.0,
            p.modules_ms / 1000.0,
            p.finalize_ms / 1000.0,
        );
        for b in &self.module_batches {
            let kept = if b.reused_prefix_tokens > 0 {
                format!(" ({} kept from the batch before)", b.reused_prefix_tokens)
            } else {
                String::new()
            };
            let forced = if b.forced_tokens > 0 {
                format!(
                    ", {} tokens forced by the grammar in {} decodes",
                    b.forced_tokens, b.decode_calls
                )
            } else {
                String::new()
            };
            let decode = if b.wall_ms > 0.0 {
                100.0 * b.decode_ms / b.wall_ms
            } else {
                0.0
            };
            out += &format!(
                "  shared prefix {} tokens{kept}, up to {} calls at once, decode {decode:.0}% of the batch{forced}\n",
                b.shared_prefix_tokens, b.max_parallel,
            );
        }
        out += "  call        try  prompt  cached  gen   ttft s  total s  tok/s  finish\n";
        let slowest = self
            .calls
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_ms.total_cmp(&b.1.total_ms))
            .map(|(i, _)| i);
        for (i, c) in self.calls.iter().enumerate() {
            let name = call_label(c.phase, c.index);
            out += &format!(
                "  {name:<10} {:>4} {:>7} {:>7} {:>4} {:>8.2} {:>8.2} {:>6.1}  {:?}{}\n",
                c.attempt,
                c.prompt_tokens,
                c.cached_tokens,
                c.generated_tokens,
                c.ttft_ms / 1000.0,
                c.total_ms / 1000.0,
                c.tokens_per_s,
                c.finish,
                if Some(i) == slowest {
                    "  <- slowest"
                } else {
                    ""
                },
            );
        }
        let reported: Vec<(f64, f64)> = self
            .calls
            .iter()
            .filter_map(|c| Some((c.total_ms, c.server.as_ref()?.total_ms?)))
            .collect();
        if !reported.is_empty() {
            let client: f64 = reported.iter().map(|r| r.0).sum();
            let server: f64 = reported.iter().map(|r| r.1).sum();
            out += &format!(
                "  daemon: {} calls, client {:.2} s, server {:.2} s, overhead {:.2} s\n",
                reported.len(),
                client / 1000.0,
                server / 1000.0,
                (client - server) / 1000.0
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_derives_durations_from_marks() {
        let marks = CallMarks {
            submitted: 100.0,
            admitted: 150.0,
            prompt_done: Some(400.0),
            first_token: Some(400.0),
            done: 1400.0,
        };
        let tokens = CallTokens {
            prompt: 300,
            cached: 200,
            generated: 101,
        };
        let r = CallRecord::new(Phase::Module, 2, 1, marks, tokens, Finish::Stop);
        assert_eq!(
            (r.queue_ms, r.prompt_ms, r.ttft_ms, r.gen_ms, r.total_ms),
            (50.0, 250.0, 300.0, 1000.0, 1300.0)
        );
        assert_eq!(r.tokens_per_s, 100.0);
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 1_000_000);
        }
    }

    #[test]
    fn failed_call_without_tokens_has_zero_rate() {
        let marks = CallMarks {
            submitted: 0.0,
            admitted: 0.0,
            done: 5.0,
            ..Default::default()
        };
        let r = CallRecord::new(
            Phase::Outline,
            0,
            1,
            marks,
            CallTokens::default(),
            Finish::Error,
        );
        assert_eq!(r.tokens_per_s, 0.0);
        assert_eq!(r.ttft_ms, 5.0);
    }

    #[test]
    fn table_lists_phases_then_calls_and_marks_the_slowest() {
        let call = |index, done: f64| {
            let marks = CallMarks {
                submitted: 0.0,
                admitted: 0.0,
                prompt_done: Some(100.0),
                first_token: Some(100.0),
                done,
            };
            let tokens = CallTokens {
                prompt: 600,
                cached: 550,
                generated: 120,
            };
            CallRecord::new(Phase::Module, index, 1, marks, tokens, Finish::Stop)
        };
        let info = EngineInfo {
            backend: "llama".into(),
            model: "tiny".into(),
            path: None,
            size_bytes: None,
            quantization: Some("Q4_0".into()),
            threads: 2,
        };
        let phases = Phases {
            load_ms: 300.0,
            outline_ms: 2000.0,
            modules_ms: 5000.0,
            finalize_ms: 10.0,
        };
        let record = RunRecord::new(
            info,
            "parallel",
            2,
            7310.0,
            phases,
            vec![],
            vec![call(0, 4000.0), call(1, 5000.0)],
        );
        let table = record.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("llama on tiny (Q4_0), strategy parallel: 7.31 s"),
            "{table}"
        );
        assert!(
            lines[1].contains("load 0.30 s | outline 2.00 s | modules 5.00 s | finalize 0.01 s")
        );
        assert!(lines[2].contains("call") && lines[2].contains("tok/s"));
        assert!(lines[3].starts_with("  module 1") && !lines[3].contains("slowest"));
        assert!(
            lines[4].starts_with("  module 2") && lines[4].ends_with("<- slowest"),
            "{table}"
        );
        assert_eq!(lines.len(), 5, "no daemon line without server figures");
        let mut with_server = record.clone();
        with_server.calls[1].server = Some(ServerTiming {
            total_ms: Some(4500.0),
            ..ServerTiming::default()
        });
        let table = with_server.table();
        assert!(
            table.ends_with("  daemon: 1 calls, client 5.00 s, server 4.50 s, overhead 0.50 s\n"),
            "{table}"
        );
    }
}
