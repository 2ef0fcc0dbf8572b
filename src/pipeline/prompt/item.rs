//! The call that writes one list item anew (an item a module repeated word for word from an
//! earlier module or the course outcomes): its turn and its schema.

use serde_json::Value;

use crate::course::content::Kind;
use crate::course::reply::{ModuleReply, OutlineReply};
use crate::course::schema::{self, Field, Shape, Writing};

/// The item call's instruction, after the naming of the repeat.
pub const ITEM_ASK: &str = "Write one different item for this module's list, at most 15 \
words. JSON key: item.";

/// The later attempts' ask, before the module's title: the repeated text left out.
pub const ITEM_AGAIN: &str = "that no other module covers";

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

/// The turn asking for `repeat` anew, in `language`. After a first attempt the repeated
/// text is left out (a small model asked again tends to copy what it is shown): a later
/// turn is the first one's end, so it never needs more room than the first planned.
pub fn turn(outline: &OutlineReply, repeat: &Repeat, language: &str, attempt: u32) -> String {
    let entry = &outline.modules[repeat.module];
    let list = repeat.field.replace('_', " ");
    let ask = format!(
        "Name one more of the {list} of module {} ({}: {}), on a part of \"{}\" {ITEM_AGAIN}. Write in {language}. {ITEM_ASK}",
        repeat.module + 1,
        entry.title,
        entry.focus,
        entry.title,
    );
    if attempt <= 1 {
        format!(
            "The {list} item \"{}\" of module {} repeats {} word for word. {ask}",
            repeat.item,
            repeat.module + 1,
            repeat.first,
        )
    } else {
        ask
    }
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
    fn an_item_asked_again_does_not_show_the_repeated_text() {
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
        let repeat = Repeat {
            module: 1,
            field: "topics",
            position: 0,
            item: "The evolution of swing".into(),
            first: "module 1".into(),
        };
        let first = turn(&outline, &repeat, "English", 1);
        assert!(
            first.contains("\"The evolution of swing\" of module 2 repeats module 1"),
            "{first}"
        );
        let again = turn(&outline, &repeat, "English", 2);
        assert!(!again.contains("evolution"), "{again}");
        assert!(
            first.ends_with(&again),
            "a later turn is the first one's end"
        );
        assert!(again.contains("module 2 (Swing: Swing era)") && again.contains(ITEM_AGAIN));
    }
}
