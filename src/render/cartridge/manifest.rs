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

fn xml() -> std::io::Result<Xml> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    Ok(w)
}

/// A module's assessment as a CC assignment: the text a learner answers, gradable.
pub fn assignment(id: &str, title: &str, text: &str) -> std::io::Result<Vec<u8>> {
    let mut w = xml()?;
    let html = format!("<p>{}</p>", minijinja::HtmlEscape(text));
    w.create_element("assignment")
        .with_attribute(("xmlns", NS_ASSIGNMENT))
        .with_attribute(("xmlns:xsi", NS_XSI))
        .with_attribute((
            "xsi:schemaLocation",
            format!("{NS_ASSIGNMENT} {ASSIGNMENT_XSD}").as_str(),
        ))
        .with_attribute(("identifier", id))
        .write_inner_content(|w| {
            w.create_element("title")
                .write_text_content(BytesText::new(title))?;
            w.create_element("text")
                .with_attribute(("texttype", "text/html"))
                .write_text_content(BytesText::new(&html))?;
            w.create_element("gradable")
                .write_text_content(BytesText::new("true"))?;
            w.create_element("submission_formats")
                .write_inner_content(|w| {
                    // Canvas reads "html" as a text entry.
                    for kind in ["html", "file"] {
                        w.create_element("format")
                            .with_attribute(("type", kind))
                            .write_empty()?;
                    }
                    Ok(())
                })?;
            Ok(())
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
            &crate::digest::sha256_hex(key.as_bytes())[..16]
        );
        w.create_element("manifest")
            .with_attribute(("identifier", id.as_str()))
            .with_attribute(("xmlns", self.version.cp().as_str()))
            .with_attribute(("xmlns:lomimscc", self.version.lom().as_str()))
            .with_attribute(("xmlns:xsi", NS_XSI))
            .with_attribute((
                "xsi:schemaLocation",
                self.version.schema_location().as_str(),
            ))
            .write_inner_content(|w| {
                self.metadata(w)?;
                organization(w, units)?;
                w.create_element("resources").write_inner_content(|w| {
                    for r in resources {
                        resource(w, r)?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(w.into_inner())
    }

    /// The manifest's metadata: the CC version and the course's title, language and
    /// description (LOM).
    fn metadata(&self, w: &mut Xml) -> std::io::Result<()> {
        let (s, lang) = (self.syllabus, self.lang);
        let known = lang != "und";
        let lom_string = |w: &mut Xml, name: &str, text: &str| -> std::io::Result<()> {
            w.create_element(name).write_inner_content(|w| {
                let mut e = w.create_element("lomimscc:string");
                if known {
                    e = e.with_attribute(("language", lang));
                }
                e.write_text_content(BytesText::new(text))?;
                Ok(())
            })?;
            Ok(())
        };
        w.create_element("metadata").write_inner_content(|w| {
            w.create_element("schema")
                .write_text_content(BytesText::new("IMS Common Cartridge"))?;
            w.create_element("schemaversion")
                .write_text_content(BytesText::new(self.version.number()))?;
            w.create_element("lomimscc:lom").write_inner_content(|w| {
                w.create_element("lomimscc:general")
                    .write_inner_content(|w| {
                        lom_string(w, "lomimscc:title", &s.title)?;
                        if known {
                            w.create_element("lomimscc:language")
                                .write_text_content(BytesText::new(lang))?;
                        }
                        lom_string(w, "lomimscc:description", &s.description)
                    })?;
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    }
}

/// One resource, opening at its one file (as Canvas writes assignments too).
fn resource(w: &mut Xml, r: &Resource) -> std::io::Result<()> {
    w.create_element("resource")
        .with_attribute(("identifier", r.id.as_str()))
        .with_attribute(("type", r.kind))
        .with_attribute(("href", r.file.as_str()))
        .write_inner_content(|w| {
            w.create_element("file")
                .with_attribute(("href", r.file.as_str()))
                .write_empty()?;
            Ok(())
        })?;
    Ok(())
}

/// The one organization: a root item holding every unit, each holding its items.
fn organization(w: &mut Xml, units: &[Unit]) -> std::io::Result<()> {
    w.create_element("organizations").write_inner_content(|w| {
        w.create_element("organization")
            .with_attribute(("identifier", "ORGANIZATION"))
            .with_attribute(("structure", "rooted-hierarchy"))
            .write_inner_content(|w| {
                w.create_element("item")
                    .with_attribute(("identifier", "ROOT"))
                    .write_inner_content(|w| {
                        for u in units {
                            unit(w, u)?;
                        }
                        Ok(())
                    })?;
                Ok(())
            })?;
        Ok(())
    })?;
    Ok(())
}

fn unit(w: &mut Xml, u: &Unit) -> std::io::Result<()> {
    w.create_element("item")
        .with_attribute(("identifier", u.id.as_str()))
        .write_inner_content(|w| {
            w.create_element("title")
                .write_text_content(BytesText::new(&u.title))?;
            for i in &u.items {
                w.create_element("item")
                    .with_attribute(("identifier", i.id.as_str()))
                    .with_attribute(("identifierref", i.resource.as_str()))
                    .write_inner_content(|w| {
                        w.create_element("title")
                            .write_text_content(BytesText::new(&i.title))?;
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    Ok(())
}
