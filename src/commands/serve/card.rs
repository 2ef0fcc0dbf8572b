//! The served model as the Ollama and OpenAI APIs describe it: the names it answers to,
//! its file's digest and size, its family and quantization.

use serde_json::{json, Value};

use crate::engine::EngineInfo;
use crate::run::session::Session;

/// What `/api/tags`, `/api/show`, `/api/ps` and `/v1/models` say of the model.
#[derive(Debug, Clone)]
pub struct Card {
    /// Names a request may use: the one it was started with first.
    pub names: Vec<String>,
    /// sha256 of the file, when local.
    pub digest: String,
    /// File size, bytes.
    pub size: u64,
    /// When the file was last changed, RFC 3339.
    pub modified_at: String,
    /// `general.architecture`.
    pub family: String,
    /// Parameters, as Ollama writes them ("494.03M").
    pub parameter_size: String,
    /// "Q4_K_M".
    pub quantization: String,
    /// Context length the model was trained for.
    pub context_length: Option<i128>,
    /// The chat template the engine renders prompts with.
    pub template: String,
}

impl Card {
    /// The card of `session`'s model, started as `given` (`--model`, if given), with
    /// `digest` its file's sha256 when known, as `engine` runs it.
    pub fn new(
        session: &Session,
        given: Option<&str>,
        digest: Option<&str>,
        engine: &EngineInfo,
    ) -> Self {
        let mut names = Vec::new();
        let mut add = |n: &str| {
            let n = n.trim();
            if n.is_empty() {
                return;
            }
            for n in [n.to_string(), with_tag(n)] {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        };
        add(session.model_name());
        if let Some(g) = given {
            add(g);
        }
        let mut card = Self {
            names,
            digest: digest.unwrap_or_default().to_string(),
            size: 0,
            modified_at: String::new(),
            family: String::new(),
            parameter_size: String::new(),
            quantization: String::new(),
            context_length: None,
            template: engine.chat_template.clone().unwrap_or_default(),
        };
        if let Some(r) = session.resolved() {
            let info = &r.info;
            if let Some(stem) = r.path.file_stem().and_then(|s| s.to_str()) {
                if !card.names.iter().any(|n| n == stem) {
                    card.names.push(stem.to_string());
                }
            }
            card.size = info.file_size;
            card.family = info.architecture().unwrap_or_default().to_string();
            card.parameter_size = parameter_size(info.parameters);
            card.quantization = info.quantization().unwrap_or_default().to_string();
            card.context_length = info.context_length();
            card.modified_at = std::fs::metadata(&r.path)
                .and_then(|m| m.modified())
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .unwrap_or_default();
        }
        card
    }

    /// The name a request used, if it names this model (an empty name means it).
    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.trim();
        name.is_empty() || self.names.iter().any(|n| n == name || with_tag(n) == name)
    }

    /// The name the model is listed under.
    pub fn name(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }

    /// Ollama's `details` object.
    pub fn details(&self) -> Value {
        json!({
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        })
    }
}

/// `name` with Ollama's default tag when it has none ("phi" -> "phi:latest").
fn with_tag(name: &str) -> String {
    if name.contains(':') || name.contains('/') || name.ends_with(".gguf") {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A parameter count as Ollama writes it: "494.03M", "1.54B".
fn parameter_size(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2}B", n / 1e9)
    } else {
        format!("{:.2}M", n / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_answer_with_and_without_their_tag() {
        assert_eq!(with_tag("phi"), "phi:latest");
        assert_eq!(with_tag("qwen2:1.5b"), "qwen2:1.5b");
        assert_eq!(with_tag("models/x.gguf"), "models/x.gguf");
        assert_eq!(parameter_size(494_032_768), "494.03M");
        assert_eq!(parameter_size(1_543_714_304), "1.54B");
    }
}
