//! The package's XML: `imsmanifest.xml` (metadata, one organization, the resources) and
//! each module's assignment, written with quick-xml, which escapes every value.

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::course::Syllabus;

const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const NS_ASSIGNMENT: &str = "http://www.imsglobal.org/xsd/imscc_extensions/assignment";
const ASSIGNMENT_XSD: &str =
    "http://www.imsglobal.org/profile/cc/cc_extensions/cc_extresource_assignmentv1p0_v1p0.xsd";

/// The version of the standard a package follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 1.1: what Moodle imports (it checks the manifest against the 1.1 schemas); no
    /// assignments (1.1 has no such resource), the assessment stays on the module's page.
    V1p1,
    /// 1.3: Canvas, Schoology, Brightspace, Blackboard; each module's assessment is also an
    /// assignment.
    V1p3,
}

impl Version {
    /// "1p1" or "1p3", as the standard's namespaces spell it.
    fn tag(self) -> &'static str {
        match self {
            Self::V1p1 => "1p1",
            Self::V1p3 => "1p3",
        }
    }

    /// The manifest's namespace (content packaging, profiled).
    fn cp(self) -> String {
        format!(
            "http://www.imsglobal.org/xsd/imsccv{}/imscp_v1p1",
            self.tag()
        )
    }

    /// The manifest metadata's namespace (LOM, profiled).
    fn lom(self) -> String {
        format!("http://ltsc.ieee.org/xsd/imsccv{}/LOM/manifest", self.tag())
    }

    /// `xsi:schemaLocation` of the manifest: each namespace with its published schema.
    fn schema_location(self) -> String {
        let t = self.tag();
        let profile = format!("http://www.imsglobal.org/profile/cc/ccv{t}");
        format!(
            "{} {profile}/ccv{t}_imscp_v1p2_v1p0.xsd {} {profile}/LOM/ccv{t}_lommanifest_v1p0.xsd",
            self.cp(),
            self.lom()
        )
    }

    /// `schemaversion` in the manifest.
    fn number(self) -> &'static str {
        match self {
            Self::V1p1 => "1.1.0",
            Self::V1p3 => "1.3.0",
        }
    }
}

/// A file of the package that the manifest declares as a resource.
pub struct Resource {
    /// Its identifier in the manifest.
    pub id: String,
    /// CC resource type: "webcontent" or "assignment_xmlv1p0".
    pub kind: &'static str,
    /// Path inside the package.
    pub file: String,
    pub bytes: Vec<u8>,
}

/// An entry of a unit: a title that opens one resource.
pub struct Item {
    pub id: String,
    pub title: String,
    pub resource: String,
}

/// A unit of the course (what an LMS shows as a module or section).
pub struct Unit {
    pub id: String,
    pub title: String,
    pub items: Vec<Item>,
}

type Xml = Writer<Vec<u8>>;
type Io = std::io::Result<()>;

fn xml() -> std::io::Result<Xml> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    Ok(w)
}

/// `<name attrs>` holding what `inner` writes.
fn holding(
    w: &mut Xml,
    name: &str,
    attrs: &[(&str, &str)],
    inner: impl FnOnce(&mut Xml) -> Io,
) -> Io {
    w.create_element(name)
        .with_attributes(attrs.iter().copied())
        .write_inner_content(inner)?;
    Ok(())
}

/// `<name attrs>text</name>`.
fn text(w: &mut Xml, name: &str, attrs: &[(&str, &str)], text: &str) -> Io {
    w.create_element(name)
        .with_attributes(attrs.iter().copied())
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

/// `<name attrs/>`.
fn empty(w: &mut Xml, name: &str, attrs: &[(&str, &str)]) -> Io {
    w.create_element(name)
        .with_attributes(attrs.iter().copied())
        .write_empty()?;
    Ok(())
}

/// A module's assessment as a CC assignment: the text a learner answers, gradable.
pub fn assignment(id: &str, title: &str, task: &str) -> std::io::Result<Vec<u8>> {
    let mut w = xml()?;
    let html = format!("<p>{}</p>", minijinja::HtmlEscape(task));
    let location = format!("{NS_ASSIGNMENT} {ASSIGNMENT_XSD}");
    let root = [
        ("xmlns", NS_ASSIGNMENT),
        ("xmlns:xsi", NS_XSI),
        ("xsi:schemaLocation", location.as_str()),
        ("identifier", id),
    ];
    holding(&mut w, "assignment", &root, |w| {
        text(w, "title", &[], title)?;
        text(w, "text", &[("texttype", "text/html")], &html)?;
        text(w, "gradable", &[], "true")?;
        holding(w, "submission_formats", &[], |w| {
            // Canvas reads "html" as a text entry.
            empty(w, "format", &[("type", "html")])?;
            empty(w, "format", &[("type", "file")])
        })
    })?;
    Ok(w.into_inner())
}

/// What the manifest says of the course.
pub struct Manifest<'a> {
    pub syllabus: &'a Syllabus,
    /// BCP 47 tag, "und" when unknown.
    pub lang: &'a str,
    pub version: Version,
}

