//! Reply fields as one table each: key, shape and what the prompt asks for, from which both
//! the JSON schema (for the grammar) and the prompt's list of keys are made.
//!
//! Every string in a schema has a `maxLength` and every array a `maxItems`: small models
//! otherwise loop inside a string until the token limit. The bounds also size each call's
//! token budget, and with it the KV cache.

use serde_json::{json, Map, Value};

use super::content::Kind;

/// Fewest distinct items a list may have.
pub const MIN_ITEMS: usize = 2;

/// The shape of one reply field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A string of at most this many characters, ended as `Kind` says when cut.
    Text(u64, Kind),
    /// A list of `min..=max` strings of at most `item` characters each, checked as `kind`.
    List {
        /// Characters per item.
        item: u64,
        /// How each item is checked: `Kind::Item`, or `Kind::Outcome` for objectives.
        kind: Kind,
        /// Fewest items.
        min: usize,
        /// Most items.
        max: usize,
    },
}

/// One field of a reply object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// JSON key, as the reply type names it.
    pub key: &'static str,
    /// Its shape.
    pub shape: Shape,
    /// What the prompt asks for in it.
    pub ask: &'static str,
}

impl Field {
    /// A text field of `kind`.
    pub const fn text(key: &'static str, max: u64, kind: Kind, ask: &'static str) -> Self {
        Self {
            key,
            shape: Shape::Text(max, kind),
            ask,
        }
    }

    /// A list field.
    pub const fn list(
        key: &'static str,
        item: u64,
        min: usize,
        max: usize,
        ask: &'static str,
    ) -> Self {
        Self::list_of(key, item, Kind::Item, min, max, ask)
    }

    /// A list of learning objectives or outcomes: items a learner can show.
    pub const fn outcomes(
        key: &'static str,
        item: u64,
        min: usize,
        max: usize,
        ask: &'static str,
    ) -> Self {
        Self::list_of(key, item, Kind::Outcome, min, max, ask)
    }

    const fn list_of(
        key: &'static str,
        item: u64,
        kind: Kind,
        min: usize,
        max: usize,
        ask: &'static str,
    ) -> Self {
        Self {
            key,
            shape: Shape::List {
                item,
                kind,
                min,
                max,
            },
            ask,
        }
    }

    /// The field's JSON schema.
    pub fn schema(&self, writing: Writing) -> Value {
        match self.shape {
            Shape::Text(max, kind) => writing.text(max, kind),
            Shape::List {
                item,
                kind,
                min,
                max,
            } => {
                json!({"type": "array", "items": writing.text(item, kind), "minItems": min, "maxItems": max})
            }
        }
    }

    /// The prompt's line for the field: "- key: what to write".
    pub fn prompt_line(&self) -> String {
        format!("- {}: {}", self.key, self.ask)
    }

    /// The field inside another's line: `"key" (what to write)`.
    pub fn prompt_item(&self) -> String {
        format!("\"{}\" ({})", self.key, self.ask)
    }
}

/// Which scripts a text may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letters {
    /// Any letters: for Chinese, Japanese and Korean syllabi.
    Any,
    /// No Chinese, Japanese or Korean characters: small multilingual models otherwise drift
    /// into them mid-sentence in other languages.
    NoCjk,
}

impl Letters {
    /// The letters a syllabus in `language` may use.
    pub fn for_language(language: &str) -> Self {
        if super::content::is_cjk_language(language) {
            Self::Any
        } else {
            Self::NoCjk
        }
    }
}

/// How a syllabus's texts are written, from its language: the letters they may use and the
/// verbs an objective opens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writing {
    /// The scripts a text may use.
    pub letters: Letters,
    /// The verbs an objective or outcome must open with (`Kind::Outcome`), if any.
    pub verbs: Option<&'static [&'static str]>,
}

impl Writing {
    /// How a syllabus in `language` is written.
    pub fn for_language(language: &str) -> Self {
        Self {
            letters: Letters::for_language(language),
            verbs: super::verbs::opening(language),
        }
    }

