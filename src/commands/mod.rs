//! The commands, one module each: `generate`, `regenerate`, `render`, `batch`, `serve`,
//! `bench`, `models`, `pack` and `cpu`; `main.rs` parses and hands over.

pub mod batch;
pub mod bench;
pub mod cpu;
pub mod generate;
pub mod models;
pub mod pack;
pub mod regenerate;
pub mod render;
pub mod serve;
