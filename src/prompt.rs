//! Prompts and JSON schemas for the outline call and the module calls.
//!
//! Module prompts are laid out so that everything shared by all modules (system text,
//! course context, the whole outline, the reply format) comes first and the one line
//! naming the module comes last: the engine reuses the longest common token prefix.
//!
//! Every string in a schema has a `maxLength` and every array a `maxItems`: small models
//! otherwise loop inside a string until the token limit. The bounds also size each call's
//! token budget, and with it the KV cache.

use serde_json::{json, Value};

use crate::course::{CourseRequest, OutlineReply, MIN_ITEMS};

/// A chat message for the model's chat template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    /// Message text.
    pub content: String,
}

impl ChatMessage {
    fn new(role: &str, content: String) -> Self {
        Self {
            role: role.to_string(),
            content,
        }
    }
}

const SYSTEM: &str = "You are an experienced curriculum designer. You write clear, concrete, \
practical course material for teachers. You answer with one JSON object and nothing else.";

/// Text bounds, in characters.
const TITLE_LEN: u64 = 60;
const LINE_LEN: u64 = 120;
const PARAGRAPH_LEN: u64 = 320;

fn text(max_len: u64) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max_len})
}

fn list(max_len: u64, max_items: u64) -> Value {
    json!({"type": "array", "items": text(max_len), "minItems": MIN_ITEMS, "maxItems": max_items})
}

fn object(properties: Value) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn top_level(mut schema: Value) -> Value {
    // Compact JSON: no tokens spent on indentation.
    schema["x-guidance"] = json!({"whitespace_flexible": false});
    schema
}

/// Schema of the outline reply for exactly `modules` modules.
pub fn outline_schema(modules: usize) -> Value {
    let entry = object(json!({"title": text(TITLE_LEN), "focus": text(LINE_LEN)}));
    top_level(object(json!({
        "title": text(TITLE_LEN),
        "description": text(PARAGRAPH_LEN),
        "audience": text(LINE_LEN),
        "prerequisites": list(LINE_LEN, 4),
        "learning_outcomes": list(LINE_LEN, 6),
        "modules": {"type": "array", "items": entry, "minItems": modules, "maxItems": modules},
    })))
}

/// Schema of one module reply.
pub fn module_schema() -> Value {
    top_level(object(json!({
        "summary": text(PARAGRAPH_LEN),
        "learning_objectives": list(LINE_LEN, 5),
        "topics": list(TITLE_LEN, 6),
        "activities": list(LINE_LEN, 4),
        "assessment": text(LINE_LEN * 2),
    })))
}

/// Schema of a replacement outline entry (a module title that repeated another).
pub fn entry_schema() -> Value {
    top_level(object(
        json!({"title": text(TITLE_LEN), "focus": text(LINE_LEN)}),
    ))
}

/// Upper bound on the characters of any reply the schema allows.
pub fn max_reply_chars(schema: &Value) -> u64 {
    let props = schema.get("properties").and_then(Value::as_object);
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => schema["maxLength"].as_u64().unwrap_or(0) + 2,
        Some("array") => {
            let n = schema["maxItems"].as_u64().unwrap_or(0);
            2 + n * (max_reply_chars(&schema["items"]) + 1)
        }
        Some("object") => {
            2 + props.map_or(0, |p| {
                p.iter()
                    .map(|(k, v)| k.len() as u64 + 4 + max_reply_chars(v))
                    .sum()
            })
        }
        _ => 16,
    }
}

/// Generation budget in tokens for a schema.
///
/// A third of the character bound: JSON text runs 3-4 characters a token, so only a reply
/// that is both near every bound and oddly tokenized can hit it; such a reply ends as
/// `Finish::Length`, and the pipeline regenerates it.
pub fn max_reply_tokens(schema: &Value) -> u32 {
    u32::try_from(max_reply_chars(schema) / 3 + 8).unwrap_or(u32::MAX)
}

/// Typical outline reply length in tokens for `modules` modules, to size memory up front.
pub fn typical_outline_tokens(modules: usize) -> usize {
    160 + 40 * modules
}

fn course_lines(request: &CourseRequest) -> String {
    let mut lines = vec![format!("Topic: {}", request.topic)];
    if let Some(a) = &request.audience {
        lines.push(format!("Audience: {a}"));
    }
    if let Some(l) = &request.level {
        lines.push(format!("Level: {l}"));
    }
    if let Some(w) = request.weeks {
        lines.push(format!("Length: {w} weeks"));
    }
    lines.push(format!(
        "Language: write every text in {}",
        request.language
    ));
    lines.join("\n")
}

/// A worked example shown before every request: small models copy its shape and tone.
const EXAMPLE_COURSE: &str =
    "Topic: Introduction to Photography\nLanguage: write every text in English";
