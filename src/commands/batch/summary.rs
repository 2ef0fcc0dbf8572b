//! `summary.json` of a batch: every course with its status, files and run record.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::{BatchCourse, BatchPlan};
use crate::engine::measures::{BatchStats, EngineInfo};
use crate::report::timing::RunRecord;

/// Version of the summary's shape.
const SUMMARY_FORMAT: u32 = 1;

/// What became of a course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written by this run.
    Written,
    /// Already there and valid: left as it was.
    Skipped,
    /// Already there; its other file made again from its JSON, without the model.
    Rebuilt,
    /// Not written; `error` says why.
    Failed,
}

/// One course in the summary.
#[derive(Debug, Serialize)]
pub struct CourseSummary {
    /// 1-based row in the course file.
    pub row: usize,
    /// The topic as checked.
    pub topic: String,
    /// What became of it.
    pub status: Status,
    /// Its files.
    pub outputs: Vec<PathBuf>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was noticed and left alone (a teacher's edit kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Its run record (written courses); times are on the batch's shared batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<RunRecord>,
}

impl CourseSummary {
    /// A course not run yet (failed until it succeeds).
    pub fn new(course: &BatchCourse, outputs: &[PathBuf]) -> Self {
        Self {
            row: course.place.row,
            topic: course.course.request.topic.clone(),
            status: Status::Failed,
            outputs: outputs.to_vec(),
            error: None,
            note: None,
            record: None,
        }
    }

    /// Takes a course's outcome: its record, its error, or none when its thread ended
    /// without one.
    pub fn settle(&mut self, outcome: Option<Result<RunRecord, String>>) {
        match outcome {
            Some(Ok(record)) => {
                self.status = Status::Written;
                self.record = Some(record);
            }
            Some(Err(e)) => {
                self.status = Status::Failed;
                self.error = Some(e);
            }
            None => {
                self.status = Status::Failed;
                self.error = Some("the course's thread stopped without a result".into());
            }
        }
    }
}

/// The whole batch.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `SUMMARY_FORMAT`.
    pub format: u32,
    /// The program that wrote it.
    pub program: String,
    /// The course file.
    pub courses_file: PathBuf,
    /// Courses in progress at once.
    pub courses_at_once: usize,
    /// Backend and model, when a course ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineInfo>,
    /// Figures of the engine's one open run over every course (in process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_run: Option<BatchStats>,
    /// Loading the model (or connecting), milliseconds from the start.
    pub load_ms: f64,
    /// The whole batch, milliseconds.
    pub wall_ms: f64,
    /// Every course, in file order.
    pub courses: Vec<CourseSummary>,
    /// Courses written this run with parts marked "needs review".
    pub needs_review: usize,
}

impl Summary {
    /// A summary of `plan` before anything ran.
    pub fn new(plan: &BatchPlan) -> Self {
        Self {
            format: SUMMARY_FORMAT,
            program: format!("syllabus {}", env!("CARGO_PKG_VERSION")),
            courses_file: plan.file.clone(),
            courses_at_once: plan.at_once,
            engine: None,
            engine_run: None,
            load_ms: 0.0,
            wall_ms: 0.0,
            courses: Vec::new(),
            needs_review: 0,
        }
    }
}
