//! Checks of a model's vocabulary from its GGUF header, before llama.cpp or llguidance's
//! token trie sees it: both abort the process (GGML_ASSERT, a Rust panic) on vocabularies
//! that are well-formed GGUF but cannot be used to write text.

use super::gguf::{GgufInfo, MetaValue};

/// Tokenizer types llama.cpp can run (`tokenizer.ggml.model`).
const KNOWN_TOKENIZERS: [&str; 6] = ["llama", "gpt2", "bert", "t5", "rwkv", "plamo2"];
/// Longest token, in bytes of its GGUF text, this program accepts. llguidance's token trie
/// holds tokens of up to 1024 bytes once decoded; GPT-2-style texts take up to two bytes
/// for each decoded one ("Ġ" for a space).
pub const MAX_TOKEN_BYTES: u64 = 2048;
/// Special-token ids a vocabulary may name.
const SPECIAL_IDS: [&str; 13] = [
    "bos",
    "eos",
    "eot",
    "eom",
    "unknown",
    "seperator",
    "padding",
    "mask",
    "cls",
    "fim_pre",
    "fim_suf",
    "fim_mid",
    "fim_pad",
];

/// Why a vocabulary cannot be used, or nothing.
pub fn check(info: &GgufInfo) -> Result<(), String> {
    match info.str("tokenizer.ggml.model") {
        None => {
            return Err("has no tokenizer (no tokenizer.ggml.model): it cannot write text".into())
        }
        Some("none" | "no_vocab") => {
            return Err(
                "has no tokenizer (tokenizer.ggml.model = none): it cannot write text; \
                        it may be an embedding model"
                    .into(),
            )
        }
        Some(t) if !KNOWN_TOKENIZERS.contains(&t) => {
            return Err(format!(
                "has a tokenizer of type `{t}`, which llama.cpp does not know ({})",
                KNOWN_TOKENIZERS.join(", ")
            ))
        }
        Some(_) => {}
    }
    let tokens = match info.metadata.get("tokenizer.ggml.tokens") {
        Some(MetaValue::Array(n)) if *n > 0 => *n,
        _ => return Err("has no token list (tokenizer.ggml.tokens)".into()),
    };
    if info.longest_token > MAX_TOKEN_BYTES {
        return Err(format!(
            "has a token of {} bytes; tokens of up to {MAX_TOKEN_BYTES} bytes are supported",
            info.longest_token
        ));
    }
    if let Some(token) = &info.duplicate_token {
        return Err(format!(
            "lists the token {token:?} twice in its vocabulary: the file is damaged or was edited"
        ));
    }
    for name in SPECIAL_IDS {
        let key = format!("tokenizer.ggml.{name}_token_id");
        match info.metadata.get(&key) {
            Some(MetaValue::Int(id)) if *id >= i128::from(tokens) || *id < -1 => {
                return Err(format!(
                    "names token {id} as its {name} token but has only {tokens} tokens"
                ))
            }
            Some(MetaValue::Int(_)) | None => {}
            Some(other) => {
                return Err(format!(
                    "has a {name} token id that is not a number ({other:?})"
                ))
            }
        }
    }
    Ok(())
}

/// After llama.cpp has loaded the vocabulary: a reply needs a token that ends it.
pub fn check_end_tokens(eos: i32, eot: i32, tokens: i32) -> Result<(), String> {
    let usable = |id: i32| id >= 0 && id < tokens;
    if usable(eos) || usable(eot) {
        Ok(())
    } else {
        Err(
            "marks no end-of-sequence or end-of-turn token, so no reply could end; \
             it is not a chat model (an embedding model, say)"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn info(pairs: &[(&str, MetaValue)], longest: u64) -> GgufInfo {
        GgufInfo {
            version: 3,
            file_size: 1,
            tensor_count: 0,
            parameters: 0,
            metadata: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            longest_token: longest,
            duplicate_token: None,
            tensors: Vec::new(),
        }
    }

    fn good() -> Vec<(&'static str, MetaValue)> {
        vec![
            ("tokenizer.ggml.model", MetaValue::Str("gpt2".into())),
            ("tokenizer.ggml.tokens", MetaValue::Array(100)),
            ("tokenizer.ggml.eos_token_id", MetaValue::Int(2)),
        ]
    }

    #[test]
    fn usable_vocabularies_pass() {
        assert_eq!(check(&info(&good(), 16)), Ok(()));
        assert_eq!(check_end_tokens(2, -1, 100), Ok(()));
        assert_eq!(check_end_tokens(-1, 7, 100), Ok(()));
    }

    #[test]
    fn hostile_vocabularies_are_refused_with_a_reason() {
        let with = |key: &str, v: MetaValue| {
            let mut p = good();
            p.retain(|(k, _)| *k != key);
            p.push((Box::leak(key.to_string().into_boxed_str()), v));
            check(&info(&p, 16)).unwrap_err()
        };
        assert!(with("tokenizer.ggml.model", MetaValue::Str("none".into())).contains("embedding"));
        assert!(with(
            "tokenizer.ggml.model",
            MetaValue::Str("sentencepiece2".into())
        )
        .contains("does not know"));
        assert!(
            with("tokenizer.ggml.bos_token_id", MetaValue::Int(100)).contains("only 100 tokens")
        );
        assert!(with("tokenizer.ggml.eos_token_id", MetaValue::Int(-5)).contains("eos"));
        assert!(with("tokenizer.ggml.tokens", MetaValue::Array(0)).contains("no token list"));
        assert!(check(&info(&good(), 4096))
            .unwrap_err()
            .contains("4096 bytes"));
        let mut p = good();
        p.retain(|(k, _)| *k != "tokenizer.ggml.model");
        assert!(check(&info(&p, 16)).unwrap_err().contains("no tokenizer"));
        assert!(check_end_tokens(-1, -1, 100)
            .unwrap_err()
            .contains("no end-of-sequence"));
        assert!(check_end_tokens(100, -1, 100).is_err());
    }
}
