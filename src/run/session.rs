//! From a checked run plan to a running engine, for every command: the model found and
//! loaded in process, or a daemon's model named; then an engine over it for each run.

use anyhow::Context as _;

use crate::cli::{ModelChoice, RunPlan};
use crate::course::ModelId;
use crate::engine::llama::offload::Offload;
use crate::engine::llama::{LlamaEngine, LlamaOptions, LoadedModel};
use crate::engine::measures::Clock;
use crate::engine::ollama::{self, OllamaEngine, OllamaOptions};
use crate::engine::openai::{OpenAiEngine, OpenAiOptions};
use crate::engine::{BackendKind, Engine, Progress};
use crate::launch::gpu::GpuFailed;
use crate::launch::vulkan;
use crate::models::{self, packed};

/// What stays open across runs: a model in memory, or the name of a daemon's model.
pub enum Session {
    /// llama.cpp in this process, model loaded.
    Llama(Box<LoadedModel>),
    /// An Ollama daemon; connected anew for each run (its check is part of the run).
    Ollama {
        /// Model name on the daemon.
        model: String,
    },
    /// An OpenAI-compatible server; connected anew for each run.
    OpenAi {
        /// Model name on the server (`None`: the first it lists).
        model: Option<String>,
    },
}

impl Session {
    /// Opens the plan's backend: finds and loads the model for the in-process engine.
    pub fn open(plan: &RunPlan, progress: &dyn Progress) -> anyhow::Result<Self> {
        match plan.backend {
            BackendKind::Llama => Ok(Self::Llama(Box::new(load_model(plan, progress)?))),
            BackendKind::Ollama => Ok(Self::Ollama {
                model: plan.model.name().unwrap_or_default().to_string(),
            }),
            BackendKind::OpenAi => Ok(Self::OpenAi {
                model: plan.model.name().map(str::to_string),
            }),
        }
    }

    /// The model by name, and for a local file its path and sha256 (hashed here: the file
    /// is in the page cache once loaded).
    pub fn model_id(&self) -> anyhow::Result<ModelId> {
        Ok(match self {
            Self::Llama(m) => {
                let r = m.resolved();
                let sha256 = crate::launch::cache::sha256_of(&r.path)
                    .with_context(|| format!("cannot read {}", r.path.display()))?;
                ModelId {
                    name: r.name.clone(),
                    path: Some(r.path.display().to_string()),
                    sha256: Some(sha256),
                }
            }
            Self::Ollama { model } => ModelId {
                name: model.clone(),
                path: None,
                sha256: None,
            },
            Self::OpenAi { model } => ModelId {
                name: model.clone().unwrap_or_default(),
                path: None,
                sha256: None,
            },
        })
    }

    /// The loaded model's file and header (in process only).
    pub fn resolved(&self) -> Option<&crate::models::resolve::ResolvedModel> {
        match self {
            Self::Llama(m) => Some(m.resolved()),
            Self::Ollama { .. } | Self::OpenAi { .. } => None,
        }
    }

    /// The model's name, for people.
    pub fn model_name(&self) -> &str {
        match self {
            Self::Llama(m) => &m.resolved().name,
            Self::Ollama { model } => model,
            Self::OpenAi { model } => model.as_deref().unwrap_or("(first listed)"),
        }
    }

    /// Whether opening the engine of a run is part of its load time (connecting to a
    /// daemon is; a model loaded once for many runs is not).
    pub fn loads_per_run(&self) -> bool {
        !matches!(self, Self::Llama(_))
    }

    /// An engine for one run timed on `clock`.
    pub fn engine(
        &self,
        plan: &RunPlan,
        clock: Clock,
        progress: &dyn Progress,
    ) -> anyhow::Result<Box<dyn Engine + '_>> {
        match self {
            Self::Llama(model) => Ok(Box::new(LlamaEngine::new(
                model,
                llama_options(plan),
                clock,
            ))),
            Self::Ollama { model } => {
                progress.stage("connecting to Ollama");
                let opts = OllamaOptions {
                    url: ollama::base_url(plan.daemon.url.as_deref())?,
                    model: model.clone(),
                    parallel: plan.daemon.parallel,
                    call_timeout: plan.daemon.call_timeout,
                    sampling: plan.sampling,
                };
                Ok(Box::new(OllamaEngine::connect(opts, clock)?))
            }
            Self::OpenAi { model } => {
                progress.stage("connecting to the server");
                let d = &plan.daemon;
                let opts = OpenAiOptions {
                    url: d.base_url.clone(),
                    model: model.clone().unwrap_or_default(),
                    api_key: d.api_key.as_ref().map(|k| k.0.clone()),
                    api_key_env: d.api_key_env.clone(),
                    parallel: d.parallel,
                    call_timeout: d.call_timeout,
                    sampling: plan.sampling,
                };
                Ok(Box::new(OpenAiEngine::connect(opts, clock)?))
            }
        }
    }
}

/// Resolves and loads the plan's model: named, or the packed one.
fn load_model(plan: &RunPlan, progress: &dyn Progress) -> anyhow::Result<LoadedModel> {
    progress.stage("finding the model");
    let resolved = match &plan.model {
        ModelChoice::Named(spec) => models::resolve(spec, &plan.models)?,
        ModelChoice::Packed(e) => {
            progress.stage("checking the packed model");
            packed::resolve_embedded(e)?
        }
        ModelChoice::ServersFirst => anyhow::bail!("a server's model cannot be loaded in process"),
    };
    let place = |offload: &Offload| -> anyhow::Result<LoadedModel> {
        progress.stage("checking the model");
        if plan.probe {
            super::probe::vet(&resolved, offload)?;
        }
        progress.stage("loading the model");
        LoadedModel::load(resolved.clone(), offload)
    };
    match place(&plan.offload) {
        Err(e) => match e.downcast_ref::<GpuFailed>() {
            // Nothing is written yet: the CPU build takes over (or this one, on the CPU).
            Some(failed) => {
                vulkan::fall_back(&failed.0)?;
                place(&Offload::cpu())
            }
            None => Err(e),
        },
        loaded => loaded,
    }
}

/// The in-process engine settings of a plan.
fn llama_options(plan: &RunPlan) -> LlamaOptions {
    LlamaOptions {
        threads: plan.threads,
        max_ctx: plan.max_ctx,
        sampling: plan.sampling,
        grammar: true,
        jump_forward: true,
        draft: plan.draft,
    }
}
