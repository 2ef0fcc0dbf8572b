//! A model loaded in process: weights, chat template, tokenizer, and each call's sampler
//! chain with its llguidance grammar.

use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context as _};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{TokEnv, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};

use super::offload::{self, Offload};
use crate::engine::device::DeviceUse;
use crate::engine::{ChatCall, ChatMessage, PromptError, Sampling};
use crate::models::{vocab, ResolvedModel};

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

/// Runs `f`, turning a panic (an assertion in a library on a vocabulary it cannot take)
/// into `None` without printing it.
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    std::panic::set_hook(hook);
    result
}

/// llama.cpp's built-in template for a model whose file has none it can apply: by
/// architecture, else by the special tokens its vocabulary has.
fn builtin_template(model: &LlamaModel, architecture: Option<&str>) -> &'static str {
    let vocab = model.vocab();
    let has = |text: &str| vocab.tokenize(text.as_bytes(), false, true).len() == 1;
    match architecture.unwrap_or("") {
        a if a.starts_with("gemma") => "gemma",
        "phi3" => "phi3",
        "command-r" | "cohere2" => "command-r",
        "deepseek2" => "deepseek2",
        a if a.starts_with("qwen") => "chatml",
        _ if has("<|im_start|>") => "chatml",
        _ if has("<|start_header_id|>") => "llama3",
        _ if has("<start_of_turn>") => "gemma",
        "llama" if has("[INST]") => "mistral-v7",
        "llama" => "llama2",
        _ => "chatml",
    }
}

/// The file's chat template when llama.cpp can apply it, else the built-in one for the
/// architecture; returns it with its name for the record.
fn choose_template(model: &LlamaModel, architecture: Option<&str>) -> (LlamaChatTemplate, String) {
    let why = match model.chat_template(None) {
        Ok(t) => {
            let probe = [
                LlamaChatMessage::new("system".into(), "s".into()),
                LlamaChatMessage::new("user".into(), "u".into()),
            ];
            match probe.map(Result::ok) {
                [Some(a), Some(b)] => match model.apply_chat_template(&t, &[a, b], true) {
                    Ok(_) => return (t, "from the file".to_string()),
                    Err(e) => format!("llama.cpp cannot apply the file's chat template ({e})"),
                },
                _ => "the probe conversation could not be built".to_string(),
            }
        }
        Err(_) => "the file has no chat template".to_string(),
    };
    let name = builtin_template(model, architecture);
    tracing::warn!("{why}; using llama.cpp's built-in {name} template for this architecture");
    let template = LlamaChatTemplate::new(name).expect("template names have no NUL");
    (template, format!("built-in {name} ({why})"))
}

/// A prompt split at a reply it continues: the text before it, the reply, the text after.
type Split<'r> = (String, &'r Reply, String);

/// A reply the model generated: its text and the token ids it was sampled as.
#[derive(Debug, Clone)]
pub(super) struct Reply {
    pub text: String,
    pub ids: Vec<i32>,
}

/// A model loaded in memory with its tokenizer trie and chat template; shared by engines.
pub struct LoadedModel {
    pub(super) model: Arc<LlamaModel>,
    factory: ParserFactory,
    template: LlamaChatTemplate,
    resolved: ResolvedModel,
    bos_text: Option<String>,
    template_name: String,
    device: DeviceUse,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.resolved.path)
            .finish()
    }
}

impl LoadedModel {
    /// Loads a resolved (already checked) model file, its layers where `offload` says;
    /// a `GpuFailed` error when the GPU cannot take it.
    pub fn load(resolved: ResolvedModel, offload: &Offload) -> anyhow::Result<Self> {
        let backend = backend()?;
        // `load_from_file` only debug-asserts that the path exists: check it here.
        if !resolved.path.is_file() {
            bail!("model file {} does not exist", resolved.path.display());
        }
        let shown = resolved.path.display().to_string();
        // llama.cpp and llguidance abort on some vocabularies: refuse those first.
        crate::models::check_header(&resolved.info)
            .map_err(|why| anyhow::anyhow!("{shown} {why}"))?;
        let (model, device) =
            offload::place(&resolved.path, offload)?.load(backend, &resolved.path)?;
        let v = model.vocab();
        vocab::check_end_tokens(v.eos().0, v.eot().0, model.n_vocab())
            .map_err(|why| anyhow::anyhow!("{shown} {why}"))?;
        let (template, template_name) = choose_template(&model, resolved.info.architecture());
        let model = Arc::new(model);
        let trie = quietly(|| LlamaSampler::llguidance_tok_env(&model).tok_trie().clone())
            .ok_or_else(|| {
                anyhow::anyhow!("{shown} has a vocabulary the JSON grammar cannot be built for")
            })?;
        let tok_env: TokEnv = Arc::new(VocabEnv {
            trie,
            model: Arc::clone(&model),
        });
        let mut factory = quietly(|| ParserFactory::new_simple(&tok_env))
            .ok_or_else(|| anyhow::anyhow!("{shown}: the JSON grammar failed on its vocabulary"))?
            .map_err(|e| {
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
            template_name,
            device,
        })
    }