const EXAMPLE_OUTLINE: &str = r#"{"title":"Photography Basics","description":"A hands-on course on taking good photographs with any camera. Learners practise composition, exposure and editing on their own pictures.","audience":"Adult beginners with a camera or phone","prerequisites":["Access to a camera or smartphone","Basic computer skills"],"learning_outcomes":["Explain how aperture, shutter speed and ISO work together","Apply composition rules to everyday scenes","Edit a photo to improve light and colour"],"modules":[{"title":"Seeing Light","focus":"How light direction and quality shape a photo"},{"title":"Exposure","focus":"Balancing aperture, shutter speed and ISO"},{"title":"Composition","focus":"Framing, rule of thirds and leading lines"}]}"#;
const EXAMPLE_MODULE: &str = r#"{"summary":"Learners find out how aperture, shutter speed and ISO control the brightness and look of a photo, and practise choosing settings for different scenes.","learning_objectives":["Describe the effect of aperture on depth of field","Choose a shutter speed to freeze or blur motion","Adjust ISO in low light"],"topics":["Aperture and depth of field","Shutter speed and motion","ISO and noise","The exposure triangle"],"activities":["Shoot one scene at five apertures and compare","Photograph moving water at fast and slow speeds"],"assessment":"A portfolio of six photos with the settings used and a short note on each choice"}"#;

fn outline_request(course: &str, modules: usize) -> String {
    format!(
        "Plan a course.\n{course}\n\n\
         Reply with a JSON object with these keys:\n\
         - title: the course title\n\
         - description: two or three sentences on what the course covers and why\n\
         - audience: who the course is for\n\
         - prerequisites: 2 to 4 different things learners should know first\n\
         - learning_outcomes: 3 to 6 different outcomes, each starting with a verb\n\
         - modules: exactly {modules} modules in teaching order, from foundations to advanced, \
         each with a short title of its own and a one-line focus"
    )
}

/// Messages for the outline call.
pub fn outline_messages(request: &CourseRequest) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", SYSTEM.to_string()),
        ChatMessage::new("user", outline_request(EXAMPLE_COURSE, 3)),
        ChatMessage::new("assistant", EXAMPLE_OUTLINE.to_string()),
        ChatMessage::new(
            "user",
            outline_request(&course_lines(request), request.modules),
        ),
    ]
}

const MODULE_KEYS: &str =
    "Write one module of this course in detail. Reply with a JSON object with these keys:\n\
     - summary: two or three sentences on what the module teaches\n\
     - learning_objectives: 3 to 5 different objectives, each starting with a verb\n\
     - topics: 3 to 6 different topics covered\n\
     - activities: 2 to 4 different, concrete learning activities\n\
     - assessment: how learning in this module is assessed";

fn module_request(context: &str, plan: &str, number: usize, title: &str, focus: &str) -> String {
    // Shared text first, the module named last: see the module docs.
    format!("{context}\n\nCourse outline:\n{plan}\n\n{MODULE_KEYS}\n\nThe module to write is module {number}: {title} ({focus})")
}

fn outline_plan(outline: &OutlineReply) -> String {
    outline
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{}. {}: {}", i + 1, m.title, m.focus))
        .collect::<Vec<_>>()
        .join("\n")
}

fn course_context(request: &CourseRequest, outline: &OutlineReply) -> String {
    format!(
        "Course: {}\n{}\nDescription: {}\nAudience: {}",
        outline.title,
        course_lines(request),
        outline.description,
        outline.audience
    )
}

/// Messages for the call that renames module `index` (0-based), whose title repeats module `first`.
pub fn entry_messages(
    request: &CourseRequest,
    outline: &OutlineReply,
    index: usize,
    first: usize,
) -> Vec<ChatMessage> {
    let user = format!(
        "{context}\n\nCourse outline:\n{plan}\n\n\
         Module {number} has the same title as module {first_number}. Give module {number} a new title \
         that differs from every title above and a one-line focus that fits its place in the course. \
         Reply with a JSON object with the keys title and focus.",
        context = course_context(request, outline),
        plan = outline_plan(outline),
        number = index + 1,
        first_number = first + 1,
    );
    vec![
        ChatMessage::new("system", SYSTEM.to_string()),
        ChatMessage::new("user", user),
    ]
}

