//! One self-contained HTML page (no network, no scripts, a print stylesheet), made from a
//! template with minijinja, which escapes every value the model wrote.

use anyhow::Context as _;
use minijinja::{context, Environment};

use crate::course::Syllabus;

/// The page template, compiled into the binary.
const TEMPLATE: &str = include_str!("templates/syllabus.html");

/// The syllabus as an HTML page.
pub fn html(syllabus: &Syllabus) -> anyhow::Result<String> {
    let mut env = Environment::new();
    // A `.html` name turns on HTML escaping of every value.
    env.add_template("syllabus.html", TEMPLATE)
        .context("the page template does not parse")?;
    let page = env
        .get_template("syllabus.html")
        .and_then(|t| {
            let marks: Vec<Vec<String>> = syllabus
                .modules
                .iter()
                .map(|m| super::review_lines(syllabus, Some(m.number)))
                .collect();
            t.render(context! {
                s => syllabus,
                review_label => super::REVIEW_LABEL,
                course_review => super::review_lines(syllabus, None),
                module_review => marks,
                lang => super::lang_tag(&syllabus.language),
                version => env!("CARGO_PKG_VERSION"),
            })
        })
        .context("cannot render the page")?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_the_page_stands_alone() {
        let mut s = crate::render::tests_support::syllabus();
        s.title = "Tides <script>alert(1)</script> & waves".into();
        let page = html(&s).unwrap();
        // minijinja also escapes `/` (as `&#x2f;`).
        assert!(page.contains("Tides &lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; waves"));
        assert!(!page.contains("<script"), "no scripts");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no network"
        );
        assert!(page.contains("@media print"));
        assert!(page.contains("<h3>Module 1: Ocean zones"));
        assert!(page.contains("<html lang=\"en\">"));
    }
}
