//! One course run on an engine, or on a seat at an engine many courses share: the
//! pipeline, the syllabus with how it was made (provenance), and the run's timing record.
//! `generate`, `bench`, `batch` and `serve` all write their courses through here.

use super::session::Session;
use crate::cli::{CoursePlan, RunPlan};
use crate::course::{ModelId, Provenance, Syllabus, PROVENANCE_FORMAT};
use crate::engine::measures::{CallRecord, Clock};
use crate::engine::{BatchStats, Engine, EngineInfo, Progress};
use crate::pipeline;
use crate::report::timing::{Phases, RunRecord};

/// Writes courses with one run plan on one session's model.
#[derive(Debug, Clone)]
pub struct Runner {
    run: RunPlan,
    /// The session's model as syllabi record it; `None` when they record no provenance
    /// (a bench run, a syllabus written in another format than JSON).
    model: Option<ModelId>,
}

/// A course's clock: the run's, started `load_ms` before the course began (the model
/// loaded for this course alone), or at the course's own start.
#[derive(Debug, Clone, Copy)]
pub struct CourseClock {
    /// The clock the engine times calls on.
    pub clock: Clock,
    /// When the course began on it, milliseconds.
    pub at_ms: f64,
    /// Loading the model for this course, counted in its wall time.
    pub load_ms: f64,
}

impl CourseClock {
    /// A course that begins now on `clock`, after `load_ms` of loading for it alone.
    pub fn now(clock: Clock, load_ms: f64) -> Self {
        Self {
            clock,
            at_ms: clock.now_ms(),
            load_ms,
        }
    }

    fn elapsed_ms(&self) -> f64 {
        self.clock.now_ms() - self.at_ms + self.load_ms
    }
}

/// A written course before its files: the syllabus (with provenance), and what its
/// record needs once the caller has rendered and written it.
pub struct WrittenCourse {
    /// The syllabus, provenance included.
    pub syllabus: Syllabus,
    start: CourseClock,
    engine: EngineInfo,
    strategy: &'static str,
    language: crate::course::language::LanguageChoice,
    outline_ms: f64,
    modules_ms: f64,
    module_batches: Vec<BatchStats>,
    calls: Vec<CallRecord>,
}

impl Runner {
    /// A runner for `run` on `session`'s model whose syllabi record how they were made
    /// (the model file is hashed here, once).
    pub fn new(session: &Session, run: &RunPlan) -> anyhow::Result<Self> {
        Ok(Self {
            run: run.clone(),
            model: Some(session.model_id()?),
        })
    }

    /// The model as syllabi record it, when they do.
    pub fn model(&self) -> Option<&ModelId> {
        self.model.as_ref()
    }

    /// A runner whose syllabi record no provenance: the model file is never hashed.
    pub fn without_provenance(run: &RunPlan) -> Self {
        Self {
            run: run.clone(),
            model: None,
        }
    }

    /// The run plan.
    pub fn run(&self) -> &RunPlan {
        &self.run
    }

    /// The same runner with another module strategy (a bench row).
    pub fn with_strategy(&self, strategy: crate::engine::Strategy) -> Self {
        let mut runner = self.clone();
        runner.run.strategy = strategy;
        runner
    }

    /// Writes `course` with `seed` on `engine`.
    pub fn write(
        &self,
        engine: &mut dyn Engine,
        course: &CoursePlan,
        seed: u32,
        start: CourseClock,
        progress: &dyn Progress,
    ) -> anyhow::Result<WrittenCourse> {
        let settings = self.run.settings(seed);
        let out = pipeline::run(engine, &course.request, settings, &start.clock, progress)?;
        let mut syllabus = out.syllabus;
        syllabus.provenance = self.provenance(course, seed);
        Ok(WrittenCourse {
            syllabus,
            start,
            engine: engine.info(),
            strategy: self.run.strategy.name(),
            language: course.language.clone(),
            outline_ms: out.outline_ms,
            modules_ms: out.modules_ms,
            module_batches: out.module_batches,
            calls: out.calls,
        })
    }
}

impl Runner {
    /// What a syllabus of `course` written with `seed` records of how it was made
    /// (`regenerate` reads it; `batch` resumes by it), when this runner records it.
    pub fn provenance(&self, course: &CoursePlan, seed: u32) -> Option<Provenance> {
        Some(Provenance {
            format: PROVENANCE_FORMAT,
            program: format!("syllabus {}", env!("CARGO_PKG_VERSION")),
            request: course.request.clone(),
            backend: self.run.backend.name().to_string(),
            model: self.model.clone()?,
            seed,
            strategy: self.run.strategy.name().to_string(),
            files: Default::default(),
        })
    }
}

impl WrittenCourse {
    /// The syllabus and its record, the wall time ending now (rendering and writing its
    /// files count as its last phase).
    pub fn finish(self) -> (Syllabus, RunRecord) {
        let wall_ms = self.start.elapsed_ms();
        let phases = Phases {
            load_ms: self.start.load_ms,
            outline_ms: self.outline_ms,
            modules_ms: self.modules_ms,
            finalize_ms: (wall_ms - self.start.load_ms - self.outline_ms - self.modules_ms)
                .max(0.0),
        };
        let mut record = RunRecord::new(
            self.engine,
            self.strategy,
            self.syllabus.modules.len(),
            phases,
            self.module_batches,
            self.calls,
        );
        record.language = Some(self.language);
        record.review = self.syllabus.review.len();
        (self.syllabus, record)
    }
}