    /// Any letters, any opening.
    #[cfg(test)]
    pub const ANY: Self = Self {
        letters: Letters::Any,
        verbs: None,
    };

    /// The schema of a string of at most `max_len` characters, checked as `kind`.
    fn text(self, max_len: u64, kind: Kind) -> Value {
        let rest = match self.letters {
            Letters::Any => TEXT_REST,
            Letters::NoCjk => TEXT_REST_NO_CJK,
        };
        let pattern = match (kind, self.verbs) {
            (Kind::Outcome, Some(verbs)) => format!("^({}) {rest}+$", verbs.join("|")),
            _ => match self.letters {
                Letters::Any => TEXT_PATTERN.to_string(),
                Letters::NoCjk => TEXT_PATTERN_NO_CJK.to_string(),
            },
        };
        json!({"type": "string", "minLength": 1, "maxLength": max_len, "pattern": pattern})
    }
}

macro_rules! rest {
    () => {
        r#"[^{}\[\]\\"<>_|#*]"#
    };
}
macro_rules! rest_no_cjk {
    () => {
        r#"[^{}\[\]\\"<>_|#*\x{3040}-\x{30FF}\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{AC00}-\x{D7AF}\x{F900}-\x{FAFF}]"#
    };
}

/// What a text may hold after its first character: no JSON or markup characters.
const TEXT_REST: &str = rest!();
/// `TEXT_REST` without Chinese, Japanese or Korean characters.
const TEXT_REST_NO_CJK: &str = rest_no_cjk!();

/// What a text may hold: a letter (or an opening mark) first, and no JSON or markup
/// characters anywhere. Small models otherwise fill strings with `{`, `]}`, `\\_` and keys;
/// with the grammar they cannot write them at all.
pub const TEXT_PATTERN: &str = concat!(r#"^[\p{L}¿¡(]"#, rest!(), "*$");
/// `TEXT_PATTERN` without Chinese, Japanese or Korean characters.
pub const TEXT_PATTERN_NO_CJK: &str = concat!(
    r#"^[\p{L}¿¡(&&[^\x{3040}-\x{30FF}\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{AC00}-\x{D7AF}\x{F900}-\x{FAFF}]]"#,
    rest_no_cjk!(),
    "*$"
);

/// An object schema with these properties, all required, no others.
pub fn object(properties: Map<String, Value>) -> Value {
    let required: Vec<&String> = properties.keys().collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The properties of `fields`, in order.
pub fn properties(fields: &[Field], writing: Writing) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| (f.key.to_string(), f.schema(writing)))
        .collect()
}

/// A reply's top-level schema: compact JSON, no tokens spent on indentation.
pub fn top_level(mut schema: Value) -> Value {
    schema["x-guidance"] = json!({"whitespace_flexible": false});
    schema
}

