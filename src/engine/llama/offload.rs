//! Where a model's layers go when it loads: on the GPU device chosen (`--device`), as many
//! as asked (`--gpu-layers N`) or as fit beside the KV cache the run may need (`auto`,
//! sized by llama.cpp's own fit), else all on the CPU. Says what it did as a `DeviceUse`
//! for the run table and the timing record.

use std::path::Path;
use std::pin::Pin;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::{list_llama_ggml_backend_devices, LlamaBackendDevice, LlamaBackendDeviceType};

use crate::engine::device::DeviceUse;

use crate::launch::gpu::{compiled_backend, wanted, GpuFailed, Wanted};

/// Device memory left free beside the model and its KV cache (drivers, other programs).
#[cfg(any(feature = "vulkan", feature = "cuda"))]
const MARGIN: usize = 512 << 20;

/// How many layers go to the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// As many as fit, leaving room for the KV cache.
    Auto,
    /// This many (0: none; more than the model has: all).
    Count(u32),
}

/// What a run asks of the GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offload {
    /// Layers on the device.
    pub layers: Layers,
    /// `--device`: a llama.cpp device name (Vulkan0), its index among the GPUs, or part of
    /// its description.
    pub device: Option<String>,
    /// KV cells the run may need (its `--ctx`), kept free on the device by `auto`.
    pub room_cells: usize,
}

impl Offload {
    /// All layers that fit on the first GPU, room for `room_cells` KV cells.
    pub fn auto(room_cells: usize) -> Self {
        Self {
            layers: Layers::Auto,
            device: None,
            room_cells,
        }
    }

    /// Nothing on a GPU.
    pub fn cpu() -> Self {
        Self {
            layers: Layers::Count(0),
            device: None,
            room_cells: 0,
        }
    }

    /// Whether the user asked for the GPU by name or layer count.
    fn asked(&self) -> bool {
        self.device.is_some() || matches!(self.layers, Layers::Count(n) if n > 0)
    }
}

impl std::str::FromStr for Layers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            n => n
                .parse::<u32>()
                .map(Self::Count)
                .map_err(|_| format!("{n} is not a layer count: give a number or auto")),
        }
    }
}

impl std::fmt::Display for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Whether this process would put layers on a GPU for `offload`.
fn on_gpu(offload: &Offload) -> bool {
    compiled_backend() != "none"
        && offload.layers != Layers::Count(0)
        && wanted().is_ok_and(|w| w != Wanted::Off)
}

/// What sets a GPU load of a model apart from a CPU one (for remembered probe verdicts);
/// `None` when the model would load on the CPU.
pub fn gpu_key(offload: &Offload) -> Option<String> {
    on_gpu(offload).then(|| {
        format!(
            "\n{} {} {:?} {} {}",
            compiled_backend(),
            offload.layers,
            offload.device,
            offload.room_cells,
            crate::launch::gpu::note().unwrap_or_default()
        )
    })
}

/// The arguments that give `offload` to the model probe's child.
pub fn child_args(offload: &Offload) -> Vec<String> {
    let mut args = vec![
        "--gpu-layers".to_string(),
        offload.layers.to_string(),
        "--room".into(),
        offload.room_cells.to_string(),
    ];
    if let Some(d) = &offload.device {
        args.extend(["--device".to_string(), d.clone()]);
    }
    args
}

/// How a model is to be loaded: its parameters, and the device they put layers on.
pub struct Placement {
    /// For `LlamaModel::load_from_file`.
    pub params: Pin<Box<LlamaModelParams>>,
    device: Option<LlamaBackendDevice>,
}

/// GPUs llama.cpp sees in this build.
fn gpus() -> Vec<LlamaBackendDevice> {
    list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| {
            matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            )
        })
        .collect()
}

