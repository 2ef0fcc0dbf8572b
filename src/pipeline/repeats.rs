//! Items a module repeats word for word from an earlier module or the course outcomes are
//! written anew, each by a small call of its own (all in one batch, regenerated as they
//! finish, as modules are), not by writing the module again. An item no attempt mends is
//! left out while its list keeps enough items, else kept and marked for review.

use std::collections::HashSet;

use serde::Deserialize;

use super::attempts::check;
use super::phase_state::PhaseState;
use super::prompt::{item_bound, Calls, Repeat};
use crate::course::content::near_duplicate;
use crate::course::reply::salvage::Flaw;
use crate::course::reply::validate::ReplyRefusal;
use crate::course::reply::{ModuleReply, OutlineReply};
use crate::course::schema::MIN_ITEMS;
use crate::engine::{BatchStats, ChatCall, Engine, EngineError};

/// The lists whose items must not repeat another module's.
const LISTS: [&str; 3] = ["learning_objectives", "topics", "activities"];

/// The item call's reply.
#[derive(Deserialize)]
struct ItemReply {
    item: String,
}

fn list<'a>(reply: &'a ModuleReply, field: &str) -> &'a [String] {
    match field {
        "learning_objectives" => &reply.learning_objectives,
        "topics" => &reply.topics,
        _ => &reply.activities,
    }
}

fn list_mut<'a>(reply: &'a mut ModuleReply, field: &str) -> &'a mut Vec<String> {
    match field {
        "learning_objectives" => &mut reply.learning_objectives,
        "topics" => &mut reply.topics,
        _ => &mut reply.activities,
    }
}

/// An item as compared: its words, lowercase.
fn key(text: &str) -> String {
    crate::course::content::words(text).join(" ")
}

/// Every item that repeats one of the course outcomes or of an earlier module, in order.
pub(super) fn find(outcomes: &[String], replies: &[ModuleReply]) -> Vec<Repeat> {
    let mut first: std::collections::HashMap<String, String> = outcomes
        .iter()
        .map(|o| (key(o), "a course outcome".to_string()))
        .collect();
    let mut found = Vec::new();
    for (module, reply) in replies.iter().enumerate() {
        let mut here = Vec::new();
        for field in LISTS {
            for (position, item) in list(reply, field).iter().enumerate() {
                let k = key(item);
                match first.get(&k) {
                    Some(place) => found.push(Repeat {
                        module,
                        field,
                        position,
                        item: item.clone(),
                        first: place.clone(),
                    }),
                    None => here.push(k),
                }
            }
        }
        for k in here {
            first
                .entry(k)
                .or_insert_with(|| format!("module {}", module + 1));
        }
    }
    found
}

/// Writes every repeated item of `replies` anew; the batch's figures when there were any.
pub(super) fn mend(
    engine: &mut dyn Engine,
    outline: &OutlineReply,
    replies: &mut [ModuleReply],
    builder: &Calls<'_>,
    ctx: &mut PhaseState<'_>,
) -> anyhow::Result<Option<BatchStats>> {
    let repeats = find(&outline.learning_outcomes, replies);
    if repeats.is_empty() {
        return Ok(None);
    }
    tracing::info!(items = repeats.len(), "writing repeated items anew");
    let mut taken: HashSet<String> = outline.learning_outcomes.iter().map(|o| key(o)).collect();
    taken.extend(replies.iter().flat_map(|r| {
        LISTS
            .iter()
            .flat_map(move |f| list(r, f).iter().map(|i| key(i)))
    }));
    let mut new: Vec<Option<String>> = vec![None; repeats.len()];
    let mut errors = vec![String::new(); repeats.len()];
    let batch: Vec<ChatCall> = (0..repeats.len())
        .map(|n| builder.item(outline, &repeats[n], n, 1))
        .collect();
    let (checker, attempts) = (ctx.checker, ctx.attempts);
    let ran = engine.run_with_follow_ups(&batch, ctx.strategy, ctx.progress, &mut |call, out| {
        let (n, repeat) = (call.index, &repeats[call.index]);
        let parsed = check(out, |t| {
            serde_json::from_str::<ItemReply>(t.trim())
                .map_err(|e| ReplyRefusal::Parse(e.to_string()))
        })
        .and_then(|r| {
            let (max, kind) = item_bound(repeat.field);
            checker
                .text(&r.item, kind, max)
                .map_err(|why| ReplyRefusal::refused("item", &r.item, why).to_string())
        })
        .and_then(|text| match sibling_of(replies, &repeats, n, &new, &text) {
            Some(other) => Err(format!("\"{text}\" says what \"{other}\" says")),
            None => Ok(text),
        })
        .and_then(|text| match taken.insert(key(&text)) {
            true => Ok(text),
            false => Err(format!("\"{text}\" repeats another item too")),
        });
        match parsed {
            Ok(text) => {
                new[n] = Some(text);
                None
            }
            Err(e) => {
                tracing::debug!(item = n + 1, attempt = call.attempt, error = %e, "item rejected");
                errors[n] = e;
                (call.attempt < attempts)
                    .then(|| builder.item(outline, repeat, n, call.attempt + 1))
            }
        }
    });
    let (outs, stats) = match ran {
        Ok(ran) => ran,
        // The modules are written: an engine that fails on these small calls costs the
        // repeated items, not the course (unless it was ended on purpose, or --strict).
        Err(e) if ctx.strict || EngineError::is_ended(&e) => return Err(e),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "repeated items could not be written anew");
            apply(replies, &repeats, vec![None; repeats.len()], ctx);
            return Ok(None);
        }
    };
    ctx.calls.extend(outs.into_iter().map(|o| o.record));
    apply(replies, &repeats, new, ctx);
    Ok(Some(stats))
}

