//! Best effort: what a reply that failed its checks still offers, each problem named with
//! its field, so a run can keep the best of a call's attempts (marked for review) instead
//! of losing everything. A reply cut by its token budget is closed first: the grammar
//! keeps every prefix of a reply a prefix of valid JSON.

use serde_json::{Map, Value};

use super::validate::ReplyRefusal;
use super::{ModuleReply, OutlineEntry, OutlineReply};
use crate::course::content::{Checker, Kind, TextRefusal};
use crate::course::schema::{Field, Shape, MIN_ITEMS};

/// One problem of a kept reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaw {
    /// The field, as the reply names it ("assessment", "modules[1].title").
    pub field: String,
    /// Why it needs a teacher's look.
    pub reason: String,
    /// How bad: a missing field weighs most, a trimmed one least.
    pub weight: u32,
}

/// A reply kept despite its flaws.
#[derive(Debug, Clone)]
pub struct Salvaged<T> {
    /// The reply, every field present (empty where nothing usable came).
    pub value: T,
    /// Its problems, none of them fatal.
    pub flaws: Vec<Flaw>,
}

impl<T> Salvaged<T> {
    /// The sum of the flaws' weights: of two attempts, the lighter is kept.
    pub fn weight(&self) -> u32 {
        self.flaws.iter().map(|f| f.weight).sum()
    }

    /// The same flaws on another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Salvaged<U> {
        Salvaged {
            value: f(self.value),
            flaws: self.flaws,
        }
    }
}

const MISSING: u32 = 4;
const EMPTY: u32 = 3;
const REFUSED: u32 = 2;
const TRIMMED: u32 = 1;

/// The reply as JSON, closed at its last complete value when it was cut short; `None`
/// when not even an object's opening survives.
pub fn close_json(text: &str) -> Option<Map<String, Value>> {
    let text = text.trim();
    if let Ok(Value::Object(map)) = serde_json::from_str(text) {
        return Some(map);
    }
    // Places where a prefix may end: inside a string (closed with a quote), or right after
    // a value; each with the containers open there.
    let mut stack = Vec::new();
    let mut cuts: Vec<(usize, String, bool)> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    in_string = false;
                    cuts.push((end, stack.iter().rev().collect(), false));
                }
                _ => cuts.push((end, stack.iter().rev().collect(), true)),
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => stack.push('}'),
            '[' => stack.push(']'),
            '}' | ']' => {
                stack.pop();
                cuts.push((end, stack.iter().rev().collect(), false));
            }
            _ => {}
        }
    }
    cuts.iter()
        .rev()
        .take(4096)
        .find_map(|(end, closers, open)| {
            let quote = if *open && !text[..*end].ends_with('\\') {
                "\""
            } else if *open {
                return None;
            } else {
                ""
            };
            let candidate = format!("{}{quote}{closers}", &text[..*end]);
            match serde_json::from_str(&candidate) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            }
        })
}

/// Why a field is missing, for the reader.
fn missing(ended_early: bool) -> String {
    if ended_early {
        "missing: the reply ran out of its token budget before it".into()
    } else {
        "missing from the reply".into()
    }
}

/// Checks `raw`'s fields of `table` leniently into `out`, naming each problem in `flaws`
/// (field names prefixed with `prefix`).
struct Lenient<'a> {
    checker: &'a Checker,
    ended_early: bool,
    flaws: Vec<Flaw>,
}

