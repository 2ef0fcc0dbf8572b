//! The Hugging Face side: the shared cache (read offline) and downloads with `hf-hub`.
//!
//! Files land in the standard cache layout (`models--<org>--<name>/refs/main` →
//! `snapshots/<rev>/<file>` → `blobs/<etag>`), so Python tools and llama.cpp share them.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hub::{Hub, Proxies};
use hf_hub::api::tokio::ApiBuilder;
use hf_hub::Cache;

/// How long to wait for the endpoint to accept a connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A file in a Hugging Face repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfFile {
    /// `owner/name`.
    pub repo: String,
    /// Path of the file inside the repository.
    pub file: String,
}

impl HfFile {
    /// Parses `owner/name/file.gguf` (the file may sit in a folder of the repository).
    pub fn parse(spec: &str) -> Option<Self> {
        let parts: Vec<&str> = spec.split('/').collect();
        let clean = parts
            .iter()
            .all(|p| !p.is_empty() && *p != "." && *p != "..");
        if parts.len() < 3 || !clean || !spec.ends_with(".gguf") {
            return None;
        }
        Some(Self {
            repo: format!("{}/{}", parts[0], parts[1]),
            file: parts[2..].join("/"),
        })
    }

    /// Where people can download it by hand.
    pub fn url(&self) -> String {
        format!(
            "https://huggingface.co/{}/blob/main/{}",
            self.repo, self.file
        )
    }
}

/// Whether `s` is a commit hash as the Hub writes them: 40 hexadecimal digits.
fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The cached copy of `file` in `cache`, read offline through `refs/main`. A `refs/main`
/// that is not a commit hash (`../../elsewhere`, say) is ignored with a warning, and the
/// file must resolve to a blob inside the repository's own folder.
pub fn cached(cache: &Path, file: &HfFile) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", file.repo.replace('/', "--")));
    let rev = std::fs::read_to_string(repo.join("refs").join("main")).ok()?;
    let rev = rev.trim();
    if !is_commit(rev) {
        tracing::warn!(cache = %repo.display(), "ignoring a cached copy whose refs/main is not a commit hash");
        return None;
    }
    let path = repo.join("snapshots").join(rev).join(&file.file);
    let inside = std::fs::canonicalize(&path)
        .ok()
        .zip(std::fs::canonicalize(&repo).ok())
        .is_some_and(|(p, r)| p.starts_with(r));
    (inside && path.is_file()).then_some(path)
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Downloads are turned off.
    #[error("downloads are off ({0}); copy the file in by hand or unset it")]
    Offline(&'static str),
    /// No cache directory could be found.
    #[error("no Hugging Face cache folder: set HF_HOME or HF_HUB_CACHE")]
    NoCache,
    /// The endpoint did not answer.
    #[error("cannot reach {endpoint} ({reason}); on a machine without network, copy the model file in (see `syllabus models list`)")]
    Unreachable {
        /// Endpoint URL.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// hf-hub failed.
    #[error("download of {file} from {repo} failed: {reason}")]
    Failed {
        /// Repository.
        repo: String,
        /// File.
        file: String,
        /// hf-hub's message.
        reason: String,
    },
    /// The file arrived but its checksum is wrong.
    #[error("{path} has sha256 {got}, not the catalog's {want}; the damaged copy was removed, pull again")]
    Checksum {
        /// Downloaded file.
        path: String,
        /// Actual digest.
        got: String,
        /// Expected digest.
        want: String,
    },
}

/// Fails within seconds when the endpoint does not accept connections, rather than
/// leaving a download hanging on a machine without network.
fn check_reachable(endpoint: &str, proxies: &Proxies) -> Result<(), DownloadError> {
    let unreachable = |reason: String| DownloadError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
    };
    let url = url::Url::parse(endpoint).map_err(|e| unreachable(format!("bad URL: {e}")))?;
    // Through a proxy, the proxy is what must answer.
    let url = match proxies.for_url(&url) {
        Some(proxy) => url::Url::parse(&proxy)
            .map_err(|e| unreachable(format!("bad proxy URL {proxy}: {e}")))?,
        None => url,
    };
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("no host in URL".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unreachable("no port for this scheme".into()))?;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}

/// Asks the endpoint about `url` as hf-hub will (a one-byte range, relative redirects
/// followed) and checks the commit and etag it names before hf-hub turns them into cache
/// paths: a hostile or broken mirror could name `../..` folders.
async fn check_mirror(url: &str, token: Option<&str>, stall: Duration) -> Result<(), String> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let relative = attempt
            .previous()
            .last()
            .is_none_or(|last| last.make_relative(attempt.url()).is_some());
        if attempt.previous().len() > 10 || !relative {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    let client = reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(stall)
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.get(url).header(reqwest::header::RANGE, "bytes=0-0");
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !resp.status().is_success() && !resp.status().is_redirection() {
        // hf-hub reports the status itself.
        return Ok(());
    }
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(commit) = header("x-repo-commit") {
        if !is_commit(commit) {
            return Err(format!(
                "the endpoint names the commit `{commit}`, not a 40-digit hash"
            ));
        }
    }
    if let Some(etag) = header("x-linked-etag").or(header("etag")) {
        let etag = etag.replace('"', "");
        let plain = !etag.is_empty()
            && etag.len() <= 128
            && etag != "."
            && etag != ".."
            && etag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !plain {
            return Err(format!(
                "the endpoint names the file version `{etag}`, which cannot be a cache file name"
            ));
        }
    }
    Ok(())
}

