//! The calls of a run, one builder per call kind (outline, module, rename): chat messages,
//! the reply's schema (from its type, see `reply`), the token budget and the seed.
//!
//! Module prompts are laid out so that everything shared by all modules (system text,
//! course context, the whole outline, the reply format) comes first and the one line
//! naming the module comes last: the engine reuses the longest common token prefix.

use serde_json::Value;

use crate::course::CourseRequest;
use crate::engine::{ChatCall, ChatMessage, Phase};
use crate::reply::{ModuleReply, OutlineEntry, OutlineReply};
use crate::schema::max_reply_tokens;

const SYSTEM: &str = "You are an experienced curriculum designer. You write clear, concrete, \
practical course material for teachers. You answer with one JSON object and nothing else.";

/// Seed of a call: distinct per phase, module and attempt, fixed by the run's seed.
pub fn call_seed(seed: u32, phase: Phase, index: usize, attempt: u32) -> u32 {
    let offset = match phase {
        Phase::Outline => 0,
        Phase::Module => 1 + index as u32,
        // Renames take their own range beside the outline's.
        Phase::Rename => 0x632B_E5AB_u32.wrapping_add(index as u32),
    };
    seed.wrapping_add(offset)
        .wrapping_add((attempt - 1).wrapping_mul(0x9E37_79B9))
}

/// Builds the calls of one run of one request.
#[derive(Debug, Clone, Copy)]
pub struct Calls<'a> {
    request: &'a CourseRequest,
    seed: u32,
}

impl<'a> Calls<'a> {
    /// Calls for `request` seeded from the run's `seed`.
    pub fn new(request: &'a CourseRequest, seed: u32) -> Self {
        Self { request, seed }
    }

    fn call(
        &self,
        (phase, index, attempt): (Phase, usize, u32),
        messages: Vec<ChatMessage>,
        schema: Value,
    ) -> ChatCall {
        ChatCall {
            phase,
            index,
            attempt,
            messages,
            max_tokens: max_reply_tokens(&schema),
            schema,
            seed: call_seed(self.seed, phase, index, attempt),
        }
    }

    /// The outline call.
    pub fn outline(&self, attempt: u32) -> ChatCall {
        let id = (Phase::Outline, 0, attempt);
        let schema = OutlineReply::schema(self.request.modules);
        self.call(id, outline_messages(self.request), schema)
    }

    /// The call that writes module `index` (0-based) of `outline`.
    pub fn module(&self, outline: &OutlineReply, index: usize, attempt: u32) -> ChatCall {
        let messages = module_messages(self.request, outline, index);
        self.call(
            (Phase::Module, index, attempt),
            messages,
            ModuleReply::schema(),
        )
    }

    /// The call that renames module `index` (0-based), whose title repeats module `first`.
    pub fn rename(
        &self,
        outline: &OutlineReply,
        index: usize,
        first: usize,
        attempt: u32,
    ) -> ChatCall {
        let messages = rename_messages(self.request, outline, index, first);
        self.call(
            (Phase::Rename, index, attempt),
            messages,
            OutlineEntry::schema(),
        )
    }
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
        "Plan a course.\n{course}\n\nReply with a JSON object with these keys:\n{}",
        OutlineReply::prompt_lines(modules)
    )
}

/// Messages for the outline call.
pub fn outline_messages(request: &CourseRequest) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", SYSTEM),
        ChatMessage::new("user", outline_request(EXAMPLE_COURSE, 3)),
        ChatMessage::new("assistant", EXAMPLE_OUTLINE),
        ChatMessage::new(
            "user",
            outline_request(&course_lines(request), request.modules),
        ),
    ]
}

fn module_request(context: &str, plan: &str, number: usize, title: &str, focus: &str) -> String {
    // Shared text first, the module named last: see the module docs.
    format!(
        "{context}\n\nCourse outline:\n{plan}\n\n\
         Write one module of this course in detail. Reply with a JSON object with these keys:\n{}\n\n\
         The module to write is module {number}: {title} ({focus})",
        ModuleReply::prompt_lines()
    )
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

fn rename_messages(
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
        ChatMessage::new("system", SYSTEM),
        ChatMessage::new("user", user),
    ]
}

fn module_messages(
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
        ChatMessage::new("system", SYSTEM),
        ChatMessage::new("user", example),
        ChatMessage::new("assistant", EXAMPLE_MODULE),
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

    #[test]
    fn seeds_differ_per_call_and_attempt_and_repeat_per_run() {
        let mut seen = std::collections::HashSet::new();
        for attempt in 1..=3 {
            assert!(seen.insert(call_seed(7, Phase::Outline, 0, attempt)));
            for i in 0..16 {
                assert!(seen.insert(call_seed(7, Phase::Module, i, attempt)));
                assert!(seen.insert(call_seed(7, Phase::Rename, i, attempt)));
            }
        }
        assert_eq!(
            call_seed(7, Phase::Module, 3, 2),
            call_seed(7, Phase::Module, 3, 2)
        );
    }

    #[test]
    fn each_call_kind_gets_its_schema_budget_and_phase() {
        let (r, o) = (request(), outline());
        let calls = Calls::new(&r, 7);
        let outline_call = calls.outline(1);
        assert_eq!(outline_call.schema["properties"]["modules"]["maxItems"], 3);
        assert_eq!(
            outline_call.max_tokens,
            max_reply_tokens(&outline_call.schema)
        );
        let module = calls.module(&o, 2, 2);
        assert_eq!(
            (module.phase, module.index, module.attempt),
            (Phase::Module, 2, 2)
        );
        assert_eq!(module.schema, ModuleReply::schema());
        let rename = calls.rename(&o, 2, 0, 1);
        assert_eq!(rename.phase, Phase::Rename);
        assert!(rename.messages[1]
            .content
            .contains("Module 3 has the same title as module 1"));
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
        ModuleReply::parse_valid(EXAMPLE_MODULE).unwrap();
        for (text, schema) in [
            (EXAMPLE_OUTLINE, OutlineReply::schema(3)),
            (EXAMPLE_MODULE, ModuleReply::schema()),
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
