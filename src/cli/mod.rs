//! The command line: clap definitions in `args`, their check into the plans a run trusts in
//! `plan` (raw flags are parsed once, checked once; nothing later re-validates them).

mod args;
mod batch_args;
pub mod course_file;
mod daemon_args;
mod fields;
mod gpu_args;
pub mod model_places;
mod outline_file;
mod plan;
mod regenerate_args;
mod render_args;
mod serve_args;
mod usage;

pub use self::args::{
    BatchArgs, BenchArgs, Cli, Command, CpuCommand, DaemonArgs, GenerateArgs, ModelsCommand,
    OutputArgs, RegenerateArgs, RenderArgs, RunArgs, ServeArgs,
};
pub use self::batch_args::{BatchCourse, BatchPlan};
pub use self::daemon_args::{ApiKey, DaemonPlan};
pub use self::fields::{largest, CourseFields, CoursePlan, Naming, MAX_FIELD_CHARS};
pub use self::gpu_args::GpuArgs;
pub use self::model_places::ModelChoice;
pub use self::plan::{
    output_format, probe_wanted, BenchPlan, CourseCount, GeneratePlan, OutputPlan, RunPlan,
    NO_PROBE_VAR,
};
pub use self::regenerate_args::RegeneratePlan;
pub use self::render_args::{read_syllabus, RenderPlan};
pub use self::serve_args::{CourseBody, ServePlan};
pub use self::usage::{UsageError, MAX_MODULES, MAX_TOPIC_CHARS};

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::engine::{BackendKind, Strategy};
    use crate::render::Format;

    fn args(extra: &[&str]) -> Result<GeneratePlan, UsageError> {
        let mut argv = vec!["syllabus", "generate"];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command.unwrap() {
            Command::Generate(g) => g.plan(),
            _ => unreachable!("generate was parsed"),
        }
    }

    #[test]
    fn bench_lists_parse_and_unknown_backends_are_refused() {
        let bench = |extra: &[&str]| {
            let mut argv = vec!["syllabus", "bench", "Chemistry"];
            argv.extend(extra);
            match Cli::try_parse_from(argv).unwrap().command.unwrap() {
                Command::Bench(b) => b.plan(),
                _ => unreachable!("bench was parsed"),
            }
        };
        let plan = bench(&["--strategies", "prefix,parallel", "--runs", "2"]).unwrap();
        assert_eq!(plan.backends, [BackendKind::Llama]);
        let mut argv = vec!["syllabus", "bench", "X", "--backends", "vllm"];
        assert!(Cli::try_parse_from(std::mem::take(&mut argv)).is_err());
        assert_eq!(plan.strategies, [Strategy::Prefix, Strategy::Parallel]);
        assert_eq!((plan.runs, plan.course.request.modules), (2, 8));
        // Bench runs take --attempts like generate (they ignored it once and ran 5 tries).
        assert_eq!(bench(&["--attempts", "2"]).unwrap().run.attempts, 2);
        for (argv, needle) in [
            (vec!["--parallel", "0"], "--parallel"),
            (vec!["--runs", "0"], "--runs"),
            (vec!["--attempts", "0"], "--attempts"),
            (vec!["--modules", "0"], "--modules"),
        ] {
            let err = bench(&argv).unwrap_err().to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }

    #[test]
    fn defaults_are_a_parallel_markdown_run() {
        let plan = args(&["Marine Biology"]).unwrap();
        assert_eq!(plan.run.strategy, Strategy::Parallel);
        assert_eq!(plan.out.format, Format::Markdown);
        assert_eq!(
            plan.run.model,
            super::model_places::ModelChoice::Named(crate::models::DEFAULT_MODEL.into())
        );
        assert!(plan.run.threads >= 1);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (argv, needle) in [
            (vec!["  "], "topic is empty"),
            (vec!["X", "--modules", "0"], "--modules"),
            (vec!["X", "--modules", "500"], "--modules"),
            (vec!["X", "--weeks", "0"], "--weeks"),
            (vec!["X", "--temperature", "9"], "--temperature"),
            (vec!["X", "--audience", " "], "--audience"),
            (vec!["X", "--threads", "0"], "--threads"),
            (vec!["X", "--ctx", "10"], "--ctx"),
            (vec!["X", "--dry", "-1"], "--dry"),
            (
                vec!["X", "-o", "a.json", "--timings", "./a.json"],
                "both name",
            ),
        ] {
            let err = args(&argv).unwrap_err().to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }

    #[test]
    fn backends_missing_from_the_build_are_refused_with_the_rebuild_command() {
        let refused = args(&["X", "--backend", "ollama"]);
        let flag = args(&["X", "--ollama-url", "http://127.0.0.1:1"]);
        if cfg!(feature = "ollama") {
            assert!(refused.is_ok() && flag.is_ok());
        } else {
            for r in [refused, flag] {
                assert!(r.unwrap_err().to_string().contains("--features ollama"));
            }
        }
    }

    #[test]
    fn unknown_format_is_a_parse_error() {
        assert!(Cli::try_parse_from(["syllabus", "generate", "X", "--format", "rtf"]).is_err());
    }
}