    /// Where the model's layers are.
    pub fn device(&self) -> &DeviceUse {
        &self.device
    }

    /// The chat template in use: "from the file", or the built-in one named.
    pub fn template_name(&self) -> &str {
        &self.template_name
    }

    /// The file this model came from.
    pub fn resolved(&self) -> &ResolvedModel {
        &self.resolved
    }

    /// Training context length.
    pub fn n_ctx_train(&self) -> usize {
        self.model.n_ctx_train() as usize
    }

    /// Renders messages with the chat template, the assistant turn opened when `add_ass`.
    fn render(&self, messages: &[ChatMessage], add_ass: bool) -> anyhow::Result<String> {
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .context("a prompt contains a NUL byte")?;
        self.model
            .apply_chat_template(&self.template, &chat, add_ass)
            .context("the model's chat template could not be applied")
    }

    /// Tokenizes a rendered prompt from its start, with a BOS unless the template wrote it.
    fn tokenize_rendered(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let template_has_bos = self
            .bos_text
            .as_deref()
            .is_some_and(|b| text.starts_with(b));
        let add_special = vocab.should_add_bos() && !template_has_bos;
        vocab.tokenize(text.as_bytes(), add_special, true)
    }

    /// Renders messages with the chat template (assistant turn opened) and tokenizes them.
    pub fn tokenize_chat(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<LlamaToken>> {
        Ok(self.tokenize_rendered(&self.render(messages, true)?))
    }

    /// Where `messages` continue a reply in `replies`: the prompt text up to that reply, the
    /// reply, and the text the template adds after it; `Err` when the template does not
    /// render the reply exactly as it was generated. `None` when no reply is continued.
    fn split_at_reply<'r>(
        &self,
        messages: &[ChatMessage],
        replies: &'r [Reply],
    ) -> anyhow::Result<Option<Result<Split<'r>, PromptError>>> {
        let Some(k) = messages.iter().rposition(|m| m.role == "assistant") else {
            return Ok(None);
        };
        let Some(reply) = replies.iter().rev().find(|r| r.text == messages[k].content) else {
            return Ok(None);
        };
        let head = self.render(&messages[..k], true)?;
        let full = self.render(messages, true)?;
        let rest = full
            .strip_prefix(head.as_str())
            .and_then(|r| r.strip_prefix(reply.text.as_str()));
        Ok(Some(match rest {
            Some(rest) => Ok((head, reply, rest.to_string())),
            None => Err(PromptError::Rerendered {
                template: self.template_name.clone(),
            }),
        }))
    }

    /// Token ids of a chat prompt. A conversation that continues a reply in `replies` keeps
    /// that reply's own token ids (as sampled, so the KV cache that holds them stays valid)
    /// instead of tokenizing its text again.
    pub(super) fn prompt_ids(
        &self,
        messages: &[ChatMessage],
        replies: &[Reply],
    ) -> anyhow::Result<Vec<i32>> {
        let ids = match self.split_at_reply(messages, replies)? {
            Some(Ok((head, reply, rest))) => {
                let mut ids: Vec<i32> = self.tokenize_rendered(&head).iter().map(|t| t.0).collect();
                ids.extend(&reply.ids);
                let tail = self.model.vocab().tokenize(rest.as_bytes(), false, true);
                ids.extend(tail.iter().map(|t| t.0));
                ids
            }
            _ => self.tokenize_chat(messages)?.iter().map(|t| t.0).collect(),
        };
        Ok(ids)
    }

    /// Whether prompts continuing `conversation` (which ends with a reply in `replies`) keep
    /// that reply token for token; `Err` says why not.
    pub(super) fn check_continuation(
        &self,
        conversation: &[ChatMessage],
        replies: &[Reply],
    ) -> Result<(), PromptError> {
        // A turn after the reply shows how the template renders it within a history.
        let mut probe = conversation.to_vec();
        probe.push(ChatMessage::new("user", "Next."));
        match self.split_at_reply(&probe, replies) {
            Ok(Some(Ok(_))) => Ok(()),
            Ok(Some(Err(why))) => Err(why),
            Ok(None) => Err(PromptError::NotThisRun),
            Err(e) => Err(PromptError::Template(format!("{e:#}"))),
        }
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

    /// Appends the bytes of one generated token (a character may span two).
    pub(super) fn piece_into(&self, token: i32, out: &mut Vec<u8>) {
        self.model
            .vocab()
            .token_to_piece_into(LlamaToken(token), out, false, None);
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
