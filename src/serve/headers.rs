//! Headers of every response: what a browser may load and run on the server's pages, no
//! guessing of content types, and download names in any language.

use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
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

/// `Content-Disposition` of a download named for `title`: an ASCII name for old clients
/// and the title itself, in UTF-8, for the others (RFC 6266).
pub fn attachment(title: &str, extension: &str) -> String {
    let slug = crate::cli::course_file::slug(title);
    let ascii: String = slug
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let ascii = match ascii.trim_matches('-') {
        "" => "syllabus",
        a => a,
    };
    let full = utf8_percent_encode(&slug, NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}.{extension}\"; filename*=UTF-8''{full}.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_keep_the_title_in_utf8_beside_an_ascii_one() {
        assert_eq!(
            attachment("Urban Gardening", "pdf"),
            "attachment; filename=\"urban-gardening.pdf\"; filename*=UTF-8''urban%2Dgardening.pdf"
        );
        let cjk = attachment("潮汐与月球", "docx");
        assert!(
            cjk.starts_with("attachment; filename=\"syllabus.docx\"; "),
            "{cjk}"
        );
        assert!(
            cjk.ends_with("filename*=UTF-8''%E6%BD%AE%E6%B1%90%E4%B8%8E%E6%9C%88%E7%90%83.docx")
        );
        assert!(
            HeaderValue::from_str(&cjk).unwrap().to_str().is_ok(),
            "ASCII only"
        );
    }

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