/// Messages for the call that writes module `index` (0-based) of `outline`.
pub fn module_messages(
    request: &CourseRequest,
    outline: &OutlineReply,
    index: usize,
) -> Vec<ChatMessage> {
    let entry = &outline.modules[index];
    let example = module_request(
        &format!("Course: Photography Basics\n{EXAMPLE_COURSE}"),
        "1. Seeing Light: How light direction and quality shape a photo\n2. Exposure: Balancing aperture, shutter speed and ISO\n3. Composition: Framing, rule of thirds and leading lines",
        2,
        "Exposure",
        "Balancing aperture, shutter speed and ISO",
    );
    vec![
        ChatMessage::new("system", SYSTEM.to_string()),
        ChatMessage::new("user", example),
        ChatMessage::new("assistant", EXAMPLE_MODULE.to_string()),
        ChatMessage::new(
            "user",
            module_request(
                &course_context(request, outline),
                &outline_plan(outline),
                index + 1,
                &entry.title,
                &entry.focus,
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::OutlineEntry;

    fn request() -> CourseRequest {
        CourseRequest {
            topic: "History of Jazz".into(),
            modules: 3,
            audience: Some("adult learners".into()),
            level: None,
            weeks: Some(6),
            language: "English".into(),
        }
    }

    fn outline() -> OutlineReply {
        OutlineReply {
            title: "Jazz".into(),
            description: "From New Orleans to now.".into(),
            audience: "Adults".into(),
            prerequisites: vec!["None".into(), "Curiosity".into()],
            learning_outcomes: vec!["Name styles".into(), "Hear forms".into()],
            modules: ["Roots", "Swing", "Bebop"]
                .iter()
                .map(|t| OutlineEntry {
                    title: t.to_string(),
                    focus: format!("{t} era"),
                })
                .collect(),
        }
    }

    fn walk(schema: &Value, check: &mut dyn FnMut(&Value)) {
        check(schema);
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            props.values().for_each(|v| walk(v, check));
        }
        if let Some(items) = schema.get("items") {
            walk(items, check);
        }
    }

    #[test]
    fn every_string_and_array_is_bounded() {
        for schema in [outline_schema(4), module_schema(), entry_schema()] {
            walk(&schema, &mut |s| match s["type"].as_str() {
                Some("string") => {
                    assert!(s["maxLength"].as_u64().unwrap() > 0 && s["minLength"] == 1)
                }
                Some("array") => {
                    assert!(s["maxItems"].as_u64().unwrap() >= s["minItems"].as_u64().unwrap())
                }
                Some("object") => assert_eq!(s["additionalProperties"], false),
                other => panic!("unexpected type {other:?}"),
            });
        }
    }

    #[test]
    fn outline_schema_fixes_the_module_count() {
        let s = outline_schema(7);
        assert_eq!(s["properties"]["modules"]["minItems"], 7);
        assert_eq!(s["properties"]["modules"]["maxItems"], 7);
        assert_eq!(s["x-guidance"]["whitespace_flexible"], false);
    }

    #[test]
    fn properties_keep_their_written_order() {
        let keys: Vec<_> = module_schema()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "summary",
                "learning_objectives",
                "topics",
                "activities",
                "assessment"
            ]
        );
    }

    #[test]
    fn reply_budget_covers_the_largest_allowed_reply() {
        // The largest reply: every list full, every string at its maximum length.
        let big = |n: u64| "x".repeat(n as usize);
        let reply = json!({
            "summary": big(PARAGRAPH_LEN),
            "learning_objectives": vec![big(LINE_LEN); 5],
            "topics": vec![big(TITLE_LEN); 6],
            "activities": vec![big(LINE_LEN); 4],
            "assessment": big(LINE_LEN * 2),
        });
        let len = serde_json::to_string(&reply).unwrap().len() as u64;
        assert!(max_reply_chars(&module_schema()) >= len);
        assert!(max_reply_tokens(&outline_schema(8)) > max_reply_tokens(&outline_schema(2)));
    }

    #[test]
    fn module_prompts_differ_only_at_the_end() {
        let (r, o) = (request(), outline());
        let a = &module_messages(&r, &o, 0)[3].content;
        let b = &module_messages(&r, &o, 2)[3].content;
        let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let tail = a.len() - common;
        assert!(tail < 40, "module-specific tail is {tail} bytes: {a}");
        assert!(
            a.contains("3. Bebop: Bebop era"),
            "whole outline in every prompt"
        );
    }

    #[test]
    fn worked_examples_follow_their_schemas() {
        let outline = OutlineReply::parse_valid(EXAMPLE_OUTLINE, 3).unwrap();
        assert_eq!(outline.modules[1].title, "Exposure");
        crate::course::ModuleReply::parse_valid(EXAMPLE_MODULE).unwrap();
        for (text, schema) in [
            (EXAMPLE_OUTLINE, outline_schema(3)),
            (EXAMPLE_MODULE, module_schema()),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let keys: Vec<_> = v.as_object().unwrap().keys().collect();
            let props: Vec<_> = schema["properties"].as_object().unwrap().keys().collect();
            assert_eq!(keys, props, "example keys in schema order");
        }
    }

    #[test]
    fn outline_prompt_carries_the_request() {
        let text = &outline_messages(&request())[3].content;
        for needle in [
            "History of Jazz",
            "adult learners",
            "6 weeks",
            "exactly 3 modules",
            "English",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }
}
