//! What a run tells people: the timing record (`timing`), the tables printed after a run
//! (`tables`) and the progress bars during it (`progress`).

pub mod progress;
pub mod tables;
pub mod timing;
