//! A run plan made real: the engine built (`session`, the model vetted first by `probe`),
//! courses scheduled at a shared engine (`scheduler`), one course written on it (`course_run`).

pub mod course_run;
pub mod probe;
pub mod scheduler;
pub mod session;
