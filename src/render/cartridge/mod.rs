//! An IMS Common Cartridge package (`.imscc`), the course format LMSs import: 1.3 for
//! Canvas, Schoology, Brightspace and Blackboard, 1.1 for Moodle. A first unit with the
//! course overview and outcomes, then one unit per module holding its page and, in 1.3, its
//! assessment as an assignment (CC 1.3's assignment extension). XML is written with
//! quick-xml, pages with minijinja (which escapes every value), the package with zip.
//! Identifiers and file names come from positions and dates are fixed, so the same syllabus
//! always gives the same bytes.

mod manifest;

use std::io::Write as _;

use anyhow::Context as _;
use minijinja::{context, Environment};

pub use self::manifest::Version;
use self::manifest::{assignment, Item, Manifest, Resource, Unit};
use crate::course::{Module, Syllabus};

/// The page template (overview or module), compiled into the binary.
const PAGE: &str = include_str!("../templates/cartridge-page.html");

/// The syllabus as an IMS Common Cartridge package of `version`.
pub fn cartridge(syllabus: &Syllabus, version: Version) -> anyhow::Result<Vec<u8>> {
    let lang = crate::render::lang_tag(&syllabus.language);
    let (units, resources) = contents(syllabus, lang, version)?;
    let manifest = Manifest {
        syllabus,
        lang,
        version,
    };
    let manifest = manifest.write(&units, &resources).context("manifest")?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let files = std::iter::once(("imsmanifest.xml", manifest.as_slice())).chain(
        resources
            .iter()
            .map(|r| (r.file.as_str(), r.bytes.as_slice())),
    );
    for (name, bytes) in files {
        zip.start_file(name, options)
            .with_context(|| format!("package entry {name}"))?;
        zip.write_all(bytes)
            .with_context(|| format!("package entry {name}"))?;
    }
    Ok(zip.finish().context("package")?.into_inner())
}

