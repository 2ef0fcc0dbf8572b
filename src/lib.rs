//! `syllabus`: writes a whole course syllabus with a small language model running in process.
//!
//! Data flow: `cli` (request) → `prompt` (messages and schemas) → `engine` (llama.cpp in
//! process) → `course` (validated syllabus) → `render` (Markdown / JSON) + `timing` (report).
//! `pipeline` drives the calls; `app` wires a command to files.

pub mod app;
pub mod bench;
pub mod build_info;
pub mod cli;
pub mod course;
pub mod digest;
pub mod engine;
pub mod models;
pub mod output;
pub mod pack;
pub mod pipeline;
pub mod progress;
pub mod prompt;
pub mod render;
pub mod timing;
