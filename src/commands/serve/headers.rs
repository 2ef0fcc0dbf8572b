//! Headers of every response: what a browser may load and run on the server's pages, and
//! no guessing of content types.

use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The page's own script by its hash, inline styles (the page's and a syllabus page's),
/// requests to this server only; no plug-ins, frames, other origins or form targets.
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(page_script()));
    let policy = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
});

/// The text of the page's one inline script, as the browser hashes it.
fn page_script() -> &'static str {
    let page = super::page::TEMPLATE;
    let start = page.find("<script>").map_or(0, |i| i + "<script>".len());
    let end = page[start..].find("</script>").map_or(start, |i| start + i);
    &page[start..end]
}

/// Middleware: the security headers on every response.
pub async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, POLICY.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_pages_script_by_its_hash() {
        let script = page_script();
        assert!(
            script.contains("fetch(") && !script.contains("</script"),
            "{script}"
        );
        let policy = POLICY.to_str().unwrap();
        assert!(policy.contains("script-src 'sha256-") && policy.contains("default-src 'none'"));
    }
}