/// The units and the files they open: the overview, then each module's page and assessment.
fn contents(
    s: &Syllabus,
    lang: &str,
    version: Version,
) -> anyhow::Result<(Vec<Unit>, Vec<Resource>)> {
    let mut env = Environment::new();
    env.add_template("page.html", PAGE)
        .context("the cartridge page template does not parse")?;
    let page = env.get_template("page.html").context("page template")?;
    let render = |heading: &str, m: Option<&Module>| {
        page.render(context! {
            s => s,
            m => m,
            heading => heading,
            review => crate::render::review_lines(s, m.map(|m| m.number)),
            review_label => crate::render::REVIEW_LABEL,
            lang => lang,
            version => env!("CARGO_PKG_VERSION"),
        })
        .context("cannot render a cartridge page")
    };
    let overview = "About this course";
    let mut resources = vec![Resource {
        id: "RES_OVERVIEW".into(),
        kind: "webcontent",
        file: "course/overview.html".into(),
        bytes: render(overview, None)?.into_bytes(),
    }];
    let mut units = vec![Unit {
        id: "UNIT_OVERVIEW".into(),
        title: "Course overview".into(),
        items: vec![Item {
            id: "ITEM_OVERVIEW".into(),
            title: overview.into(),
            resource: "RES_OVERVIEW".into(),
        }],
    }];
    for m in &s.modules {
        let n = format!("{:02}", m.number);
        let heading = format!("Module {}: {}", m.number, m.title);
        resources.push(Resource {
            id: format!("RES_MODULE_{n}"),
            kind: "webcontent",
            file: format!("modules/module-{n}.html"),
            bytes: render(&heading, Some(m))?.into_bytes(),
        });
        let mut items = vec![Item {
            id: format!("ITEM_MODULE_{n}"),
            title: m.title.clone(),
            resource: format!("RES_MODULE_{n}"),
        }];
        if version == Version::V1p3 {
            let task = format!("Assessment: {}", m.title);
            let id = format!("RES_ASSESSMENT_{n}");
            resources.push(Resource {
                bytes: assignment(&id, &task, &m.content.assessment).context("assignment")?,
                id: id.clone(),
                kind: "assignment_xmlv1p0",
                file: format!("assessments/assessment-{n}.xml"),
            });
            items.push(Item {
                id: format!("ITEM_ASSESSMENT_{n}"),
                title: task,
                resource: id,
            });
        }
        units.push(Unit {
            id: format!("UNIT_MODULE_{n}"),
            title: heading,
            items,
        });
    }
    Ok((units, resources))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::Read as _;

    use quick_xml::events::Event;
    use quick_xml::Reader;

    use super::*;
    use crate::render::tests_support::syllabus;

    fn entries(bytes: &[u8]) -> BTreeMap<String, String> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (0..zip.len())
            .map(|i| {
                let mut f = zip.by_index(i).unwrap();
                let mut text = String::new();
                f.read_to_string(&mut text).unwrap();
                (f.name().to_string(), text)
            })
            .collect()
    }

    /// (element name, attributes) of every element, in order.
    fn elements(xml: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let mut reader = Reader::from_str(xml);
        let mut out = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => {
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                            // Identifiers, types and file names: nothing to unescape.
                            (key, String::from_utf8(a.value.to_vec()).unwrap())
                        })
                        .collect();
                    out.push((
                        String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                        attrs,
                    ));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn every_module_is_a_unit_and_every_reference_resolves() {
        let mut s = syllabus();
        let mut second = s.modules[0].clone();
        second.number = 2;
        second.title = "Tides & <currents>".into();
        s.modules.push(second);
        let bytes = cartridge(&s, Version::V1p3).unwrap();
        assert_eq!(
            bytes,
            cartridge(&s, Version::V1p3).unwrap(),
            "the same bytes every time"
        );
        let files = entries(&bytes);
        let manifest = &files["imsmanifest.xml"];
        let els = elements(manifest);
        let resources: BTreeMap<&str, &BTreeMap<String, String>> = els
            .iter()
            .filter(|(n, _)| n == "resource")
            .map(|(_, a)| (a["identifier"].as_str(), a))
            .collect();
        let units: Vec<&str> = els
            .iter()
            .filter_map(|(n, a)| a.get("identifier").filter(|_| n == "item"))
            .map(String::as_str)
            .filter(|id| id.starts_with("UNIT_MODULE_"))
            .collect();
        assert_eq!(units, ["UNIT_MODULE_01", "UNIT_MODULE_02"]);
        let mut ids = BTreeSet::new();
        for (name, a) in &els {
            if let Some(id) = a.get("identifier") {
                assert!(ids.insert(id.clone()), "{id} is unique");
            }
            if let Some(r) = a.get("identifierref") {
                assert!(resources.contains_key(r.as_str()), "{r} resolves");
            }
            if name == "file" || (name == "resource" && a.contains_key("href")) {
                assert!(
                    files.contains_key(&a["href"]),
                    "{} is in the package",
                    a["href"]
                );
            }
        }
        assert!(manifest.contains("<schemaversion>1.3.0</schemaversion>"));
        assert!(manifest.contains("<title>Module 2: Tides &amp; &lt;currents&gt;</title>"));
        let page = &files["modules/module-02.html"];
        assert!(page.contains("Tides &amp; &lt;currents&gt;"), "{page}");
        assert!(page.contains("<li>Name zones</li>") && page.contains("<p>Quiz</p>"));
        let task = &files["assessments/assessment-01.xml"];
        assert!(task.contains("<text texttype=\"text/html\">&lt;p&gt;Quiz&lt;/p&gt;</text>"));
        let overview = &files["course/overview.html"];
        assert!(
            overview.contains("<li>Explain zones</li>") && overview.contains("<html lang=\"en\">")
        );
    }

    #[test]
    fn version_1_1_keeps_to_what_moodle_checks() {
        let files = entries(&cartridge(&syllabus(), Version::V1p1).unwrap());
        let manifest = &files["imsmanifest.xml"];
        assert!(manifest.contains("xmlns=\"http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1\""));
        assert!(manifest.contains("<schemaversion>1.1.0</schemaversion>"));
        // The 1.1 schema's resource types are an enumeration without assignments.
        let kinds: BTreeSet<String> = elements(manifest)
            .into_iter()
            .filter(|(n, _)| n == "resource")
            .map(|(_, a)| a["type"].clone())
            .collect();
        assert_eq!(kinds, BTreeSet::from(["webcontent".to_string()]));
        assert!(
            files["modules/module-01.html"].contains("<p>Quiz</p>"),
            "the assessment stays on the page"
        );
        assert_eq!(files.len(), 3, "{:?}", files.keys());
    }

    #[test]
    fn file_names_stay_ascii_whatever_the_language() {
        let mut s = syllabus();
        s.language = "Chinese".into();
        s.title = "海洋生物学".into();
        s.modules[0].title = "海洋区域".into();
        let files = entries(&cartridge(&s, Version::V1p3).unwrap());
        assert!(files.keys().all(|k| k.is_ascii()), "{:?}", files.keys());
        assert!(files["imsmanifest.xml"]
            .contains("<lomimscc:string language=\"zh\">海洋生物学</lomimscc:string>"));
        assert!(files["modules/module-01.html"].contains("海洋区域"));
    }
}
