//! Facts about this build and the llama.cpp it runs, for timing records.

use serde::Serialize;

/// How this binary was built and what llama.cpp reports at run time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildInfo {
    /// This crate's version.
    pub crate_version: String,
    /// Version of llama-cpp-sys-2, which vendors llama.cpp.
    pub llama_cpp_sys_version: String,
    /// ggml's version as compiled in.
    pub ggml_version: String,
    /// Target triple.
    pub target: String,
    /// Cargo profile.
    pub profile: String,
    /// SIMD features compiled for (from build.rs).
    pub cpu_features: Vec<String>,
    /// llama.cpp's own line of CPU features in use.
    pub llama_system_info: String,
    /// The CPU variant running (x86-64-v3, or x86-64-v4 chosen at start).
    pub cpu_variant: String,
    /// The CPU features this machine reports that decide the variant.
    pub cpu_detected: Vec<String>,
}

fn c_text(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return "unknown".into();
    }
    // SAFETY: llama.cpp returns a NUL-terminated static string.
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .trim()
        .to_string()
}

/// The build facts of this binary.
pub fn build_info() -> BuildInfo {
    BuildInfo {
        crate_version: env!("CARGO_PKG_VERSION").into(),
        llama_cpp_sys_version: env!("SYLLABUS_LLAMA_CPP_SYS").into(),
        // SAFETY: both return static strings and need no initialised backend.
        ggml_version: c_text(unsafe { llama_cpp_sys_2::ggml_version() }),
        target: env!("SYLLABUS_TARGET").into(),
        profile: env!("SYLLABUS_PROFILE").into(),
        cpu_features: env!("SYLLABUS_CPU_FEATURES")
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        llama_system_info: c_text(unsafe { llama_cpp_sys_2::llama_print_system_info() }),
        cpu_variant: super::cpu_variant::compiled_variant().into(),
        cpu_detected: super::cpu_variant::detected()
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_facts_are_filled_in() {
        let b = build_info();
        assert_eq!(b.crate_version, env!("CARGO_PKG_VERSION"));
        assert!(b.llama_cpp_sys_version.starts_with("0."), "{b:?}");
        assert!(!b.target.is_empty() && !b.profile.is_empty());
        assert!(
            b.llama_system_info.contains("CPU"),
            "{}",
            b.llama_system_info
        );
        if cfg!(target_arch = "x86_64") {
            assert!(b.cpu_features.iter().any(|f| f == "avx2"), "{b:?}");
        }
    }
}
