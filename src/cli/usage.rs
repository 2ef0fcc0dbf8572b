//! What makes a command line unusable, and the limits it is checked against.

use std::fmt::Display;

/// Most modules a syllabus may have.
pub const MAX_MODULES: usize = 24;
/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 300;
/// A command-line value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `value` if within `lo..=hi`, else an error naming `flag`.
pub fn within<T: PartialOrd + Display>(
    flag: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<T, UsageError> {
    if value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(UsageError(format!(
            "{flag} must be between {lo} and {hi}, not {value}"
        )))
    }
}

/// `value` if above 0 and at most `hi` (and a number), else an error naming `flag`.
pub fn positive(flag: &str, value: f64, hi: f64) -> Result<f64, UsageError> {
    if value > 0.0 && value <= hi {
        Ok(value)
    } else {
        Err(UsageError(format!(
            "{flag} must be above 0 and at most {hi}, not {value}"
        )))
    }
}
