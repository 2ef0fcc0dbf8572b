//! `syllabus`: writes a whole course syllabus with a small language model running in process.
//!
//! The folders in data-flow order: `launch` (which build runs; the process's stderr,
//! signals and files), `cli` (the request checked into a plan), `models` (model files found
//! and checked), `run` (the plan made real: engines, the scheduler, one course run),
//! `pipeline` (prompts and the calls of a course: outline, modules, repeated items),
//! `engine` (llama.cpp in process, or a daemon), `course` (the validated syllabus and its
//! checks), `render` (Markdown, HTML, Word, PDF, course packages), `report` (the timing
//! record, tables, progress bars), `commands` (generate, regenerate, render, batch, serve,
//! bench, models, pack).

pub mod cli;
pub mod commands;
pub mod course;
pub mod engine;
pub mod launch;
pub mod models;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod run;