/// hf-hub progress that also records when bytes last arrived, for the stall watchdog.
#[derive(Clone)]
struct Watched {
    bar: indicatif::ProgressBar,
    last: std::sync::Arc<std::sync::Mutex<std::time::Instant>>,
}

impl hf_hub::api::tokio::Progress for Watched {
    async fn init(&mut self, size: usize, filename: &str) {
        hf_hub::api::tokio::Progress::init(&mut self.bar, size, filename).await;
    }
    async fn update(&mut self, size: usize) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        hf_hub::api::tokio::Progress::update(&mut self.bar, size).await;
    }
    async fn finish(&mut self) {
        hf_hub::api::tokio::Progress::finish(&mut self.bar).await;
    }
}

/// Downloads `file` into the `cache` (none: `NoCache`) as `hub` says, with a progress bar
/// (hidden when `progress` is hidden), checks `sha256` when given, and returns the
/// snapshot path.
pub fn download(
    file: &HfFile,
    sha256: Option<&str>,
    progress: indicatif::ProgressBar,
    hub: &Hub,
    cache: Option<&Path>,
) -> Result<PathBuf, DownloadError> {
    if let Some(why) = hub.offline {
        return Err(DownloadError::Offline(why));
    }
    let cache = cache.ok_or(DownloadError::NoCache)?.to_path_buf();
    let endpoint = hub.endpoint.clone();
    check_reachable(&endpoint, &hub.proxies)?;
    let failed = |reason: String| DownloadError::Failed {
        repo: file.repo.clone(),
        file: file.file.clone(),
        reason,
    };
    let token = hub
        .token
        .clone()
        .or_else(|| Cache::new(cache.clone()).token());
    let api = ApiBuilder::from_cache(Cache::new(cache))
        .with_endpoint(endpoint)
        .with_token(token.clone())
        .with_user_agent("syllabus", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let repo = api.model(file.repo.clone());
    let url = repo.url(&file.file);
    runtime
        .block_on(check_mirror(&url, token.as_deref(), hub.stall))
        .map_err(|e| failed(format!("{e}; refusing to write it into the cache")))?;
    let last = std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
    let limit = hub.stall;
    let watched = Watched {
        bar: progress,
        last: last.clone(),
    };
    let path = runtime
        .block_on(async {
            let stalled = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if last.lock().unwrap_or_else(|e| e.into_inner()).elapsed() > limit {
                        break;
                    }
                }
            };
            tokio::select! {
                r = repo.download_with_progress(&file.file, watched) => r.map_err(|e| e.to_string()),
                () = stalled => Err(format!("no data arrived for {} s", limit.as_secs())),
            }
        })
        .map_err(failed)?;
    if let Some(want) = sha256 {
        let got = crate::launch::digest::sha256_file(&path).map_err(|e| failed(e.to_string()))?;
        if !got.eq_ignore_ascii_case(want) {
            // The snapshot entry points at the blob: removing the blob drops both.
            let blob = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let _ = std::fs::remove_file(&blob);
            let _ = std::fs::remove_file(&path);
            return Err(DownloadError::Checksum {
                path: path.display().to_string(),
                got,
                want: want.to_string(),
            });
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_file_specs_parse() {
        assert_eq!(
            HfFile::parse("Qwen/Qwen2-1.5B-Instruct-GGUF/qwen2-1_5b-instruct-q4_0.gguf"),
            Some(HfFile {
                repo: "Qwen/Qwen2-1.5B-Instruct-GGUF".into(),
                file: "qwen2-1_5b-instruct-q4_0.gguf".into()
            })
        );
        assert_eq!(
            HfFile::parse("org/repo/sub/m.gguf").unwrap().file,
            "sub/m.gguf"
        );
        for bad in [
            "m.gguf",
            "org/m.gguf",
            "org/repo/m.bin",
            "/org/repo/m.gguf",
            "a/../b/m.gguf",
        ] {
            assert_eq!(HfFile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn cache_layout_is_read_through_refs_main() {
        let cache = tempfile::tempdir().unwrap();
        let file = HfFile::parse("org/tiny-GGUF/tiny.gguf").unwrap();
        assert_eq!(cached(cache.path(), &file), None);
        let repo = cache.path().join("models--org--tiny-GGUF");
        let rev = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), rev).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots").join(rev)).unwrap();
        std::fs::write(repo.join("blobs/etag1"), b"gguf").unwrap();
        let pointer = repo.join("snapshots").join(rev).join("tiny.gguf");
        std::os::unix::fs::symlink("../../blobs/etag1", &pointer).unwrap();
        assert_eq!(cached(cache.path(), &file), Some(pointer));
        // A dangling snapshot entry (blob deleted) is not a cached file.
        std::fs::remove_file(repo.join("blobs/etag1")).unwrap();
        assert_eq!(cached(cache.path(), &file), None);
    }

    #[test]
    fn closed_port_fails_fast() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let start = std::time::Instant::now();
        let err =
            check_reachable(&format!("http://127.0.0.1:{port}"), &Proxies::default()).unwrap_err();
        assert!(matches!(err, DownloadError::Unreachable { .. }), "{err}");
        assert!(start.elapsed() < CONNECT_TIMEOUT, "{:?}", start.elapsed());
    }
}
