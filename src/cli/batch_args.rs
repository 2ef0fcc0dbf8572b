//! `syllabus batch`: its flags, and the course file checked row by row into the plans of
//! the runs, with generate's own rules (a bad row is refused before any model work).

use std::path::PathBuf;

use super::args::BatchArgs;
use super::course_file::{self, RowPlace};
use super::fields::{CoursePlan, Naming};
use super::plan::{Fallback, RunPlan};
use super::usage::{within, UsageError, MAX_MODULES};
use crate::render::Format;

/// Courses written at once when `--courses-at-once` is not given.
const DEFAULT_AT_ONCE: usize = 6;

/// One course of a batch, checked.
#[derive(Debug, Clone)]
pub struct BatchCourse {
    /// Where it is in the file.
    pub place: RowPlace,
    /// File name without extension, unique in the batch.
    pub name: String,
    /// Names it had or would have with other rows (its topic's slug, and the slug told
    /// apart by its request): files of this course found under them are its own.
    pub other_names: Vec<String>,
    /// The course, checked with generate's rules.
    pub course: CoursePlan,
}

/// Checked settings of a batch.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// How the model runs, for every course.
    pub run: RunPlan,
    /// The course file.
    pub file: PathBuf,
    /// Every course, in file order.
    pub courses: Vec<BatchCourse>,
    /// Output folder.
    pub out_dir: PathBuf,
    /// A format written beside the JSON (`None`: JSON only).
    pub also: Option<Format>,
    /// Redo courses already written.
    pub force: bool,
    /// Courses in progress at once.
    pub at_once: usize,
}

impl BatchArgs {
    /// Reads the course file and checks every row and flag once.
    pub fn plan(&self) -> anyhow::Result<BatchPlan> {
        if self.run.timings.is_some() {
            return Err(UsageError(
                "--timings has no use in a batch: every run's record goes into summary.json in --out-dir".into(),
            )
            .into());
        }
        let at_once = within(
            "--courses-at-once",
            self.courses_at_once.unwrap_or(DEFAULT_AT_ONCE),
            1,
            64,
        )?;
        let run = self.run.plan(Fallback::NEW)?;
        let rows = course_file::read(&self.courses)?;
        let mut checked = Vec::with_capacity(rows.len());
        for (place, row) in rows {
            let course = row
                .check(Naming::Fields, MAX_MODULES)
                .map_err(|e| UsageError(format!("{}: {}", place.label, e.0)))?;
            let key = serde_json::to_string(&course.request).unwrap_or_default();
            checked.push((place, course, key));
        }
        let names = course_file::names(
            checked
                .iter()
                .map(|(_, c, key)| (c.request.topic.as_str(), key.as_str())),
        );
        let courses = checked
            .into_iter()
            .zip(names)
            .map(|((place, course, key), name)| {
                let plain = course_file::slug(&course.request.topic);
                let other_names = [course_file::keyed(&plain, &key), plain]
                    .into_iter()
                    .filter(|n| *n != name && n != course_file::SUMMARY_NAME)
                    .collect();
                BatchCourse {
                    place,
                    name,
                    other_names,
                    course,
                }
            })
            .collect();
        Ok(BatchPlan {
            run,
            file: self.courses.clone(),
            courses,
            out_dir: self.out_dir.clone(),
            also: self.format.filter(|&f| f != Format::Json),
            force: self.force,
            at_once,
        })
    }
}
