//! The calls of a run, one builder per call kind (outline, module, rename): chat messages,
//! the reply's schema (from its type, see `reply`), the token budget and the seed.
//!
//! Module and rename prompts come in two layouts. `Layout::Continued` continues the outline
//! call's own conversation (its messages, then the outline reply exactly as the model wrote
//! it, then a turn asking for one module): an engine that kept that conversation in its
//! cache computes only the new turn. `Layout::Separate` stands alone (course, outline,
//! request), for the sequential baseline and for templates that re-render earlier replies.
//! Either way, what all modules share comes first and the line naming the module last: the
//! engine reuses the longest common token prefix.

mod item;

pub use self::item::{item_bound, Repeat};
use self::item::{ITEM_ASK, ITEM_ELSEWHERE};

use serde_json::Value;

use crate::course::reply::{ModuleReply, OutlineEntry, OutlineReply};
use crate::course::schema::{max_reply_tokens, Writing};
use crate::course::title::course_title;
use crate::course::CourseRequest;
use crate::engine::{CallOptions, ChatCall, ChatMessage, Phase};

const SYSTEM: &str = "You are a curriculum designer. You write clear, concrete course material \
that a teacher can hand out. You answer with one JSON object.";
const OUTLINE_ASK: &str = "Plan a course.";
const MODULE_ASK: &str = "Write one module of this course in detail.";
const KEYS: &str = "JSON keys:";
const GIVEN_MODULES: &str = "The teacher has chosen these modules, in this order:";
const NOTE: &str = "The teacher's note for this module:";
const RENAME_ASK: &str = "Give it a new short title that differs from every title above, and \
a focus of at most 12 words that fits its place in the course. JSON keys: title, focus.";
const REFOCUS_ASK: &str = "Keep its title, which the teacher chose, and give it a focus of at \
most 12 words that fits its place in the course. JSON keys: title, focus.";

/// The prompts' own words (not the user's, not the model's): a reply that repeats a run of
/// them copied the instructions instead of writing content.
pub fn fixed_texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        SYSTEM,
        OUTLINE_ASK,
        MODULE_ASK,
        RENAME_ASK,
        REFOCUS_ASK,
        GIVEN_MODULES,
        NOTE,
        ITEM_ASK,
        ITEM_ELSEWHERE,
    ]
    .map(str::to_string)
    .to_vec();
    let fields = OutlineReply::FIELDS
        .iter()
        .chain(&ModuleReply::FIELDS)
        .chain(&OutlineEntry::FIELDS);
    texts.extend(fields.map(|f| f.ask.to_string()));
    texts.push(OutlineReply::prompt_lines(1));
    texts
}

/// Every key of every reply schema.
pub fn schema_keys() -> Vec<&'static str> {
    let fields = OutlineReply::FIELDS
        .iter()
        .chain(&ModuleReply::FIELDS)
        .chain(&OutlineEntry::FIELDS);
    let mut keys: Vec<&'static str> = fields.map(|f| f.key).collect();
    keys.push("modules");
    keys
}

/// Seed of a call: distinct per phase, module and attempt, fixed by the run's seed.
pub fn call_seed(seed: u32, phase: Phase, index: usize, attempt: u32) -> u32 {
    let offset = match phase {
        Phase::Outline => 0,
        Phase::Module => 1 + index as u32,
        // Renames take their own range beside the outline's.
        Phase::Rename => 0x632B_E5AB_u32.wrapping_add(index as u32),
        Phase::Item => 0x1B87_3593_u32.wrapping_add(index as u32),
        Phase::Chat => index as u32,
    };
    seed.wrapping_add(offset)
        .wrapping_add((attempt - 1).wrapping_mul(0x9E37_79B9))
}

/// Why a module's title and focus are rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Its title repeats module `first` (0-based).
    Duplicate {
        /// The earlier module with the title.
        first: usize,
    },
    /// Its title or focus failed a check, for this reason.
    Unusable(String),
}

/// How module and rename prompts are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout<'a> {
    /// Each prompt stands alone: course, outline, request.
    Separate,
    /// Each prompt continues the outline call's conversation, whose reply was `reply`.
    Continued {
        /// The outline reply exactly as the model wrote it.
        reply: &'a str,
    },
}

/// Builds the calls of one run of one request.
#[derive(Debug, Clone, Copy)]
pub struct Calls<'a> {
    request: &'a CourseRequest,
    seed: u32,
    layout: Layout<'a>,
    note: Option<&'a str>,
}

impl<'a> Calls<'a> {
    /// Calls for `request` seeded from the run's `seed`, prompts laid out separately.
    pub fn new(request: &'a CourseRequest, seed: u32) -> Self {
        Self {
            request,
            seed,
            layout: Layout::Separate,
            note: None,
        }
    }

    /// The same calls with a teacher's note added to every module request.
    pub fn with_note(self, note: &'a str) -> Self {
        Self {
            note: Some(note),
            ..self
        }
    }

    /// The same calls with module and rename prompts continuing the outline conversation
    /// whose reply was `reply`.
    pub fn continuing(self, reply: &'a str) -> Self {
        Self {
            layout: Layout::Continued { reply },
            ..self
        }
    }

    /// How replies are written (letters, objective verbs), from the request's language.
    pub fn writing(&self) -> Writing {
        Writing::for_language(&self.request.language)
    }

