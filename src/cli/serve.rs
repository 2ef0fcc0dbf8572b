//! `syllabus serve`: its flags checked once (where it may listen, and with what secret),
//! and a request's course fields checked with generate's own rules into a run's plan.

use std::net::{SocketAddr, ToSocketAddrs as _};

use serde::Deserialize;

use super::args::{GenerateArgs, OutputArgs, RunArgs, ServeArgs};
use super::plan::{within, GeneratePlan};
use super::usage::{UsageError, MAX_MODULES};
use crate::engine::BackendKind;
use crate::render::Format;

/// Longest audience, level or language a request may give, in characters.
pub const MAX_FIELD_CHARS: usize = 200;

/// Checked settings of a server.
#[derive(Debug, Clone)]
pub struct ServePlan {
    /// The server's own run settings (model, sampling, threads...), as a plan.
    pub base: GeneratePlan,
    /// The flags every request's plan starts from.
    pub run: RunArgs,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The secret requests must carry, if any.
    pub token: Option<String>,
    /// Courses written at once.
    pub concurrent: usize,
    /// Requests that may wait.
    pub queue: usize,
    /// Most modules a request may ask for.
    pub max_modules: usize,
}

/// The course a client asks for: generate's arguments, by name (`POST /api/syllabus`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseFields {
    /// Subject of the course.
    pub topic: String,
    /// Modules [default: 6].
    pub modules: Option<usize>,
    /// Intended learners.
    pub audience: Option<String>,
    /// Level.
    pub level: Option<String>,
    /// Length in weeks.
    pub weeks: Option<u32>,
    /// Language to write in.
    pub language: Option<String>,
    /// Seed [default: the server's]. (Scheduling is the server's: its courses share one
    /// engine's batches.)
    pub seed: Option<u32>,
    /// Progress as server-sent events instead of one reply at the end.
    #[serde(default)]
    pub stream: bool,
}

impl ServeArgs {
    /// Checks the flags; a non-loopback address without a token is refused unless
    /// `--allow-open` says so.
    pub fn plan(&self) -> Result<ServePlan, UsageError> {
        let listen = self
            .listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                UsageError(format!(
                    "--listen {}: give an address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                    self.listen
                ))
            })?;
        let token = self
            .token
            .clone()
            .or_else(|| std::env::var("SYLLABUS_TOKEN").ok())
            .filter(|t| !t.is_empty());
        if let Some(t) = &token {
            if t.chars().count() < 8 || t.chars().any(char::is_whitespace) {
                return Err(UsageError(
                    "--token must be at least 8 characters, without spaces".into(),
                ));
            }
        }
        if !listen.ip().is_loopback() && token.is_none() && !self.allow_open {
            return Err(UsageError(format!(
                "--listen {listen} lets other machines in: give --token SECRET (or SYLLABUS_TOKEN) so only people who know it can use the server, or --allow-open to let anyone on the network in"
            )));
        }
        if self.run.timings.is_some() {
            return Err(UsageError(
                "--timings has no use here: every request gets its own timing record".into(),
            ));
        }
        let base = GenerateArgs {
            topic: "server".into(),
            modules: Some(1),
            outline: None,
            audience: None,
            level: None,
            weeks: None,
            language: None,
            out: json_out(),
            run: self.run.clone(),
        }
        .plan()?;
        if base.backend != BackendKind::Llama && self.run.daemon.parallel.is_none() {
            tracing::info!("a daemon backend runs one call at a time unless --parallel says more");
        }
        Ok(ServePlan {
            base,
            run: self.run.clone(),
            listen,
            token,
            concurrent: within("--concurrent", self.concurrent.unwrap_or(3), 1, 32)?,
            queue: within("--queue", self.queue.unwrap_or(16), 0, 1000)?,
            max_modules: within(
                "--max-modules",
                self.max_modules.unwrap_or(12),
                1,
                MAX_MODULES,
            )?,
        })
    }
}

fn json_out() -> OutputArgs {
    OutputArgs {
        format: Some(Format::Json),
        output: None,
    }
}

impl ServePlan {
    /// The plan of a run for `fields`, checked as generate checks its flags (messages name
    /// the field, not a flag).
    pub fn request(&self, fields: &CourseFields) -> Result<GeneratePlan, UsageError> {
        let field = |e: UsageError| UsageError(e.0.replace("--", ""));
        for (name, value) in [
            ("audience", &fields.audience),
            ("level", &fields.level),
            ("language", &fields.language),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS)
            {
                return Err(UsageError(format!(
                    "{name} is longer than {MAX_FIELD_CHARS} characters; shorten it"
                )));
            }
        }
        if let Some(m) = fields.modules {
            within("modules", m, 1, self.max_modules)?;
        }
        let mut run = self.run.clone();
        run.seed = fields.seed.or(run.seed);
        run.quiet = true;
        GenerateArgs {
            topic: fields.topic.clone(),
            modules: fields.modules,
            outline: None,
            audience: fields.audience.clone(),
            level: fields.level.clone(),
            weeks: fields.weeks,
            language: fields.language.clone(),
            out: json_out(),
            run,
        }
        .plan()
        .map_err(field)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve(extra: &[&str]) -> Result<ServePlan, UsageError> {
        let mut argv = vec!["syllabus", "serve"];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command.unwrap() {
            Command::Serve(s) => s.plan(),
            _ => unreachable!("serve was parsed"),
        }
    }

    #[test]
    fn other_machines_need_a_token_or_allow_open() {
        let err = serve(&["--listen", "0.0.0.0:8080"]).unwrap_err().0;
        assert!(
            err.contains("--token") && err.contains("--allow-open"),
            "{err}"
        );
        assert!(serve(&["--listen", "0.0.0.0:8080", "--token", "s3cret-staff"]).is_ok());
        assert!(serve(&["--listen", "0.0.0.0:8080", "--allow-open"]).is_ok());
        assert!(serve(&["--listen", "127.0.0.1:0"]).is_ok());
        assert!(serve(&["--listen", "nowhere"]).is_err());
        assert!(serve(&["--token", "short"]).is_err());
    }

    #[test]
    fn request_fields_are_checked_like_flags_and_name_the_field() {
        let plan = serve(&["--max-modules", "5"]).unwrap();
        let ok = CourseFields {
            topic: "Urban Gardening".into(),
            modules: Some(3),
            seed: Some(7),
            ..CourseFields::default()
        };
        let p = plan.request(&ok).unwrap();
        assert_eq!((p.request.modules, p.seed), (3, 7));
        for (fields, needle) in [
            (
                CourseFields {
                    topic: " ".into(),
                    ..ok.clone()
                },
                "topic",
            ),
            (
                CourseFields {
                    modules: Some(6),
                    ..ok.clone()
                },
                "modules must be between 1 and 5",
            ),
            (
                CourseFields {
                    weeks: Some(0),
                    ..ok.clone()
                },
                "weeks",
            ),
            (
                CourseFields {
                    audience: Some("a".repeat(201)),
                    ..ok.clone()
                },
                "audience is longer",
            ),
        ] {
            let err = plan.request(&fields).unwrap_err().0;
            assert!(err.contains(needle) && !err.contains("--"), "{err}");
        }
        let unknown = serde_json::from_str::<CourseFields>(r#"{"topic":"X","outline":"a.txt"}"#);
        assert!(unknown.is_err());
    }
}
