//! Shared helpers for tests that use the real test model.

#![allow(dead_code)]

use std::path::PathBuf;

/// The test model, fetched by scripts/fetch-test-model.sh (CI runs it before the tests).
pub fn model_path() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "test model missing at {}: run scripts/fetch-test-model.sh",
        path.display()
    );
    path
}
