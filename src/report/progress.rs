//! Live progress on stderr (indicatif) and the slow-call warning.
//!
//! Bars are drawn only when stderr is a terminal and the run is not quiet: a spinner for
//! the current stage (loading, outline), then one bar per call with tokens generated and
//! tokens per second, all live at once while modules decode together.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::measures::call_label;
use crate::engine::measures::CallRecord;
use crate::engine::{ChatCall, Finish, Phase, Progress};

/// Default for `--slow-call-secs`, as the old pipeline warned.
pub const DEFAULT_SLOW_CALL_SECS: f64 = 30.0;

struct Bars {
    multi: MultiProgress,
    spinner: ProgressBar,
    calls: Mutex<HashMap<(Phase, usize), ProgressBar>>,
}

/// Progress for a run: terminal bars when wanted, and a warning for slow calls always.
pub struct Reporter {
    bars: Option<Bars>,
    slow_ms: f64,
}

impl Reporter {
    /// Bars only if `show` and stderr is a terminal; warns for calls over `slow_secs`.
    pub fn new(show: bool, slow_secs: f64) -> Self {
        let bars = (show && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let spinner = multi.add(ProgressBar::new_spinner());
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"),
            );
            spinner.enable_steady_tick(Duration::from_millis(120));
            Bars {
                multi,
                spinner,
                calls: Mutex::new(HashMap::new()),
            }
        });
        Self {
            bars,
            slow_ms: slow_secs * 1000.0,
        }
    }

    /// Whether bars are drawn.
    pub fn is_drawing(&self) -> bool {
        self.bars.is_some()
    }

    /// Removes every bar, so the report that follows starts on a clean line.
    pub fn finish(&self) {
        if let Some(b) = &self.bars {
            b.spinner.finish_and_clear();
            for bar in b.calls.lock().expect("progress lock").values() {
                bar.finish_and_clear();
            }
            let _ = b.multi.clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Progress for Reporter {
    fn stage(&self, label: &str) {
        if let Some(b) = &self.bars {
            b.spinner.set_message(label.to_string());
        }
    }

    fn call_started(&self, call: &ChatCall) {
        let Some(b) = &self.bars else { return };
        b.spinner.set_message(match call.phase {
            Phase::Outline | Phase::Rename => "writing the outline",
            Phase::Item => "mending repeated items",
            Phase::Module => "writing modules",
            Phase::Chat => "answering",
        });
        let bar = b.multi.add(ProgressBar::new(u64::from(call.max_tokens)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:28}] {pos:>4} tok {per_sec:>12} {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(call_label(call.phase, call.index));
        if call.attempt > 1 {
            bar.set_message(format!("(try {})", call.attempt));
        }
        let old = b
            .calls
            .lock()
            .expect("progress lock")
            .insert((call.phase, call.index), bar);
        if let Some(old) = old {
            old.finish_and_clear();
        }
    }

    fn tokens(&self, phase: Phase, index: usize, tokens: usize) {
        let Some(b) = &self.bars else { return };
        if let Some(bar) = b.calls.lock().expect("progress lock").get(&(phase, index)) {
            bar.set_position(tokens as u64);
        }
    }

    fn call_finished(&self, record: &CallRecord) {
        // Time waiting for a slot is not the call's own: `sequential` queues every module.
        let own_ms = record.total_ms - record.queue_ms;
        if own_ms > self.slow_ms {
            let warn = || {
                tracing::warn!(
                    call = %call_label(record.phase, record.index),
                    seconds = format!("{:.1}", own_ms / 1000.0),
                    limit = self.slow_ms / 1000.0,
                    "slow model call"
                )
            };
            match &self.bars {
                Some(b) => b.multi.suspend(warn),
                None => warn(),
            }
        }
        let Some(b) = &self.bars else { return };
        if let Some(bar) = b
            .calls
            .lock()
            .expect("progress lock")
            .get(&(record.phase, record.index))
        {
            let note = match record.finish {
                Finish::Stop => "done",
                Finish::Length => "out of budget",
                Finish::Error => "failed",
            };
            bar.set_length(record.generated_tokens as u64);
            bar.finish_with_message(format!(
                "{note} in {:.1} s ({:.0} tok/s)",
                record.total_ms / 1000.0,
                record.tokens_per_s
            ));
        }
    }
}