impl Manifest<'_> {
    /// `imsmanifest.xml`: metadata (title, description, language), one organization, the
    /// resources.
    pub fn write(&self, units: &[Unit], resources: &[Resource]) -> std::io::Result<Vec<u8>> {
        let s = self.syllabus;
        let mut w = xml()?;
        // Stable across renders of the same course, different between courses.
        let key = format!("{}\n{}", s.title, s.topic);
        let id = format!(
            "SYLLABUS_{}",
            &crate::launch::digest::sha256_hex(key.as_bytes())[..16]
        );
        let (cp, lom, location) = (
            self.version.cp(),
            self.version.lom(),
            self.version.schema_location(),
        );
        let root = [
            ("identifier", id.as_str()),
            ("xmlns", cp.as_str()),
            ("xmlns:lomimscc", lom.as_str()),
            ("xmlns:xsi", NS_XSI),
            ("xsi:schemaLocation", location.as_str()),
        ];
        holding(&mut w, "manifest", &root, |w| {
            self.metadata(w)?;
            organization(w, units)?;
            holding(w, "resources", &[], |w| {
                resources.iter().try_for_each(|r| resource(w, r))
            })
        })?;
        Ok(w.into_inner())
    }

    /// The manifest's metadata: the CC version and the course's title, language and
    /// description (LOM).
    fn metadata(&self, w: &mut Xml) -> Io {
        let (s, lang) = (self.syllabus, self.lang);
        let known = lang != "und";
        let tagged = [("language", lang)];
        let attrs: &[(&str, &str)] = if known { &tagged } else { &[] };
        let lom_string = |w: &mut Xml, name: &str, t: &str| {
            holding(w, name, &[], |w| text(w, "lomimscc:string", attrs, t))
        };
        holding(w, "metadata", &[], |w| {
            text(w, "schema", &[], "IMS Common Cartridge")?;
            text(w, "schemaversion", &[], self.version.number())?;
            holding(w, "lomimscc:lom", &[], |w| {
                holding(w, "lomimscc:general", &[], |w| {
                    lom_string(w, "lomimscc:title", &s.title)?;
                    if known {
                        text(w, "lomimscc:language", &[], lang)?;
                    }
                    lom_string(w, "lomimscc:description", &s.description)
                })
            })
        })
    }
}

/// One resource, opening at its one file (as Canvas writes assignments too).
fn resource(w: &mut Xml, r: &Resource) -> Io {
    let attrs = [
        ("identifier", r.id.as_str()),
        ("type", r.kind),
        ("href", r.file.as_str()),
    ];
    holding(w, "resource", &attrs, |w| {
        empty(w, "file", &[("href", r.file.as_str())])
    })
}

/// The one organization: a root item holding every unit, each holding its items.
fn organization(w: &mut Xml, units: &[Unit]) -> Io {
    let org = [
        ("identifier", "ORGANIZATION"),
        ("structure", "rooted-hierarchy"),
    ];
    holding(w, "organizations", &[], |w| {
        holding(w, "organization", &org, |w| {
            holding(w, "item", &[("identifier", "ROOT")], |w| {
                units.iter().try_for_each(|u| unit(w, u))
            })
        })
    })
}

fn unit(w: &mut Xml, u: &Unit) -> Io {
    holding(w, "item", &[("identifier", u.id.as_str())], |w| {
        text(w, "title", &[], &u.title)?;
        u.items.iter().try_for_each(|i| {
            let attrs = [
                ("identifier", i.id.as_str()),
                ("identifierref", i.resource.as_str()),
            ];
            holding(w, "item", &attrs, |w| text(w, "title", &[], &i.title))
        })
    })
}
