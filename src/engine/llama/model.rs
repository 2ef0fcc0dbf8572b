//! A model loaded in process: weights, chat template, tokenizer, and each call's sampler
//! chain with its llguidance grammar.

use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context as _};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{TokEnv, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};

use crate::engine::{ChatCall, ChatMessage, Sampling};
use crate::models::ResolvedModel;

/// Reply tokens the DRY sampler looks back over.
const DRY_LAST_N: i32 = 1024;

/// llama.cpp's process-wide backend, started once.
pub(super) fn backend() -> anyhow::Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("cannot start llama.cpp: {e}"))
}

/// llguidance's view of the vocabulary, tokenizing with the model's own tokenizer.
///
/// llama-cpp-2's token environment tokenizes greedily over the trie, which llguidance
/// does not trust for forcing tokens; the real tokenizer is canonical, so llguidance
/// can hand out the tokens the grammar forces (jump-forward decoding).
struct VocabEnv {
    trie: TokTrie,
    model: Arc<LlamaModel>,
}

impl TokenizerEnv for VocabEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.model
            .vocab()
            .tokenize(s, false, false)
            .into_iter()
            .map(|t| t.0.cast_unsigned())
            .collect()
    }

    fn tokenize_is_canonical(&self) -> bool {
        true
    }
}

/// A model loaded in memory with its tokenizer trie and chat template; shared by engines.
pub struct LoadedModel {
    pub(super) model: Arc<LlamaModel>,
    factory: ParserFactory,
    template: LlamaChatTemplate,
    resolved: ResolvedModel,
    bos_text: Option<String>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.resolved.path)
            .finish()
    }
}

impl LoadedModel {
    /// Loads a resolved (already checked) model file.
    pub fn load(resolved: ResolvedModel) -> anyhow::Result<Self> {
        let backend = backend()?;
        // `load_from_file` only debug-asserts that the path exists: check it here.
        if !resolved.path.is_file() {
            bail!("model file {} does not exist", resolved.path.display());
        }
        let model =
            LlamaModel::load_from_file(backend, &resolved.path, &LlamaModelParams::default())
                .with_context(|| format!("llama.cpp could not load {}", resolved.path.display()))?;
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(_) => {
                // No template in the file: use the architecture's known one.
                let name = match resolved.info.architecture() {
                    Some("llama") => "llama3",
                    _ => "chatml",
                };
                tracing::warn!(
                    template = name,
                    "model has no chat template; using the architecture's default"
                );
                LlamaChatTemplate::new(name).expect("template names have no NUL")
            }
        };
        let model = Arc::new(model);
        let trie = LlamaSampler::llguidance_tok_env(&model).tok_trie().clone();
        let tok_env: TokEnv = Arc::new(VocabEnv {
            trie,
            model: Arc::clone(&model),
        });
        let mut factory = ParserFactory::new_simple(&tok_env).map_err(|e| {
            anyhow::anyhow!("cannot prepare the JSON grammar for this vocabulary: {e}")
        })?;
        factory.quiet();
        let bos = model.vocab().bos();
        let bos_text = (bos.0 >= 0)
            .then(|| {
                String::from_utf8_lossy(&model.vocab().token_to_piece(bos, true, None)).into_owned()
            })
            .filter(|s| !s.is_empty());
        Ok(Self {
            model,
            factory,
            template,
            resolved,
            bos_text,
        })
    }

    /// The file this model came from.
    pub fn resolved(&self) -> &ResolvedModel {
        &self.resolved
    }

    /// Training context length.
    pub fn n_ctx_train(&self) -> usize {
        self.model.n_ctx_train() as usize
    }

    /// Renders messages with the chat template (assistant turn opened) and tokenizes them.
    pub fn tokenize_chat(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<LlamaToken>> {
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .context("a prompt contains a NUL byte")?;
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .context("the model's chat template could not be applied")?;
        let vocab = self.model.vocab();
        // Templates that write the BOS text themselves must not get a second BOS.
        let template_has_bos = self
            .bos_text
            .as_deref()
            .is_some_and(|b| text.starts_with(b));
        let add_special = vocab.should_add_bos() && !template_has_bos;
        Ok(vocab.tokenize(text.as_bytes(), add_special, true))
    }

    /// Token ids of a chat prompt, as the decode loop keeps them.
    pub(super) fn prompt_ids(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<i32>> {
        Ok(self.tokenize_chat(messages)?.iter().map(|t| t.0).collect())
    }

    /// Whether `token` ends a reply (end of sequence or end of turn).
    pub(super) fn is_eog(&self, token: LlamaToken) -> bool {
        self.model.vocab().is_eog(token)
    }

    /// The text of generated tokens.
    pub(super) fn detokenize(&self, tokens: &[i32]) -> String {
        let tokens: Vec<LlamaToken> = tokens.iter().map(|&t| LlamaToken(t)).collect();
        String::from_utf8_lossy(&self.model.vocab().detokenize(&tokens, false, false)).into_owned()
    }

    /// The call's sampler chain, and a twin of its grammar matcher that tells which tokens
    /// are forced (the chain's own matcher is out of reach inside llama.cpp).
    pub(super) fn sampler(
        &self,
        call: &ChatCall,
        sampling: &Sampling,
        grammar: bool,
        jump_forward: bool,
    ) -> anyhow::Result<(LlamaSampler, Option<Matcher>)> {
        let mut chain = Vec::with_capacity(5);
        let mut guide = None;
        if grammar {
            let matcher = Matcher::new(
                self.factory
                    .create_parser(TopLevelGrammar::from_json_schema(call.schema.clone())),
            );
            if let Some(err) = matcher.get_error() {
                bail!("the reply schema cannot be compiled to a grammar: {err}");
            }
            guide = jump_forward.then(|| matcher.deep_clone());
            // The grammar goes first so later samplers only see tokens it allows.
            chain.push(LlamaSampler::from(matcher));
        }
        if sampling.dry > 0.0 {
            // Small models repeat list items and phrases verbatim; the grammar forces every
            // JSON key, so DRY only bites on free text. A last-n of -1 would disable it.
            chain.push(LlamaSampler::dry(
                &self.model,
                sampling.dry,
                1.75,
                3,
                DRY_LAST_N,
                ["\n"],
            ));
        }
        if sampling.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(sampling.top_k));
            chain.push(LlamaSampler::top_p(sampling.top_p, 1));
            chain.push(LlamaSampler::temp(sampling.temperature));
            chain.push(LlamaSampler::dist(call.seed));
        }
        Ok((LlamaSampler::chain_simple(chain), guide))
    }
}