/// An item of the list repeat `n` mends (or an item already written anew for that list)
/// that `text` says again: a new item must not near-duplicate its own list.
fn sibling_of<'a>(
    replies: &'a [ModuleReply],
    repeats: &[Repeat],
    n: usize,
    new: &'a [Option<String>],
    text: &str,
) -> Option<&'a str> {
    let r = &repeats[n];
    let kept = list(&replies[r.module], r.field)
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != r.position)
        .map(|(_, item)| item.as_str());
    let written = repeats
        .iter()
        .zip(new)
        .enumerate()
        .filter(|(k, (o, _))| *k != n && o.module == r.module && o.field == r.field)
        .filter_map(|(_, (_, t))| t.as_deref());
    kept.chain(written)
        .find(|other| near_duplicate(other, text))
}

/// Puts the new items in place; an item left unmended is dropped while its list keeps
/// enough items, else kept and marked for review.
fn apply(
    replies: &mut [ModuleReply],
    repeats: &[Repeat],
    new: Vec<Option<String>>,
    ctx: &mut PhaseState<'_>,
) {
    let mut dropped: Vec<&Repeat> = Vec::new();
    for (repeat, text) in repeats.iter().zip(new) {
        match text {
            Some(text) => {
                list_mut(&mut replies[repeat.module], repeat.field)[repeat.position] = text
            }
            None => dropped.push(repeat),
        }
    }
    // From the end of each list, so earlier positions stay where they were.
    dropped.sort_by_key(|r| std::cmp::Reverse((r.module, r.field, r.position)));
    for repeat in dropped {
        let items = list_mut(&mut replies[repeat.module], repeat.field);
        if items.len() > MIN_ITEMS {
            tracing::warn!(module = repeat.module + 1, field = repeat.field, item = %repeat.item, "repeated item left out");
            items.remove(repeat.position);
        } else {
            let reason = format!(
                "\"{}\" repeats {} word for word; no new item could be written",
                repeat.item, repeat.first
            );
            let flaw = Flaw {
                field: repeat.field.to_string(),
                reason,
                weight: 1,
            };
            ctx.flag(Some(repeat.module), &[flaw]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(objectives: &[&str], topics: &[&str]) -> ModuleReply {
        ModuleReply {
            summary: "S.".into(),
            learning_objectives: objectives.iter().map(|s| s.to_string()).collect(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            activities: vec!["Lab".into(), "Trip".into()],
            assessment: "Quiz.".into(),
        }
    }

    #[test]
    fn repeats_of_earlier_modules_and_outcomes_are_found_in_order() {
        let outcomes = vec!["Explain tides".to_string()];
        let replies = vec![
            reply(&["Explain tides.", "Name zones"], &["Light", "Pressure"]),
            reply(&["Name zones", "Map currents"], &["light", "Salt"]),
        ];
        let found = find(&outcomes, &replies);
        let seen: Vec<(usize, &str, usize, &str)> = found
            .iter()
            .map(|r| (r.module, r.field, r.position, r.first.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (0, "learning_objectives", 0, "a course outcome"),
                (1, "learning_objectives", 0, "module 1"),
                (1, "topics", 0, "module 1"),
                (1, "activities", 0, "module 1"),
                (1, "activities", 1, "module 1"),
            ]
        );
    }

    #[test]
    fn an_item_written_anew_must_not_say_what_its_own_list_says() {
        let replies = vec![reply(
            &["Explain tides", "Name zones"],
            &["Bee hive care", "Honey"],
        )];
        let repeat = |position: usize| Repeat {
            module: 0,
            field: "topics",
            position,
            item: "Honey".into(),
            first: "module 1".into(),
        };
        let repeats = vec![repeat(1)];
        let none: Vec<Option<String>> = vec![None];
        let text = "How can bee hive care be optimized for better pollination?";
        assert_eq!(
            sibling_of(&replies, &repeats, 0, &none, text),
            Some("Bee hive care")
        );
        assert_eq!(
            sibling_of(&replies, &repeats, 0, &none, "Wax and candles"),
            None
        );
        // Nor what another item written anew for the same list says.
        let repeats = vec![repeat(1), repeat(0)];
        let new = vec![None, Some("Wax and candles today".to_string())];
        assert_eq!(
            sibling_of(&replies, &repeats, 0, &new, "Wax and candles"),
            Some("Wax and candles today")
        );
    }
}