impl Lenient<'_> {
    fn flaw(&mut self, field: String, reason: String, weight: u32) {
        self.flaws.push(Flaw {
            field,
            reason,
            weight,
        });
    }

    fn refusal(&mut self, name: &str, r: TextRefusal, value: &str) {
        let weight = match r {
            TextRefusal::Cut => TRIMMED,
            TextRefusal::Empty => EMPTY,
            _ => REFUSED,
        };
        let reason = ReplyRefusal::refused(name, value, r).to_string();
        self.flaw(name.into(), reason, weight);
    }

    fn fields(&mut self, raw: &Map<String, Value>, table: &[Field], prefix: &str) -> Value {
        let mut out = Map::new();
        for f in table {
            let name = format!("{prefix}{}", f.key);
            let value = match (f.shape, raw.get(f.key)) {
                (Shape::Text(max, kind), Some(Value::String(s))) => {
                    Value::String(self.text(&name, s, kind, max))
                }
                (Shape::List { item, kind, .. }, Some(Value::Array(items))) => {
                    let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    Value::from(self.list(&name, &items, kind, item))
                }
                (Shape::Text(..), _) => {
                    self.flaw(name, missing(self.ended_early), MISSING);
                    Value::String(String::new())
                }
                (Shape::List { .. }, _) => {
                    self.flaw(name, missing(self.ended_early), MISSING);
                    Value::Array(Vec::new())
                }
            };
            out.insert(f.key.to_string(), value);
        }
        Value::Object(out)
    }

    /// Marks the field where a reply cut by its budget ends (its last key), unless a
    /// flaw names it already: what it held was cut, even when what is left passes.
    fn ended_at(&mut self, raw: &Map<String, Value>) {
        let Some(last) = raw.keys().next_back() else {
            return;
        };
        if !self.flaws.iter().any(|f| f.field == *last) {
            let why = "the reply ran out of its token budget here; its end may be missing";
            self.flaw(last.clone(), why.into(), TRIMMED);
        }
    }

    fn text(&mut self, name: &str, value: &str, kind: Kind, max: u64) -> String {
        let (text, refusal) = self.checker.best_effort(value, kind, max);
        if let Some(r) = refusal {
            self.refusal(name, r, value);
        }
        text
    }

    /// Items that pass; when too few, refused items a reader can still use are added back.
    fn list(&mut self, name: &str, items: &[&str], kind: Kind, max: u64) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let (mut good, mut usable, mut first_refusal) = (Vec::new(), Vec::new(), None);
        for value in items {
            match self.checker.best_effort(value, kind, max) {
                (text, None) if seen.insert(text.to_lowercase()) => good.push(text),
                (_, None) => {}
                (text, Some(r)) => {
                    if !matches!(r, TextRefusal::Cut | TextRefusal::Empty)
                        && first_refusal.is_none()
                    {
                        first_refusal = Some((r.clone(), value.to_string()));
                    }
                    if !text.is_empty() && seen.insert(text.to_lowercase()) {
                        usable.push((text, r));
                    }
                }
            }
        }
        if let Some((r, value)) = first_refusal {
            self.refusal(name, r, &value);
        }
        if good.len() < MIN_ITEMS {
            let found = good.len();
            for (text, r) in usable.into_iter().take(MIN_ITEMS - found) {
                if r == TextRefusal::Cut {
                    self.refusal(name, r, &text);
                }
                good.push(text);
            }
            if good.len() < MIN_ITEMS {
                let why = ReplyRefusal::TooFew {
                    field: name.into(),
                    found: good.len(),
                };
                let weight = if good.is_empty() { EMPTY } else { REFUSED };
                self.flaw(name.into(), why.to_string(), weight);
            }
        }
        good
    }
}

/// Whether a kept value holds any text at all.
fn has_text(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(has_text),
        Value::Object(map) => map.values().any(has_text),
        _ => false,
    }
}

impl ModuleReply {
    /// What a failed module reply still offers, or `None` when nothing of it can be used.
    /// `ended_early`: the reply ran out of its token budget.
    pub fn salvage(text: &str, ended_early: bool, checker: &Checker) -> Option<Salvaged<Self>> {
        let raw = close_json(text)?;
        let mut l = Lenient {
            checker,
            ended_early,
            flaws: Vec::new(),
        };
        let value = l.fields(&raw, &Self::FIELDS, "");
        if !has_text(&value) {
            return None;
        }
        if ended_early {
            l.ended_at(&raw);
        }
        let value = serde_json::from_value(value).ok()?;
        Some(Salvaged {
            value,
            flaws: l.flaws,
        })
    }
}

impl OutlineEntry {
    /// A module entry as far as it can be used, with its flaws (numbered `index`, 0-based).
    pub fn salvage(&self, index: usize, checker: &Checker) -> Salvaged<Self> {
        let mut raw = Map::new();
        raw.insert("title".into(), self.title.clone().into());
        raw.insert("focus".into(), self.focus.clone().into());
        let mut l = Lenient {
            checker,
            ended_early: false,
            flaws: Vec::new(),
        };
        let value = l.fields(&raw, &Self::FIELDS, &format!("modules[{index}]."));
        let mut entry: Self = serde_json::from_value(value).expect("both fields are strings");
        if entry.title.is_empty() {
            entry.title = format!("Module {}", index + 1);
        }
        Salvaged {
            value: entry,
            flaws: l.flaws,
        }
    }
}