/// The device `--device` names, else the first.
fn pick(all: Vec<LlamaBackendDevice>, asked: Option<&str>) -> anyhow::Result<LlamaBackendDevice> {
    let Some(asked) = asked.map(str::trim) else {
        return Ok(all.into_iter().next().expect("not empty"));
    };
    let lower = asked.to_lowercase();
    let found = all
        .iter()
        .position(|d| d.name.eq_ignore_ascii_case(asked))
        .or_else(|| {
            asked
                .parse::<usize>()
                .ok()
                .filter(|&i| i < all.len())
                .or_else(|| {
                    all.iter()
                        .position(|d| d.description.to_lowercase().contains(&lower))
                })
        });
    match found {
        Some(i) => Ok(all.into_iter().nth(i).expect("in range")),
        None => anyhow::bail!(
            "--device {asked}: no such device; devices here: {}",
            all.iter()
                .enumerate()
                .map(|(i, d)| format!("{i} {} ({})", d.name, d.description))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Everything on the CPU.
pub fn cpu_placement() -> Placement {
    let params = LlamaModelParams::default()
        .with_devices(&[])
        .expect("an empty device list is valid");
    Placement {
        params: Box::pin(params),
        device: None,
    }
}

/// Decides where `path`'s layers go. `Err` with `GpuFailed` when the GPU cannot take the
/// model (the caller falls back to the CPU); a plain error for a `--device` that names
/// nothing.
pub fn place(path: &Path, offload: &Offload) -> anyhow::Result<Placement> {
    wanted()?;
    if !on_gpu(offload) {
        if offload.asked() {
            tracing::warn!(
                "--gpu-layers/--device: this run uses the CPU ({})",
                crate::launch::gpu::note()
                    .unwrap_or_else(|| "this build has no GPU backend".into())
            );
        }
        return Ok(cpu_placement());
    }
    let all = gpus();
    if all.is_empty() {
        return Err(GpuFailed("llama.cpp found no usable GPU device".into()).into());
    }
    let device = pick(all, offload.device.as_deref())?;
    let params = LlamaModelParams::default()
        .with_devices(&[device.index])
        .map_err(|e| GpuFailed(format!("{}: {e}", device.name)))?;
    let params = match offload.layers {
        Layers::Count(n) => Box::pin(params.with_n_gpu_layers(n)),
        Layers::Auto => fit(path, Box::pin(params), &device, offload.room_cells)?,
    };
    Ok(Placement {
        params,
        device: Some(device),
    })
}

/// Lets llama.cpp fit as many layers on `device` as leave room for `room_cells` of KV
/// cache (it measures a dry load of the file). Only GPU builds carry llama.cpp's fit (its
/// common library); the CPU build never places layers on a device.
#[cfg(not(any(feature = "vulkan", feature = "cuda")))]
fn fit(
    _: &Path,
    _: Pin<Box<LlamaModelParams>>,
    device: &LlamaBackendDevice,
    _: usize,
) -> anyhow::Result<Pin<Box<LlamaModelParams>>> {
    Err(GpuFailed(format!(
        "this build has no GPU backend to fit layers on {}",
        device.description
    ))
    .into())
}

/// Lets llama.cpp fit as many layers on `device` as leave room for `room_cells` of KV
/// cache (it measures a dry load of the file).
#[cfg(any(feature = "vulkan", feature = "cuda"))]
fn fit(
    path: &Path,
    mut params: Pin<Box<LlamaModelParams>>,
    device: &LlamaBackendDevice,
    room_cells: usize,
) -> anyhow::Result<Pin<Box<LlamaModelParams>>> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let cells = u32::try_from(room_cells.max(256)).unwrap_or(u32::MAX);
    let mut cparams = llama_cpp_2::context::params::LlamaContextParams::default()
        .with_n_ctx(std::num::NonZeroU32::new(cells))
        .with_n_batch(512)
        .with_n_ubatch(512);
    let mut margins = vec![MARGIN; llama_cpp_2::max_devices()];
    let fitted = params.as_mut().fit_params(
        &c_path,
        &mut cparams,
        &mut margins,
        cells,
        llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR,
    );
    let free_mib = device.memory_free >> 20;
    match fitted {
        // Left at its default (-1, all layers) when everything fits.
        Ok(_) if params.n_gpu_layers() != 0 => Ok(params),
        Ok(_) | Err(llama_cpp_2::model::params::FitError::Failure) => Err(GpuFailed(format!(
            "no layer of the model fits in {} ({free_mib} MiB free) beside {cells} cells of KV cache (--ctx lowers them)",
            device.description
        ))
        .into()),
        Err(e) => Err(GpuFailed(format!(
            "llama.cpp could not size the model for {}: {e}",
            device.description
        ))
        .into()),
    }
}

impl Placement {
    /// Loads the model where this placement says; `GpuFailed` when the device refuses it.
    pub fn load(
        &self,
        backend: &llama_cpp_2::llama_backend::LlamaBackend,
        path: &Path,
    ) -> anyhow::Result<(LlamaModel, DeviceUse)> {
        let free_before = self.device.as_ref().map(|d| free_memory(d.index));
        let model = match LlamaModel::load_from_file(backend, path, &self.params) {
            Ok(model) => model,
            Err(e) => {
                let Some(d) = &self.device else {
                    return Err(anyhow::Error::from(e)
                        .context(format!("llama.cpp could not load {}", path.display())));
                };
                return Err(GpuFailed(format!(
                    "{} ({}) could not take the model ({e})",
                    d.name, d.description
                ))
                .into());
            }
        };
        let layers = model.n_layer();
        let used = match (&self.device, free_before) {
            (Some(d), Some(before)) => {
                let after = free_memory(d.index);
                (before > after).then(|| (before - after) as u64)
            }
            _ => None,
        };
        let record = match &self.device {
            Some(d) => DeviceUse {
                backend: d.backend.clone(),
                device: d.name.clone(),
                description: d.description.clone(),
                layers_offloaded: Some(
                    u32::try_from(self.params.n_gpu_layers()).map_or(layers, |n| n.min(layers)),
                ),
                layers: Some(layers),
                memory_bytes: used,
                why: crate::launch::gpu::note(),
            },
            None => DeviceUse {
                backend: "CPU".into(),
                device: "CPU".into(),
                description: "CPU".into(),
                layers_offloaded: Some(0),
                layers: Some(layers),
                memory_bytes: None,
                why: crate::launch::gpu::note(),
            },
        };
        Ok((model, record))
    }
}

/// The free memory llama.cpp reports for device `index` now.
fn free_memory(index: usize) -> usize {
    list_llama_ggml_backend_devices()
        .into_iter()
        .find(|d| d.index == index)
        .map_or(0, |d| d.memory_free)
}

/// The GPUs llama.cpp would use in this build, one line each.
pub fn llama_devices() -> String {
    if let Err(e) = llama_cpp_2::llama_backend::LlamaBackend::init() {
        return format!("llama.cpp devices: unknown ({e})\n");
    }
    let all = gpus();
    if all.is_empty() {
        return "llama.cpp devices: no GPU (only CPU implementations of Vulkan, which it skips unless SYLLABUS_GPU=vulkan)\n".into();
    }
    all.iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "llama.cpp device {i}: {} ({}, {} MiB free of {} MiB)\n",
                d.name,
                d.description,
                d.memory_free >> 20,
                d.memory_total >> 20
            )
        })
        .collect()
}
