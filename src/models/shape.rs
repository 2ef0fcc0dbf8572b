//! A model's hyperparameters checked against its own tensor table, before llama.cpp sees
//! them: llama.cpp asserts (aborting the process) on a layer count the tensors do not
//! have, and on sizes of zero. What these checks miss, the probe in a child process
//! catches (`crate::run::probe`).

use super::gguf::GgufInfo;

/// Layers the file's tensors hold: one more than the highest `blk.N.` index.
fn tensor_layers(info: &GgufInfo) -> Option<u64> {
    info.tensors
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("blk.")?.split('.').next()?.parse().ok())
        .max()
        .map(|n: u64| n + 1)
}

/// Why the hyperparameters cannot describe this file's tensors, or nothing.
pub fn check(info: &GgufInfo) -> Result<(), String> {
    let Some(arch) = info.architecture() else {
        return Err("names no architecture (general.architecture)".into());
    };
    let key = |k: &str| format!("{arch}.{k}");
    for k in ["block_count", "embedding_length", "context_length"] {
        match info.metadata.get(&key(k)) {
            Some(super::gguf::MetaValue::Int(v)) if *v > 0 => {}
            Some(super::gguf::MetaValue::Int(v)) => {
                return Err(format!("says its {} is {v}", key(k)))
            }
            Some(other) => {
                return Err(format!("has a {} that is not a number ({other:?})", key(k)))
            }
            // Some architectures (embedding-only, recurrent) go without; llama.cpp says so.
            None => {}
        }
    }
    if let (Some(blocks), Some(found)) = (info.int(&key("block_count")), tensor_layers(info)) {
        if blocks != i128::from(found) {
            return Err(format!(
                "says it has {blocks} layers ({}) but its tensors hold {found}",
                key("block_count")
            ));
        }
    }
    if let Some(heads) = info.int(&key("attention.head_count")) {
        if heads <= 0 {
            return Err(format!(
                "says its {} is {heads}",
                key("attention.head_count")
            ));
        }
    }
    let embd = info
        .tensors
        .iter()
        .find(|(name, _)| name == "token_embd.weight");
    if let Some((_, dims)) = embd {
        if let Some(n_embd) = info.int(&key("embedding_length")) {
            if dims.first().map(|&d| i128::from(d)) != Some(n_embd) {
                return Err(format!(
                    "says its embeddings have {n_embd} values but token_embd.weight has {}",
                    dims.first().copied().unwrap_or(0)
                ));
            }
        }
        if let Some(vocab) = info.vocab_size() {
            if dims.get(1).is_some_and(|&rows| rows != vocab) {
                return Err(format!("has {vocab} tokens but embeddings for {}", dims[1]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gguf::MetaValue;

    fn info(meta: &[(&str, i128)], tensors: &[(&str, &[u64])]) -> GgufInfo {
        let mut metadata: std::collections::BTreeMap<String, MetaValue> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), MetaValue::Int(*v)))
            .collect();
        metadata.insert(
            "general.architecture".into(),
            MetaValue::Str("llama".into()),
        );
        metadata.insert("tokenizer.ggml.tokens".into(), MetaValue::Array(10));
        GgufInfo {
            version: 3,
            file_size: 1,
            tensor_count: tensors.len() as u64,
            parameters: 0,
            metadata,
            longest_token: 1,
            duplicate_token: None,
            tensors: tensors
                .iter()
                .map(|(n, d)| (n.to_string(), d.to_vec()))
                .collect(),
        }
    }

    const TENSORS: [(&str, &[u64]); 3] = [
        ("token_embd.weight", &[8, 10]),
        ("blk.0.attn_q.weight", &[8, 8]),
        ("blk.1.attn_q.weight", &[8, 8]),
    ];

    fn with(block_count: i128, n_embd: i128) -> Result<(), String> {
        let meta = [
            ("llama.block_count", block_count),
            ("llama.embedding_length", n_embd),
            ("llama.context_length", 128),
            ("llama.attention.head_count", 2),
        ];
        check(&info(&meta, &TENSORS))
    }

    #[test]
    fn layer_counts_and_sizes_must_match_the_tensors() {
        assert_eq!(with(2, 8), Ok(()));
        assert!(with(0, 8).unwrap_err().contains("block_count is 0"));
        let err = with(100_000, 8).unwrap_err();
        assert!(
            err.contains("100000 layers") && err.contains("hold 2"),
            "{err}"
        );
        assert!(with(2, 0).unwrap_err().contains("embedding_length is 0"));
        assert!(with(2, 16).unwrap_err().contains("token_embd.weight has 8"));
    }
}
