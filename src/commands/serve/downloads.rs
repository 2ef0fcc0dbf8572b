//! A finished course's files, rendered off the request threads (a PDF with CJK fonts takes
//! seconds of CPU) a few at a time, and kept per course and format so a second download
//! costs nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::Semaphore;

use super::jobs::Finished;
use crate::render::{self, Format};

/// Files rendered at once; more wait their turn.
const AT_ONCE: usize = 2;
/// Rendered bytes kept, in all.
const KEPT_BYTES: usize = 64 * 1024 * 1024;

/// A rendered file: which course, in which format.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    course: u64,
    format: Format,
}

/// Rendered files: a few made at once, the latest kept.
pub struct Downloads {
    turns: Semaphore,
    kept: Mutex<VecDeque<(Key, Bytes)>>,
}

impl Default for Downloads {
    fn default() -> Self {
        Downloads {
            turns: Semaphore::new(AT_ONCE),
            kept: Mutex::new(VecDeque::new()),
        }
    }
}

impl Downloads {
    fn kept(&self, key: Key) -> Option<Bytes> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter().find(|(k, _)| *k == key).map(|(_, b)| b.clone())
    }

    /// Course `done` as `format`, rendered on a blocking thread when not kept already.
    pub async fn file(&self, done: Arc<Finished>, format: Format) -> anyhow::Result<Bytes> {
        let key = Key {
            course: done.id,
            format,
        };
        if let Some(bytes) = self.kept(key) {
            return Ok(bytes);
        }
        let _turn = self.turns.acquire().await?;
        // Rendered by another request while this one waited.
        if let Some(bytes) = self.kept(key) {
            return Ok(bytes);
        }
        let bytes = tokio::task::spawn_blocking(move || render::render(&done.syllabus, format))
            .await
            .map_err(|e| anyhow::anyhow!("rendering stopped: {e}"))??;
        let bytes = Bytes::from(bytes);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.push_back((key, bytes.clone()));
        let mut total: usize = kept.iter().map(|(_, b)| b.len()).sum();
        while total > KEPT_BYTES && kept.len() > 1 {
            if let Some((_, b)) = kept.pop_front() {
                total -= b.len();
            }
        }
        Ok(bytes)
    }
}
