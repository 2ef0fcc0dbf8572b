//! The `regenerate` command: writes chosen modules of a saved syllabus again, with the
//! original course, outline and model, optionally steered by a note; every other field of
//! the file is written back exactly as it was read.

use anyhow::Context as _;
use serde_json::Value;

use crate::cli::RegeneratePlan;
use crate::course::reply::{ModuleReply, OutlineEntry, OutlineReply};
use crate::course::Review;
use crate::engine::measures::Clock;
use crate::launch::output::Target;
use crate::launch::stderr::say;
use crate::pipeline;
use crate::render::{self, Format};
use crate::report::progress::Reporter;
use crate::report::tables::run_table;
use crate::report::timing::{Phases, RunRecord};
use crate::run::session::Session;

/// The outline a saved syllabus was written from.
fn outline_of(s: &crate::course::Syllabus) -> OutlineReply {
    OutlineReply {
        title: s.title.clone(),
        description: s.description.clone(),
        audience: s.audience.clone(),
        prerequisites: s.prerequisites.clone(),
        learning_outcomes: s.learning_outcomes.clone(),
        modules: s
            .modules
            .iter()
            .map(|m| OutlineEntry {
                title: m.title.clone(),
                focus: m.focus.clone(),
            })
            .collect(),
    }
}

/// `original` with the content of modules `indexes` replaced by `replies`.
fn replaced(original: &Value, indexes: &[usize], replies: &[ModuleReply]) -> anyhow::Result<Value> {
    let mut value = original.clone();
    for (&i, reply) in indexes.iter().zip(replies) {
        let fields = serde_json::to_value(reply).context("module reply")?;
        let module = &mut value["modules"][i];
        for (key, v) in fields.as_object().into_iter().flatten() {
            module[key.as_str()] = v.clone();
        }
    }
    Ok(value)
}

/// The review marks after modules `indexes` (0-based) were written again: theirs are
/// cleared, and replaced by `new` (marks of a module kept again despite its flaws).
fn marks_after(old: &[Review], indexes: &[usize], new: Vec<Review>) -> Vec<Review> {
    let rewritten = |r: &Review| r.module.is_some_and(|m| indexes.contains(&(m - 1)));
    let mut marks: Vec<Review> = old.iter().filter(|r| !rewritten(r)).cloned().collect();
    marks.extend(new);
    marks.sort_by_key(|r| r.module);
    marks
}

/// Writes `review` into a syllabus's JSON `value` (removed when empty), where `Syllabus`
/// puts it: before `provenance`.
fn set_review(value: &mut Value, review: &[Review]) -> anyhow::Result<()> {
    let map = value
        .as_object_mut()
        .context("a syllabus is a JSON object")?;
    let provenance = map.remove("provenance");
    map.remove("review");
    if !review.is_empty() {
        map.insert(
            "review".into(),
            serde_json::to_value(review).context("review")?,
        );
    }
    if let Some(p) = provenance {
        map.insert("provenance".into(), p);
    }
    Ok(())
}

/// `syllabus` with the modules of `rewrite` written again on `engine`, and the record of
/// that run (for `serve`, whose courses are in memory, not in files).
pub fn rewrite(
    engine: &mut dyn crate::engine::Engine,
    syllabus: &crate::course::Syllabus,
    rewrite: pipeline::Rewrite<'_>,
    settings: pipeline::RunSettings,
    progress: &dyn crate::engine::Progress,
) -> anyhow::Result<(crate::course::Syllabus, RunRecord)> {
    let clock = Clock::new();
    let request = &syllabus
        .provenance
        .as_ref()
        .context("this syllabus does not record its request")?
        .request;
    let done = pipeline::rewrite_modules(
        engine,
        request,
        &outline_of(syllabus),
        rewrite,
        settings,
        progress,
    )?;
    let indexes = rewrite.indexes;
    let mut new = syllabus.clone();
    for (&i, reply) in indexes.iter().zip(done.replies) {
        progress.module_ready(i, &new.modules[i].title);
        new.modules[i].content = reply;
    }
    new.review = marks_after(&syllabus.review, indexes, done.review);
    let (calls, stats) = (done.calls, done.stats);
    let wall_ms = clock.now_ms();
    let phases = Phases {
        load_ms: 0.0,
        outline_ms: 0.0,
        modules_ms: wall_ms,
        finalize_ms: 0.0,
    };
    let record = RunRecord::new(
        engine.info(),
        settings.strategy.name(),
        indexes.len(),
        phases,
        vec![stats],
        calls,
    );
    Ok((new, record))
}

