//! The call that writes one list item anew (an item a module repeated word for word from an
//! earlier module or the course outcomes): its turn and its schema.

use serde_json::Value;

use crate::course::content::Kind;
use crate::course::reply::{ModuleReply, OutlineReply};
use crate::course::schema::{self, Field, Shape, Writing};

/// The item call's instruction, first: every item call of a run starts with the same words,
/// so the engine computes them once for all (an item's own words cost a prompt pass each).
pub const ITEM_ASK: &str = "Write one different item for a module's list, at most 15 \
words. JSON key: item.";

/// The ask's words after the module's title.
pub const ITEM_ELSEWHERE: &str = "that no other module covers";

/// An item to write anew: where it is and what it repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// 0-based module.
    pub module: usize,
    /// The list's key ("learning_objectives", "topics", "activities").
    pub field: &'static str,
    /// 0-based place in the list.
    pub position: usize,
    /// The repeated text.
    pub item: String,
    /// Where it appeared first ("module 1", "a course outcome").
    pub first: String,
}

/// The turn asking for `repeat` anew, in `language`: what every item call says first, then
/// its module and list. The repeated text is not shown: a small model shown it tends to copy
/// it, and asked without it took fewer attempts (docs/generate.md).
pub fn turn(outline: &OutlineReply, repeat: &Repeat, language: &str) -> String {
    let entry = &outline.modules[repeat.module];
    format!(
        "{ITEM_ASK} Write in {language}. Module {} ({}: {}): name one more of its {}, on a \
         part of \"{}\" {ITEM_ELSEWHERE}.",
        repeat.module + 1,
        entry.title,
        entry.focus,
        repeat.field.replace('_', " "),
        entry.title,
    )
}

/// The reply's schema: one key, `item`, bounded like the list's own items.
pub fn schema(repeat: &Repeat, writing: Writing) -> Value {
    // The list's own bound and kind: an objective written anew opens with a verb too.
    let (max, kind) = item_bound(repeat.field);
    let field = Field::text("item", max, kind, "one new item");
    schema::top_level(schema::object(schema::properties(&[field], writing)))
}

/// Characters an item of the module list `field` may have, and how it is checked.
pub fn item_bound(field: &str) -> (u64, Kind) {
    ModuleReply::FIELDS
        .iter()
        .find_map(|f| match f.shape {
            Shape::List { item, kind, .. } if f.key == field => Some((item, kind)),
            _ => None,
        })
        .unwrap_or((150, Kind::Item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::reply::OutlineEntry;

    #[test]
    fn an_item_ask_starts_like_every_other_and_does_not_show_the_repeated_text() {
        let outline = OutlineReply {
            title: "Jazz".into(),
            description: "From New Orleans to now.".into(),
            audience: "Adults".into(),
            prerequisites: vec!["None".into(), "Curiosity".into()],
            learning_outcomes: vec!["Name styles".into(), "Hear forms".into()],
            modules: ["Roots", "Swing"]
                .map(|t| OutlineEntry {
                    title: t.into(),
                    focus: format!("{t} era"),
                })
                .into(),
        };
        let repeat = |module, field| Repeat {
            module,
            field,
            position: 0,
            item: "The evolution of swing".into(),
            first: "module 1".into(),
        };
        let ask = turn(&outline, &repeat(1, "learning_objectives"), "English");
        assert_eq!(
            ask,
            format!(
                "{ITEM_ASK} Write in English. Module 2 (Swing: Swing era): name one more of its \
                 learning objectives, on a part of \"Swing\" {ITEM_ELSEWHERE}."
            )
        );
        assert!(!ask.contains("evolution"), "{ask}");
        // Every item call of a run starts alike (the engine computes that start once).
        let other = turn(&outline, &repeat(0, "topics"), "English");
        let common = ask
            .chars()
            .zip(other.chars())
            .take_while(|(a, b)| a == b)
            .count();
        assert_eq!(
            &ask[..common],
            format!("{ITEM_ASK} Write in English. Module ")
        );
    }
}
