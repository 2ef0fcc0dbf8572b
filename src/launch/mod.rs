//! The start of the process and its ground floor: which build runs (the CPU variant or the
//! Vulkan build carried inside, `cpu_variant`, `vulkan`, `gpu`, `devices`, `supervise`,
//! decided once into `start`),
//! the program's own file and its payloads (`program`, `payload`), and what every layer
//! above uses: stderr, signals, the private cache, atomic writes, digests, build facts.

pub mod build_info;
pub mod cache;
pub mod cpu_variant;
pub mod devices;
pub mod digest;
pub mod gpu;
pub mod hint;
pub mod interrupt;
pub mod output;
pub mod payload;
pub mod program;
pub mod start;
pub mod stderr;
pub mod supervise;
pub mod vulkan;
