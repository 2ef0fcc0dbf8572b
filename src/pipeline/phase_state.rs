//! What the phases of one run share, and the review marks they record.

use crate::course::content::Checker;
use crate::course::reply::salvage::Flaw;
use crate::course::Review;
use crate::engine::measures::CallRecord;
use crate::engine::{Progress, Strategy};

/// `SYLLABUS_PROMPT_LAYOUT=separate` makes module prompts stand alone (a measurement switch;
/// read by the plan into `RunSettings::separate_prompts`).
pub const PROMPT_LAYOUT_VAR: &str = "SYLLABUS_PROMPT_LAYOUT";

/// How one run goes: module scheduling, its seed, and whether a call that no attempt gets
/// right ends the run (`strict`) or keeps its best try marked for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// Module scheduling strategy.
    pub strategy: Strategy,
    /// Run seed.
    pub seed: u32,
    /// Fail instead of keeping a flawed reply.
    pub strict: bool,
    /// Tries per call before its best is kept (or, strict, the run fails).
    pub attempts: u32,
    /// Module prompts stand alone even where they could continue the outline's.
    pub separate_prompts: bool,
}

/// What the phases of one run share: how calls run and replies are checked, and what the
/// run has recorded so far.
pub(crate) struct PhaseState<'a> {
    pub(super) strategy: Strategy,
    pub(super) progress: &'a dyn Progress,
    pub(super) checker: &'a Checker,
    pub(super) strict: bool,
    pub(super) attempts: u32,
    pub(super) separate_prompts: bool,
    pub(super) calls: Vec<CallRecord>,
    pub(super) review: Vec<Review>,
}

impl<'a> PhaseState<'a> {
    /// A run's shared state before its first call.
    pub(super) fn new(
        settings: RunSettings,
        progress: &'a dyn Progress,
        checker: &'a Checker,
    ) -> Self {
        Self {
            strategy: settings.strategy,
            progress,
            checker,
            strict: settings.strict,
            attempts: settings.attempts.max(1),
            separate_prompts: settings.separate_prompts,
            calls: Vec::new(),
            review: Vec::new(),
        }
    }

    /// The attempt numbers of outline round `round` (1-based): each round its own seeds.
    pub(super) fn attempt_numbers(&self, round: u32) -> std::ops::Range<u32> {
        let first = 1 + (round - 1) * self.attempts;
        first..first + self.attempts
    }

    /// Records `flaws` for review: course-level ones (`module` `None`), a module's own, and
    /// those of an outline entry ("modules[2].title" becomes module 3's "title").
    pub(super) fn flag(&mut self, module: Option<usize>, flaws: &[Flaw]) {
        for f in flaws {
            let (module, field) = match f.field.strip_prefix("modules[") {
                Some(rest) => match rest.split_once("].") {
                    Some((i, field)) => (i.parse::<usize>().ok(), field.to_string()),
                    None => (module, f.field.clone()),
                },
                None => (module, f.field.clone()),
            };
            self.review.push(Review {
                module: module.map(|i| i + 1),
                field,
                reason: f.reason.clone(),
            });
        }
    }
}