impl OutlineReply {
    /// What a failed outline reply still offers for `expected` modules: course fields kept
    /// with their flaws, module entries as written (the caller checks and rewrites them).
    /// `None` when it does not hold `expected` module entries.
    pub fn salvage(
        text: &str,
        expected: usize,
        ended_early: bool,
        checker: &Checker,
    ) -> Option<Salvaged<Self>> {
        let raw = close_json(text)?;
        let modules: Vec<OutlineEntry> = raw
            .get("modules")
            .and_then(|m| serde_json::from_value::<Vec<Map<String, Value>>>(m.clone()).ok())?
            .into_iter()
            .filter_map(|m| {
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let title = text("title");
                (!title.trim().is_empty()).then(|| OutlineEntry {
                    title,
                    focus: text("focus"),
                })
            })
            .take(expected)
            .collect();
        if modules.len() < expected {
            return None;
        }
        let mut l = Lenient {
            checker,
            ended_early,
            flaws: Vec::new(),
        };
        let mut value = l.fields(&raw, &Self::FIELDS, "");
        value["modules"] = serde_json::to_value(&modules).ok()?;
        let value = serde_json::from_value(value).ok()?;
        Some(Salvaged {
            value,
            flaws: l.flaws,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> String {
        serde_json::json!({
            "summary": "Rocks and how they form.",
            "learning_objectives": ["Name rock types", "Explain the rock cycle"],
            "topics": ["Igneous rocks", "Sediments"],
            "activities": ["Sort samples", "Draw the cycle"],
            "assessment": "A short quiz on rock types.",
        })
        .to_string()
    }

    #[test]
    fn a_reply_cut_anywhere_is_closed_at_its_last_complete_value() {
        let text = full();
        for len in 1..text.len() {
            if !text.is_char_boundary(len) {
                continue;
            }
            let Some(map) = close_json(&text[..len]) else {
                assert!(len < 14, "nothing kept from {len} bytes");
                continue;
            };
            assert!(map.len() <= 5);
        }
        let cut = &text[..text.find("Sediments").unwrap() + 3];
        let map = close_json(cut).unwrap();
        assert_eq!(map["topics"], serde_json::json!(["Igneous rocks", "Sed"]));
        assert!(!map.contains_key("activities"));
    }

    #[test]
    fn a_module_cut_by_its_budget_is_kept_with_its_missing_fields_named() {
        let text = full();
        let cut = &text[..text.find("\"activities\"").unwrap()];
        let kept = ModuleReply::salvage(cut, true, &Checker::default()).unwrap();
        assert_eq!(kept.value.topics, ["Igneous rocks", "Sediments"]);
        assert!(kept.value.activities.is_empty() && kept.value.assessment.is_empty());
        let fields: Vec<&str> = kept.flaws.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["activities", "assessment", "topics"]);
        assert!(
            kept.flaws[0].reason.contains("token budget"),
            "{:?}",
            kept.flaws
        );
        assert_eq!(kept.weight(), 2 * MISSING + TRIMMED);
        assert!(ModuleReply::salvage("{\"summ", true, &Checker::default()).is_none());
        assert!(ModuleReply::salvage("not json", false, &Checker::default()).is_none());
    }

    #[test]
    fn debris_is_dropped_and_a_short_list_is_flagged() {
        let checker = Checker::new(["learning_objectives"], []);
        let mut v: Value = serde_json::from_str(&full()).unwrap();
        v["topics"] = serde_json::json!(["Igneous rocks", "learning_objectives"]);
        let kept = ModuleReply::salvage(&v.to_string(), false, &checker).unwrap();
        assert_eq!(kept.value.topics, ["Igneous rocks"]);
        let reasons: Vec<&str> = kept.flaws.iter().map(|f| f.reason.as_str()).collect();
        assert!(reasons[0].contains("schema debris"), "{reasons:?}");
        assert!(reasons[1].contains("at least 2"), "{reasons:?}");
        let clean = ModuleReply::salvage(&full(), false, &checker).unwrap();
        assert!(clean.flaws.is_empty());
    }

    #[test]
    fn an_outline_needs_every_module_entry() {
        let outline = serde_json::json!({"title": "Geology", "description": "Rocks.",
            "audience": "Adults", "prerequisites": ["Reading"],
            "learning_outcomes": ["Name rocks", "Read maps"],
            "modules": [{"title": "Rocks", "focus": "Kinds"}, {"title": "Maps", "focus": "Reading"}]})
        .to_string();
        let kept = OutlineReply::salvage(&outline, 2, false, &Checker::default()).unwrap();
        assert_eq!(kept.value.modules.len(), 2);
        assert_eq!(kept.flaws.len(), 1, "{:?}", kept.flaws);
        assert_eq!(kept.flaws[0].field, "prerequisites");
        assert!(OutlineReply::salvage(&outline, 3, false, &Checker::default()).is_none());
        let entry = OutlineEntry {
            title: "  ".into(),
            focus: "Kinds of rock".into(),
        };
        let kept = entry.salvage(1, &Checker::default());
        assert_eq!(kept.value.title, "Module 2");
        assert_eq!(kept.flaws[0].field, "modules[1].title");
    }
}
