//! The `syllabus` binary: parse the command line, run, print errors once.

use std::process::ExitCode;

use clap::Parser;
use syllabus::cli::{Cli, Command, CpuCommand, ModelsCommand, UsageError};
use syllabus::models_command as commands;

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
        .with_writer(|| syllabus::stderr::Stderr)
        // Its own complaint about a failed write would go to the same closed stderr.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

fn version() -> anyhow::Result<String> {
    let mut text = format!("syllabus {}\n", env!("CARGO_PKG_VERSION"));
    text += &syllabus::cpu::describe();
    text += &syllabus::gpu::describe(false);
    if let Some(e) = syllabus::pack::embedded()? {
        text += &format!(
            "packed model: {} ({} bytes, sha256 {})\n",
            e.name, e.length, e.sha256
        );
    }
    Ok(text)
}

fn cpu_command(cmd: CpuCommand) -> anyhow::Result<()> {
    match cmd {
        CpuCommand::Info => {
            let text = syllabus::cpu::describe() + &syllabus::gpu::describe(true);
            syllabus::output::write_stdout(text.as_bytes())
        }
        CpuCommand::Embed {
            variant,
            name,
            output,
        } => {
            let e = syllabus::cpu::embed(&variant, &name, &output)?;
            syllabus::stderr::say(&format!(
                "wrote {}: {} ({} bytes, sha256 {}) inside",
                output.display(),
                e.name,
                e.length,
                e.sha256
            ));
            Ok(())
        }
    }
}

fn pack_command(model: &str, output: &std::path::Path, offline: bool) -> anyhow::Result<()> {
    let opts = syllabus::models::ResolveOptions::new(offline, true);
    let resolved = syllabus::models::resolve(model, opts)?;
    // A packed model is trusted where it runs: it is probed here, once, on the CPU.
    syllabus::probe::vet(&resolved, &syllabus::gpu::offload::Offload::cpu())?;
    let packed = syllabus::pack::pack(&resolved, output)?;
    let total = std::fs::metadata(output)?.len();
    syllabus::stderr::say(&format!(
        "wrote {}: {} ({} bytes, sha256 {}) inside; {} bytes in all, {} of them the program",
        output.display(),
        packed.name,
        packed.length,
        packed.sha256,
        total,
        total - packed.length
    ));
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.version {
        return syllabus::output::write_stdout(version()?.as_bytes());
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
            syllabus::hint::faster_build(plan.run.quiet);
            syllabus::generate::generate(&plan)
        }
        Command::Regenerate(args) => {
            init_logging(cli.verbose, args.run.quiet);
            let plan = args.plan()?;
            syllabus::regenerate::regenerate(&plan)
        }
        Command::Pack {
            model,
            output,
            offline,
        } => {
            init_logging(cli.verbose, false);
            pack_command(&model, &output, offline)
        }
        Command::ProbeModel { path, gpu, room } => {
            init_logging(0, true);
            syllabus::probe::child(&path, &gpu.plan(room)?)
        }
        Command::GpuProbe => syllabus::gpu::devices::child(),
        Command::Render(args) => {
            init_logging(cli.verbose, false);
            syllabus::render_command::render(&args.plan()?)
        }
        Command::Batch(args) => {
            init_logging(cli.verbose, args.run.quiet);
            syllabus::batch::run(&args.plan()?)
        }
        Command::Cpu(cmd) => {
            init_logging(cli.verbose, false);
            cpu_command(cmd)
        }
        Command::Serve(args) => {
            init_logging(cli.verbose, args.run.quiet);
            syllabus::serve::run(&args.plan()?)
        }
        Command::Bench(args) => {
            init_logging(cli.verbose, false);
            syllabus::bench::run(&args.plan()?)
        }
        Command::Models(cmd) => {
            let quiet = matches!(cmd, ModelsCommand::Pull { quiet: true, .. });
            init_logging(cli.verbose, quiet);
            let text = match cmd {
                ModelsCommand::List { json } => commands::list(json)?,
                ModelsCommand::Pull { model, quiet } => commands::pull(&model, quiet)?,
                ModelsCommand::Info { model, json } => commands::info(&model, json)?,
            };
            syllabus::output::write_stdout(text.as_bytes())
        }
    }
}

fn main() -> ExitCode {
    // Before anything else: this process may become the build for this CPU.
    if let Err(err) = syllabus::cpu::choose() {
        syllabus::stderr::say(&format!("syllabus: {err:#}"));
        syllabus::stderr::flush(std::time::Duration::from_secs(2));
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    if let Err(e) = syllabus::interrupt::install() {
        syllabus::stderr::say(&format!("syllabus: cannot watch for Ctrl-C: {e}"));
    }
    let result = run(cli);
    syllabus::gpu::supervise::finished();
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            syllabus::stderr::say(&format!("syllabus: {err:#}"));
            if err.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    };
    // A stderr that nobody reads must not keep a finished run from exiting.
    syllabus::stderr::flush(std::time::Duration::from_secs(2));
    code
}
