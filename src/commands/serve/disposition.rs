//! Download names in any language: an ASCII name for old clients beside the title's own
//! letters in UTF-8 (RFC 6266).

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

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
    use axum::http::HeaderValue;

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
}