    /// The layout of module and rename prompts.
    pub fn layout(&self) -> Layout<'a> {
        self.layout
    }

    /// The outline call's conversation with its reply: what continued prompts extend.
    pub fn conversation(&self, reply: &str) -> Vec<ChatMessage> {
        let mut messages = outline_messages(self.request);
        messages.push(ChatMessage::new("assistant", reply));
        messages
    }

    /// Messages asking `turn`: a conversation of their own, or the outline's continued.
    fn messages(&self, outline: &OutlineReply, turn: String) -> Vec<ChatMessage> {
        match self.layout {
            Layout::Separate => vec![
                ChatMessage::new("system", SYSTEM),
                ChatMessage::new(
                    "user",
                    format!("{}\n\n{turn}", course_context(self.request, outline)),
                ),
            ],
            Layout::Continued { reply } => {
                let mut messages = self.conversation(reply);
                messages.push(ChatMessage::new("user", turn));
                messages
            }
        }
    }

    fn call(
        &self,
        phase: Phase,
        index: usize,
        attempt: u32,
        messages: Vec<ChatMessage>,
        schema: Value,
    ) -> ChatCall {
        ChatCall {
            phase,
            index,
            group: 0,
            attempt,
            messages,
            max_tokens: max_reply_tokens(&schema),
            schema,
            seed: call_seed(self.seed, phase, index, attempt),
            options: CallOptions::default(),
        }
    }

    /// The outline call.
    pub fn outline(&self, attempt: u32) -> ChatCall {
        let given = self.request.outline.as_ref();
        let schema = OutlineReply::schema(self.request.modules, self.writing(), given);
        self.call(
            Phase::Outline,
            0,
            attempt,
            outline_messages(self.request),
            schema,
        )
    }

    /// The call that writes module `index` (0-based) of `outline`.
    pub fn module(&self, outline: &OutlineReply, index: usize, attempt: u32) -> ChatCall {
        let mut turn = module_turn(self.request, outline, index);
        if let Some(note) = self.note {
            turn = format!("{turn}\n{NOTE} {note}");
        }
        let messages = self.messages(outline, turn);
        self.call(
            Phase::Module,
            index,
            attempt,
            messages,
            ModuleReply::schema(self.writing()),
        )
    }

    /// The call that rewrites the title and focus of module `index` (0-based).
    pub fn rename(
        &self,
        outline: &OutlineReply,
        index: usize,
        why: &Repair,
        attempt: u32,
    ) -> ChatCall {
        // A teacher's title stays: only the focus is written again.
        let given = self
            .request
            .outline
            .as_ref()
            .and_then(|g| g.modules.get(index));
        let ask = if given.is_some() {
            REFOCUS_ASK
        } else {
            RENAME_ASK
        };
        let turn = match why {
            Repair::Duplicate { first } => format!(
                "Module {} has the same title as module {}. {ask}",
                index + 1,
                first + 1
            ),
            Repair::Unusable(reason) => format!(
                "The title or focus of module {} cannot be used ({reason}). {ask}",
                index + 1
            ),
        };
        let messages = self.messages(outline, turn);
        self.call(
            Phase::Rename,
            index,
            attempt,
            messages,
            OutlineEntry::schema(self.writing(), given),
        )
    }
}

impl Calls<'_> {
    /// The call that writes repeat `n` (0-based, of this run's repeats) anew.
    pub fn item(
        &self,
        outline: &OutlineReply,
        repeat: &Repeat,
        n: usize,
        attempt: u32,
    ) -> ChatCall {
        let turn = item::turn(outline, repeat, &self.request.language);
        let messages = self.messages(outline, turn);
        let schema = item::schema(repeat, self.writing());
        self.call(Phase::Item, n, attempt, messages, schema)
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
    lines.push(format!("Write every text in {}.", request.language));
    lines.join("\n")
}

/// Messages for the outline call.
pub fn outline_messages(request: &CourseRequest) -> Vec<ChatMessage> {
    // A teacher's modules are named up front, so what comes before them in the reply
    // (description, outcomes) can fit them.
    let given = request.outline.as_ref().map_or_else(String::new, |g| {
        let lines: Vec<String> = g
            .modules
            .iter()
            .enumerate()
            .map(|(i, m)| match &m.focus {
                Some(f) => format!("{}. {}: {f}", i + 1, m.title),
                None => format!("{}. {}", i + 1, m.title),
            })
            .collect();
        format!("\n{GIVEN_MODULES}\n{}", lines.join("\n"))
    });
    let user = format!(
        "{OUTLINE_ASK}\n{}{given}\n{KEYS}\n{}",
        course_lines(request),
        OutlineReply::prompt_lines(request.modules)
    );
    vec![
        ChatMessage::new("system", SYSTEM),
        ChatMessage::new("user", user),
    ]
}

/// The course as the module and rename calls see it: title, request and the outline's
/// modules (the description is left out: every module prompt reads all of this).
fn course_context(request: &CourseRequest, outline: &OutlineReply) -> String {
    let mut lines = vec![format!(
        "Course: {}",
        course_title(&request.topic, &outline.title)
    )];
    lines.extend(request.audience.iter().map(|a| format!("Audience: {a}")));
    lines.extend(request.level.iter().map(|l| format!("Level: {l}")));
    lines.extend(request.weeks.iter().map(|w| format!("Length: {w} weeks")));
    lines.push(format!("Write every text in {}.", request.language));
    lines.push("Modules:".into());
    for (i, m) in outline.modules.iter().enumerate() {
        lines.push(format!("{}. {}: {}", i + 1, m.title, m.focus));
    }
    lines.join("\n")
}

/// The module turn: what is shared by every module first, the module named last (see the
/// module docs). It names the module's title and focus as they stand after cleaning and
/// renames, which may differ from the outline reply it follows.
fn module_turn(request: &CourseRequest, outline: &OutlineReply, index: usize) -> String {
    let entry = &outline.modules[index];
    format!(
        "{MODULE_ASK} Write every text in {}. {KEYS}\n{}\nThe module: {}. {}: {}",
        request.language,
        ModuleReply::prompt_lines(),
        index + 1,
        entry.title,
        entry.focus
    )
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
