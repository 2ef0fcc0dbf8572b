//! The `syllabus` binary: parse the command line, run, print errors once.

use std::process::ExitCode;

use clap::Parser;
use syllabus::cli::{Cli, Command, CpuCommand, ModelsCommand, UsageError};
use syllabus::commands;

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        // Our own checks cover llama.cpp's sizing warnings (with a unified cache it warns
        // that the whole cache exceeds the training context, though no sequence does).
        (false, 0) => "warn,llama_cpp_2=error,llama-cpp-2=error",
        // llama.cpp's own info lines (model dump, context set-up) only at -vv.
        (false, 1) => "info,llama_cpp_2=warn,llama-cpp-2=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| syllabus::launch::stderr::Stderr)
        // Its own complaint about a failed write would go to the same closed stderr.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.version {
        return syllabus::launch::output::write_stdout(commands::cpu::version()?.as_bytes());
    }
    let Some(command) = cli.command else {
        return Err(UsageError(
            "say what to do: generate, regenerate, render, batch, serve, bench, models or pack (see --help)".into(),
        )
        .into());
    };
    match command {
        Command::Generate(args) => {
            init_logging(cli.verbose, args.run.quiet);
            let plan = args.plan()?;
            syllabus::launch::hint::faster_build(plan.run.quiet);
            commands::generate::generate(&plan)
        }
        Command::Regenerate(args) => {
            init_logging(cli.verbose, args.run.quiet);
            let plan = args.plan()?;
            commands::regenerate::regenerate(&plan)
        }
        Command::Pack {
            model,
            output,
            offline,
        } => {
            init_logging(cli.verbose, false);
            let models = syllabus::cli::model_places::resolve_options(offline, true);
            commands::pack::run(&model, &models, &output, syllabus::cli::probe_wanted())
        }
        Command::ProbeModel { path, gpu, room } => {
            init_logging(0, true);
            syllabus::run::probe::child(&path, &gpu.plan(room)?)
        }
        Command::GpuProbe => syllabus::launch::devices::child(),
        Command::Render(args) => {
            init_logging(cli.verbose, false);
            commands::render::render(&args.plan()?)
        }
        Command::Batch(args) => {
            init_logging(cli.verbose, args.run.quiet);
            commands::batch::run(&args.plan()?)
        }
        Command::Cpu(cmd) => {
            init_logging(cli.verbose, false);
            match cmd {
                CpuCommand::Info => commands::cpu::info(),
                CpuCommand::Embed {
                    variant,
                    name,
                    output,
                } => commands::cpu::embed(&variant, &name, &output),
            }
        }
        Command::Serve(args) => {
            init_logging(cli.verbose, args.run.quiet);
            commands::serve::run(&args.plan()?)
        }
        Command::Bench(args) => {
            init_logging(cli.verbose, false);
            commands::bench::run(&args.plan()?)
        }
        Command::Models(cmd) => {
            let quiet = matches!(cmd, ModelsCommand::Pull { quiet: true, .. });
            init_logging(cli.verbose, quiet);
            let text = match cmd {
                ModelsCommand::List { json } => commands::models::list(json)?,
                ModelsCommand::Pull { model, quiet } => commands::models::pull(&model, quiet)?,
                ModelsCommand::Info { model, json } => commands::models::info(&model, json)?,
            };
            syllabus::launch::output::write_stdout(text.as_bytes())
        }
    }
}

fn main() -> ExitCode {
    // Before anything else: this process may become the build for this CPU.
    if let Err(err) = syllabus::launch::cpu_variant::choose() {
        syllabus::launch::stderr::say(&format!("syllabus: {err:#}"));
        syllabus::launch::stderr::flush(std::time::Duration::from_secs(2));
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    if let Err(e) = syllabus::launch::interrupt::install() {
        syllabus::launch::stderr::say(&format!("syllabus: cannot watch for Ctrl-C: {e}"));
    }
    let result = run(cli);
    syllabus::launch::supervise::finished();
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            syllabus::launch::stderr::say(&format!("syllabus: {err:#}"));
            if err.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    };
    // A stderr that nobody reads must not keep a finished run from exiting.
    syllabus::launch::stderr::flush(std::time::Duration::from_secs(2));
    code
}
