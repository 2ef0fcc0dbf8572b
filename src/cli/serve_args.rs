//! `syllabus serve`: its flags checked once (where it may listen, and with what secret),
//! and a request's course fields checked with generate's own rules into a run's plan.

use std::net::{SocketAddr, ToSocketAddrs as _};

use serde::{Deserialize, Deserializer};

use super::args::ServeArgs;
use super::fields::{CourseFields, CoursePlan, Naming};
use super::plan::{Fallback, RunPlan};
use super::usage::{within, UsageError, MAX_MODULES};
use crate::engine::BackendKind;

/// Shortest token `serve` takes: guesses are limited per address, not impossible.
pub const MIN_TOKEN_CHARS: usize = 12;

/// Checked settings of a server.
#[derive(Debug, Clone)]
pub struct ServePlan {
    /// How the model runs, for every request.
    pub run: RunPlan,
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
    /// Reverse proxies whose X-Forwarded-For is believed.
    pub proxies: Vec<std::net::IpAddr>,
}

/// A client's request for a course (`POST /api/syllabus`, the page's form): the course's
/// fields, and how this request runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CourseBody {
    /// The course (a server reads no outline file: `outline` is refused).
    pub course: CourseFields,
    /// Seed [default: the server's].
    pub seed: Option<u32>,
    /// Progress as server-sent events instead of one reply at the end.
    pub stream: bool,
}

impl<'de> Deserialize<'de> for CourseBody {
    /// The course's own keys, plus `seed` and `stream`; any other key is refused.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::deserialize(d)?;
        let seed = map
            .remove("seed")
            .map(serde_json::from_value::<Option<u32>>)
            .transpose()
            .map_err(D::Error::custom)?
            .flatten();
        let stream = map
            .remove("stream")
            .map(serde_json::from_value::<bool>)
            .transpose()
            .map_err(D::Error::custom)?
            .unwrap_or(false);
        let course =
            CourseFields::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(Self {
            course,
            seed,
            stream,
        })
    }
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
            if t.chars().count() < MIN_TOKEN_CHARS || t.chars().any(char::is_whitespace) {
                return Err(UsageError(format!(
                    "--token must be at least {MIN_TOKEN_CHARS} characters, without spaces (anyone who can reach the port may guess)"
                )));
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
        let run = self.run.plan(Fallback::NEW)?;
        if run.backend != BackendKind::Llama && self.run.daemon.parallel.is_none() {
            tracing::info!("a daemon backend runs one call at a time unless --parallel says more");
        }
        Ok(ServePlan {
            run,
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
            proxies: self.trust_proxy.clone(),
        })
    }
}

impl ServePlan {
    /// A request's course, checked as generate checks its flags (messages name the field),
    /// and the seed it runs with.
    pub fn course(&self, body: &CourseBody) -> Result<(CoursePlan, u32), UsageError> {
        if body.course.outline.is_some() {
            return Err(UsageError(
                "outline: the server reads no files; give modules, or write the course with `syllabus generate --outline`".into(),
            ));
        }
        let course = body.course.check(Naming::Fields, self.max_modules)?;
        Ok((course, body.seed.unwrap_or(self.run.seed)))
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
        assert!(serve(&["--token", "eleven-char"]).is_err());
        assert!(serve(&["--token", "twelve-chars"]).is_ok());
    }

    #[test]
    fn request_fields_are_checked_like_flags_and_name_the_field() {
        let plan = serve(&["--max-modules", "5"]).unwrap();
        let ok = CourseFields {
            topic: "Urban Gardening".into(),
            modules: Some(3),
            ..CourseFields::default()
        };
        let body = |course: CourseFields| CourseBody {
            course,
            seed: Some(7),
            stream: false,
        };
        let (p, seed) = plan.course(&body(ok.clone())).unwrap();
        assert_eq!((p.request.modules, seed), (3, 7));
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
            let err = plan.course(&body(fields)).unwrap_err().0;
            assert!(err.contains(needle) && !err.contains("--"), "{err}");
        }
        let unknown = serde_json::from_str::<CourseBody>(r#"{"topic":"X","colour":"red"}"#);
        assert!(unknown.unwrap_err().to_string().contains("colour"));
        let read: CourseBody =
            serde_json::from_str(r#"{"topic":"X","seed":3,"stream":true,"weeks":4}"#).unwrap();
        assert_eq!(
            (read.seed, read.stream, read.course.weeks),
            (Some(3), true, Some(4))
        );
        let outline: CourseBody =
            serde_json::from_str(r#"{"topic":"X","outline":"a.txt"}"#).unwrap();
        let err = plan.course(&outline).unwrap_err().0;
        assert!(
            err.starts_with("outline: the server reads no files"),
            "{err}"
        );
    }
}
