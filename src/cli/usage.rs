//! What makes a command line unusable, and the limits it is checked against.

/// Most modules a syllabus may have.
pub const MAX_MODULES: usize = 24;
/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 300;
/// A command-line value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
