//! `syllabus`: writes a whole course syllabus with a small language model running in process.
//!
//! Data flow: `cli` (request, checked into a plan) → `session` (model loaded, engine built)
//! → `pipeline` over `prompt` (messages and schemas) → `engine` (llama.cpp in process, or a
//! daemon) → `course` (validated syllabus) → `render` (Markdown, JSON, HTML, Word) + `timing`
//! (records) and `report` (tables). `courses` writes one course, `places` schedules many
//! at a shared engine; `generate`, `regenerate`, `batch`, `serve` and `bench` are the
//! commands on top.

pub mod batch;
pub mod bench;
pub mod build_info;
pub mod cache;
pub mod cli;
pub mod content;
pub mod course;
pub mod courses;
pub mod cpu;
pub mod digest;
pub mod engine;
pub mod generate;
pub mod given;
pub mod gpu;
pub mod hint;
pub mod interrupt;
pub mod language;
pub mod models;
pub mod models_command;
pub mod output;
pub mod pack;
pub mod pipeline;
pub mod places;
pub mod probe;
pub mod program;
pub mod progress;
pub mod prompt;
pub mod regenerate;
pub mod render;
pub mod render_command;
pub mod reply;
pub mod report;
pub mod schema;
pub mod serve;
pub mod session;
pub mod stderr;
pub mod timing;
pub mod title;
