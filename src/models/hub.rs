//! How downloads reach Hugging Face: whether they may happen at all, the endpoint, the
//! token, the proxies and how long a silent download is waited for. The command line's
//! plan fills it from the environment (`cli::model_places`); nothing here reads it.

use std::time::Duration;

/// Default endpoint when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// A download that receives nothing for this long is stopped (hf-hub sets no read timeout).
pub const DEFAULT_STALL: Duration = Duration::from_secs(60);

/// How downloads go for one command.
#[derive(Clone)]
pub struct Hub {
    /// Why downloads are off (`--offline`, `HF_HUB_OFFLINE is set`), or `None`.
    pub offline: Option<&'static str>,
    /// Endpoint URL without a trailing slash (`HF_ENDPOINT` names mirrors).
    pub endpoint: String,
    /// Access token (`HF_TOKEN`); else the cache's stored token is used.
    pub token: Option<String>,
    /// A download silent for this long is stopped.
    pub stall: Duration,
    /// The proxies the environment names.
    pub proxies: Proxies,
}

impl std::fmt::Debug for Hub {
    // The token is a secret: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("offline", &self.offline)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("stall", &self.stall)
            .field("proxies", &self.proxies)
            .finish()
    }
}

impl Hub {
    /// No downloads at all, for `why`.
    pub fn off(why: &'static str) -> Self {
        Self {
            offline: Some(why),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token: None,
            stall: DEFAULT_STALL,
            proxies: Proxies::default(),
        }
    }
}

/// Proxy settings as reqwest and curl read them (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
/// `NO_PROXY`, in either case).
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// For https URLs.
    pub https: Option<String>,
    /// For http URLs.
    pub http: Option<String>,
    /// For either, when the scheme's own is not set.
    pub all: Option<String>,
    /// Hosts reached directly, comma-separated.
    pub no_proxy: Option<String>,
}

impl Proxies {
    /// The proxy for `url`, unless `no_proxy` exempts its host.
    pub fn for_url(&self, url: &url::Url) -> Option<String> {
        let host = url.host_str()?;
        let exempt = self.no_proxy.as_deref().is_some_and(|list| {
            list.split(',').map(str::trim).any(|n| {
                let n = n.trim_start_matches('.');
                n == "*" || (!n.is_empty() && (host == n || host.ends_with(&format!(".{n}"))))
            })
        });
        if exempt {
            return None;
        }
        let own = if url.scheme() == "https" {
            &self.https
        } else {
            &self.http
        };
        own.as_ref().or(self.all.as_ref()).map(|p| {
            if p.contains("://") {
                p.clone()
            } else {
                format!("http://{p}")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_follow_the_scheme_and_no_proxy() {
        let p = Proxies {
            https: Some("proxy.school:3128".into()),
            http: None,
            all: Some("http://all:8080".into()),
            no_proxy: Some("localhost, .internal".into()),
        };
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            p.for_url(&url("https://huggingface.co/x")).as_deref(),
            Some("http://proxy.school:3128")
        );
        assert_eq!(
            p.for_url(&url("http://mirror.example/x")).as_deref(),
            Some("http://all:8080")
        );
        assert_eq!(p.for_url(&url("https://hf.internal/x")), None);
        assert_eq!(p.for_url(&url("http://localhost:8000/x")), None);
    }

    #[test]
    fn the_token_is_not_printed() {
        let mut hub = Hub::off("test");
        hub.token = Some("hf_secret".into());
        assert!(!format!("{hub:?}").contains("hf_secret"));
    }
}