/// Upper bound on the characters of any reply the schema allows.
pub fn max_reply_chars(schema: &Value) -> u64 {
    if let Some(fixed) = schema.get("const") {
        return fixed.to_string().len() as u64;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => schema["maxLength"].as_u64().unwrap_or(0) + 2,
        Some("array") => {
            let n = schema["maxItems"].as_u64().unwrap_or(0);
            let prefix: Vec<u64> = schema
                .get("prefixItems")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(|i| max_reply_chars(i) + 1).collect())
                .unwrap_or_default();
            let rest = n.saturating_sub(prefix.len() as u64);
            2 + prefix.iter().sum::<u64>() + rest * (max_reply_chars(&schema["items"]) + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [Field; 2] = [
        Field::text("summary", 50, Kind::Prose, "a sentence"),
        Field::list("topics", 20, 2, 4, "2 to 4 topics"),
    ];

    #[test]
    fn table_gives_schema_and_prompt_lines_in_order() {
        let s = top_level(object(properties(&FIELDS, Writing::ANY)));
        let keys: Vec<_> = s["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["summary", "topics"]);
        assert_eq!(s["required"], json!(["summary", "topics"]));
        assert_eq!(s["properties"]["topics"]["maxItems"], 4);
        assert_eq!(s["properties"]["topics"]["items"]["maxLength"], 20);
        assert_eq!(s["x-guidance"]["whitespace_flexible"], false);
        assert_eq!(FIELDS[1].prompt_line(), "- topics: 2 to 4 topics");
    }

    /// Whether the grammar of `schema` takes `value` whole (one token per byte).
    fn grammar_takes(schema: &Value, value: &Value) -> bool {
        use llguidance::api::TopLevelGrammar;
        use llguidance::toktrie::{ApproximateTokEnv, InferenceCapabilities};
        use llguidance::{Matcher, ParserFactory};
        let env = ApproximateTokEnv::single_byte_env();
        let factory = ParserFactory::new(&env, InferenceCapabilities::default(), &[]).unwrap();
        let mut matcher =
            Matcher::new(factory.create_parser(TopLevelGrammar::from_json_schema(schema.clone())));
        assert!(!matcher.is_error(), "{:?}", matcher.get_error());
        let bytes: Vec<u32> = serde_json::to_string(value)
            .unwrap()
            .bytes()
            .map(u32::from)
            .collect();
        matcher.validate_tokens(&bytes).unwrap() == bytes.len()
            && matcher.consume_tokens(&bytes).is_ok()
            && matcher.is_accepting().unwrap()
    }

    #[test]
    fn english_objectives_open_with_a_verb_and_other_texts_do_not_have_to() {
        const OBJECTIVES: [Field; 2] = [
            Field::outcomes("objectives", 80, 1, 3, "objectives"),
            Field::list("topics", 80, 1, 3, "topics"),
        ];
        let english = object(properties(&OBJECTIVES, Writing::for_language("English")));
        let reply =
            |objective: &str, topic: &str| json!({"objectives": [objective], "topics": [topic]});
        for fine in [
            "Identify the parts of a beehive",
            "Explain why tides rise twice a day",
            "Summarise the causes of the Industrial Revolution",
        ] {
            assert!(
                grammar_takes(&english, &reply(fine, "Hive parts")),
                "{fine}"
            );
        }
        for thin in [
            "Beekeeping Basics: Selecting the right tools",
            "What is climate change?",
            "Understand the Roman Republic",
            "identify the parts of a beehive",
            "Identify",
            "Identify {the} parts",
        ] {
            assert!(
                !grammar_takes(&english, &reply(thin, "Hive parts")),
                "{thin}"
            );
        }
        let french = object(properties(&OBJECTIVES, Writing::for_language("French")));
        assert!(grammar_takes(
            &french,
            &reply("Écrire un court essai", "Essais")
        ));
        assert!(!grammar_takes(
            &french,
            &reply("Introduction à l'essai", "Essais")
        ));
        // Topics are labels; and other languages keep their own word order.
        assert!(grammar_takes(
            &english,
            &reply("Name three bees", "Beekeeping Basics: tools")
        ));
        let german = object(properties(&OBJECTIVES, Writing::for_language("German")));
        assert!(grammar_takes(
            &german,
            &reply("Die Planeten benennen", "Planeten")
        ));
        assert!(!grammar_takes(
            &german,
            &reply("Die {Planeten}", "Planeten")
        ));
    }

    #[test]
    fn text_patterns_are_the_letters_rule() {
        assert_eq!(TEXT_PATTERN, r#"^[\p{L}¿¡(][^{}\[\]\\"<>_|#*]*$"#);
        assert!(TEXT_PATTERN_NO_CJK.starts_with(r#"^[\p{L}¿¡(&&[^\x{3040}"#));
        assert!(TEXT_PATTERN_NO_CJK.ends_with(r#"\x{F900}-\x{FAFF}]*$"#));
    }

    #[test]
    fn reply_budget_covers_the_largest_allowed_reply() {
        let s = object(properties(&FIELDS, Writing::ANY));
        let big = json!({"summary": "x".repeat(50), "topics": vec!["y".repeat(20); 4]});
        let len = serde_json::to_string(&big).unwrap().len() as u64;
        assert!(max_reply_chars(&s) >= len);
        assert!(u64::from(max_reply_tokens(&s)) * 3 >= max_reply_chars(&s));
    }
}
