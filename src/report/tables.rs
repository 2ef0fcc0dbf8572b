//! Run records for people: call labels and the table printed after a run.
//!
//! The records themselves (`timing`) hold numbers only; how they read is decided here.

use super::timing::RunRecord;
use crate::engine::measures::{call_label, BatchStats};

/// A compact table for people: phases, then calls, slowest call marked.
pub fn run_table(record: &RunRecord) -> String {
    let p = &record.phases;
    let mut out = format!(
        "{} on {} ({}), strategy {}: {:.2} s, peak memory {}\n  load {:.2} s | outline {:.2} s | modules {:.2} s | finalize {:.2} s\n",
        record.backend,
        record.model.name,
        record.model.quantization.as_deref().unwrap_or("?"),
        record.strategy,
        record.wall_ms / 1000.0,
        record.peak_rss_bytes
            .map_or_else(|| "unknown".to_string(), |b| format!("{} MB", b / 1_000_000)),
        p.load_ms / 1000.0,
        p.outline_ms / 1000.0,
        p.modules_ms / 1000.0,
        p.finalize_ms / 1000.0,
    );
    if let Some(d) = &record.device {
        out += &format!("  device: {}\n", d.describe());
    }
    let t = &record.prompt_tokens;
    out += &format!(
        "  prompt tokens: outline {}, module prefix {} shared + up to {} each\n",
        t.outline, t.module_shared_prefix, t.module_suffix_max
    );
    for b in &record.module_batches {
        out += &batch_line(b);
    }
    out += "  call        try  prompt  cached  gen   ttft s  total s  tok/s  finish\n";
    let slowest = record
        .calls
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_ms.total_cmp(&b.1.total_ms))
        .map(|(i, _)| i);
    for (i, c) in record.calls.iter().enumerate() {
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
    if let Some(line) = daemon_line(record) {
        out += &line;
    }
    out
}

/// One module batch: prompt layout, shared prefix, parallelism, decode share, forced tokens.
fn batch_line(b: &BatchStats) -> String {
    let layout = b
        .prompt_layout
        .as_deref()
        .map(|l| format!("  prompts: {l}\n"))
        .unwrap_or_default();
    let kept = if b.reused_prefix_tokens > 0 {
        format!(
            " ({} already in the cache, {} computed)",
            b.reused_prefix_tokens, b.computed_prefix_tokens
        )
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
    let drafted = if b.drafted_tokens > 0 {
        format!(
            ", {} of {} drafted tokens taken",
            b.accepted_draft_tokens, b.drafted_tokens
        )
    } else {
        String::new()
    };
    let decode = if b.wall_ms > 0.0 {
        100.0 * b.decode_ms / b.wall_ms
    } else {
        0.0
    };
    format!(
        "{layout}  shared prefix {} tokens{kept}, up to {} calls at once, decode {decode:.0}% of the batch{forced}{drafted}\n",
        b.shared_prefix_tokens, b.max_parallel,
    )
}

/// Client against server time, for backends that report server figures.
fn daemon_line(record: &RunRecord) -> Option<String> {
    let reported: Vec<(f64, f64)> = record
        .calls
        .iter()
        .filter_map(|c| Some((c.total_ms, c.server.as_ref()?.total_ms?)))
        .collect();
    if reported.is_empty() {
        return None;
    }
    let client: f64 = reported.iter().map(|r| r.0).sum();
    let server: f64 = reported.iter().map(|r| r.1).sum();
    Some(format!(
        "  daemon: {} calls, client {:.2} s, server {:.2} s, overhead {:.2} s\n",
        reported.len(),
        client / 1000.0,
        server / 1000.0,
        (client - server) / 1000.0
    ))
}

/// One line on the parts a run kept though they failed their checks, if any.
pub fn review_line(s: &crate::course::Syllabus) -> Option<String> {
    let first = s.review.first()?;
    let place = match first.module {
        Some(n) => format!("module {n} {}", first.field),
        None => first.field.clone(),
    };
    let more = match s.review.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "needs review: {place} ({}){more}; marked in the output; `syllabus regenerate --module N` writes a module again",
        first.reason
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::measures::{
        CallMarks, CallRecord, CallTokens, EngineInfo, Finish, Phase, ServerTiming,
    };
    use crate::report::timing::Phases;

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
            chat_template: None,
            threads: 2,
            device: None,
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
            phases,
            vec![],
            vec![call(0, 4000.0), call(1, 5000.0)],
        );
        let table = run_table(&record);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("llama on tiny (Q4_0), strategy parallel: 7.31 s"),
            "{table}"
        );
        assert!(
            lines[1].contains("load 0.30 s | outline 2.00 s | modules 5.00 s | finalize 0.01 s")
        );
        assert_eq!(
            lines[2],
            "  prompt tokens: outline 0, module prefix 0 shared + up to 600 each"
        );
        assert!(lines[3].contains("call") && lines[3].contains("tok/s"));
        assert!(lines[4].starts_with("  module 1") && !lines[4].contains("slowest"));
        assert!(
            lines[5].starts_with("  module 2") && lines[5].ends_with("<- slowest"),
            "{table}"
        );
        assert_eq!(lines.len(), 6, "no daemon line without server figures");
        let mut with_server = record.clone();
        with_server.calls[1].server = Some(ServerTiming {
            total_ms: Some(4500.0),
            ..ServerTiming::default()
        });
        let table = run_table(&with_server);
        assert!(
            table.ends_with("  daemon: 1 calls, client 5.00 s, server 4.50 s, overhead 0.50 s\n"),
            "{table}"
        );
    }
}