/// Runs `syllabus regenerate`.
pub fn regenerate(plan: &RegeneratePlan) -> anyhow::Result<()> {
    let (run, out) = (&plan.run, &plan.out);
    let path = out.output.as_deref().unwrap_or(&plan.file);
    let target = Target::create(path, None)?;
    let timings = Target::optional(out.timings.as_deref())?;
    let clock = Clock::new();
    let reporter = Reporter::new(!run.quiet, run.slow_call_secs);
    let session = Session::open(run, &reporter)?;
    let recorded = plan
        .syllabus
        .provenance
        .as_ref()
        .and_then(|p| p.model.sha256.clone());
    if let (Some(recorded), Some(now)) = (recorded, session.model_id()?.sha256) {
        if recorded != now {
            tracing::warn!("this model file differs from the one that wrote the syllabus (sha256 {now}, not {recorded})");
        }
    }
    let mut engine = session.engine(run, clock, &reporter)?;
    let load_ms = clock.now_ms();
    let outline = outline_of(&plan.syllabus);
    let done = pipeline::rewrite_modules(
        engine.as_mut(),
        &plan.course.request,
        &outline,
        pipeline::Rewrite {
            indexes: &plan.modules,
            note: plan.note.as_deref(),
        },
        run.settings(run.seed),
        &reporter,
    )?;
    let modules_ms = clock.now_ms() - load_ms;
    let review = marks_after(&plan.syllabus.review, &plan.modules, done.review);
    let marked = review.len();
    let mut value = replaced(&plan.original, &plan.modules, &done.replies)?;
    set_review(&mut value, &review)?;
    let (calls, stats) = (done.calls, done.stats);
    let bytes = match out.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&value).context("syllabus")?;
            text.push('\n');
            text.into_bytes()
        }
        other => render::render(&serde_json::from_value(value).context("syllabus")?, other)?,
    };
    let kept = crate::launch::output::keep_previous(path)?;
    target.commit(&bytes)?;
    reporter.finish();
    let wall_ms = clock.now_ms();
    let phases = Phases {
        load_ms,
        outline_ms: 0.0,
        modules_ms,
        finalize_ms: wall_ms - load_ms - modules_ms,
    };
    let mut record = RunRecord::new(
        engine.info(),
        run.strategy.name(),
        plan.modules.len(),
        phases,
        vec![stats],
        calls,
    );
    record.language = Some(plan.course.language.clone());
    record.review = marked;
    if let Some(t) = timings {
        t.commit(
            serde_json::to_string_pretty(&record)
                .context("timing record")?
                .as_bytes(),
        )?;
    }
    if !run.quiet {
        say(run_table(&record).trim_end());
        say_written(path, &plan.modules, kept.as_deref());
    }
    Ok(())
}

/// Where the file went, which modules were written again, where the last version is kept.
fn say_written(path: &std::path::Path, modules: &[usize], kept: Option<&std::path::Path>) {
    let numbers: Vec<String> = modules.iter().map(|i| (i + 1).to_string()).collect();
    say(&format!(
        "wrote {} (module {} written again)",
        path.display(),
        numbers.join(", ")
    ));
    if let Some(kept) = kept {
        say(&format!(
            "the previous version is kept as {}",
            kept.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chosen_modules_change_and_the_rest_is_written_back_exactly() {
        let mut s = crate::render::tests_support::syllabus();
        s.modules.push(s.modules[0].clone());
        s.modules[1].number = 2;
        let text = render::json(&s);
        let original: Value = serde_json::from_str(&text).unwrap();
        let mut new = s.modules[1].content.clone();
        new.summary = "A new summary.".into();
        let value = replaced(&original, &[1], &[new]).unwrap();
        let written = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let (a, b): (Vec<&str>, Vec<&str>) = (text.lines().collect(), written.lines().collect());
        assert_eq!(a.len(), b.len());
        let changed: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(changed.len(), 1, "one line differs: {changed:?}");
        assert!(b[changed[0]].contains("A new summary."));
    }
}
