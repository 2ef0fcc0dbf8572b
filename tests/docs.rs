//! Every command the README and docs/ show exists as written: a concrete command line
//! parses with the program's own argument definitions, and a synopsis (with `[...]`,
//! `<...>` or `a|b`) names only subcommands and flags that exist.

use std::path::Path;

use clap::CommandFactory;
use syllabus::cli::Cli;

/// Program names a documented command line may start with.
const PROGRAMS: [&str; 4] = [
    "syllabus",
    "./classroom",
    "target/syllabus",
    "target/release/syllabus",
];

/// The documented command lines of `text` (indented code), continuation lines joined, with
/// the program name first.
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("    ") {
            continue;
        }
        let mut line = line.trim().to_string();
        if let Some((_, rest)) = line.split_once("cargo run --release -- ") {
            line = format!("syllabus {rest}");
        }
        let Some(program) = PROGRAMS.iter().find(|p| line.starts_with(&format!("{p} "))) else {
            continue;
        };
        line = format!("syllabus{}", &line[program.len()..]);
        // Synopses go on over indented lines; a shell line over a trailing backslash.
        while let Some(next) = lines.peek() {
            let more = line.ends_with('\\')
                || (next.starts_with("      ") && next.trim_start().starts_with('['));
            if !more {
                break;
            }
            line = format!("{} {}", line.trim_end_matches('\\').trim_end(), next.trim());
            lines.next();
        }
        let line = line.split("  #").next().unwrap_or("").trim().to_string();
        let line = line.split(" && ").next().unwrap_or("").to_string();
        found.push(line);
    }
    found
}

fn is_synopsis(line: &str) -> bool {
    line.contains('[') || line.contains('<') || line.contains('|') || line.contains("...")
}

/// The subcommand path of a synopsis and every `--flag` it names, each checked to exist.
fn check_synopsis(line: &str) -> Result<(), String> {
    let mut command = Cli::command();
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let mut rest = words.as_slice();
    while let Some((word, tail)) = rest.split_first() {
        match command.find_subcommand(word) {
            Some(sub) => {
                command = sub.clone();
                rest = tail;
            }
            None => break,
        }
    }
    for word in rest {
        let bare = word.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ','));
        for flag in bare.split('|') {
            let Some(name) = flag.strip_prefix("--") else {
                continue;
            };
            let name = name.split('=').next().unwrap_or(name);
            let known = command.get_arguments().any(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&name))
            }) || name == "help";
            if !known {
                return Err(format!(
                    "`--{name}` is not a flag of `{}`",
                    command.get_name()
                ));
            }
        }
    }
    Ok(())
}

fn check(line: &str) -> Result<(), String> {
    if is_synopsis(line) {
        return check_synopsis(line);
    }
    let words = shlex::split(line).ok_or_else(|| "unbalanced quotes".to_string())?;
    Cli::command()
        .try_get_matches_from(words)
        .map(drop)
        .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())
}

fn documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs.into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(root).unwrap().display().to_string(), text)
        })
        .collect()
}

#[test]
fn every_documented_command_exists_as_written() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (name, text) in documents() {
        for line in commands(&text) {
            checked += 1;
            if let Err(e) = check(&line) {
                wrong.push(format!("{name}: {line}\n    {e}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 25, "only {checked} commands found in the docs");
}

#[test]
fn a_wrong_flag_or_subcommand_is_caught() {
    assert!(check("syllabus generate Jazz --modules 3").is_ok());
    assert!(check("syllabus generate Jazz --moduls 3").is_err());
    assert!(check("syllabus generat Jazz").is_err());
    assert!(check("syllabus batch FILE [--out-dir DIR] [--forse]").is_err());
    assert!(check("syllabus batch FILE [--out-dir DIR] [--force]").is_ok());
    let text = "    syllabus serve --listen 0.0.0.0:8080 \\\n        --token abcdefgh   # later\n";
    assert_eq!(
        commands(text),
        ["syllabus serve --listen 0.0.0.0:8080 --token abcdefgh"]
    );
}

#[test]
fn the_readme_fits_on_a_screen() {
    let readme = &documents()[0].1;
    let lines = readme.lines().count();
    assert!(lines <= 150, "README.md has {lines} lines (at most 150)");
}
