//! What the phases of one run share, and the review marks they record.

use crate::content::Checker;
use crate::course::Review;
use crate::engine::{Progress, Strategy};
use crate::reply::salvage::Flaw;
use crate::timing::CallRecord;

/// What the phases of one run share: how calls run and replies are checked, and what the
/// run has recorded so far.
pub(crate) struct Ctx<'a> {
    pub(super) strategy: Strategy,
    pub(super) progress: &'a dyn Progress,
    pub(super) checker: &'a Checker,
    pub(super) strict: bool,
    pub(super) calls: Vec<CallRecord>,
    pub(super) review: Vec<Review>,
}

impl Ctx<'_> {
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
