//! Reads models out of an Ollama store on disk, so a model pulled with Ollama runs
//! without the daemon.
//!
//! Layout: `manifests/<host>/<namespace>/<name>/<tag>` is an OCI-style JSON manifest; its
//! layer with media type `application/vnd.ollama.image.model` names the GGUF blob, stored
//! as `blobs/sha256-<hex>`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Media type of the layer that holds the GGUF weights.
pub const MODEL_MEDIA_TYPE: &str = "application/vnd.ollama.image.model";
const DEFAULT_HOST: &str = "registry.ollama.ai";
const DEFAULT_NAMESPACE: &str = "library";

/// An Ollama model reference: `[host/][namespace/]name[:tag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OllamaName {
    host: String,
    namespace: String,
    name: String,
    tag: String,
}

impl OllamaName {
    /// Parses a reference; `None` when it cannot be an Ollama name.
    pub fn parse(spec: &str) -> Option<Self> {
        let (path, tag) = match spec.rsplit_once(':') {
            Some((p, t)) => (p, t),
            None => (spec, "latest"),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        let parts: Vec<&str> = path.split('/').collect();
        if !ok(tag) || !parts.iter().all(|p| ok(p)) {
            return None;
        }
        let (host, namespace, name) = match parts.as_slice() {
            [name] => (DEFAULT_HOST, DEFAULT_NAMESPACE, *name),
            [ns, name] => (DEFAULT_HOST, *ns, *name),
            [host, ns, name] => (*host, *ns, *name),
            _ => return None,
        };
        Some(Self {
            host: host.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// The manifest's path inside a store.
    pub fn manifest_path(&self, store: &Path) -> PathBuf {
        store
            .join("manifests")
            .join(&self.host)
            .join(&self.namespace)
            .join(&self.name)
            .join(&self.tag)
    }
}

impl std::fmt::Display for OllamaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

#[derive(Deserialize)]
struct Manifest {
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    size: Option<u64>,
}

/// Why a model in the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OllamaStoreError {
    /// The manifest is not JSON of the expected shape.
    #[error("Ollama manifest {path} cannot be read: {reason}")]
    BadManifest {
        /// Manifest path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The manifest's model blob is missing or has the wrong size.
    #[error("Ollama blob {path} for {model} is {problem}; run `ollama pull {model}` again")]
    BadBlob {
        /// Model reference.
        model: String,
        /// Blob path.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// Finds the GGUF blob of `name` in `store`: `Ok(None)` when the store has no manifest.
pub fn locate(store: &Path, name: &OllamaName) -> Result<Option<PathBuf>, OllamaStoreError> {
    let manifest_path = name.manifest_path(store);
    let Ok(text) = std::fs::read_to_string(&manifest_path) else {
        return Ok(None);
    };
    let bad = |reason: String| OllamaStoreError::BadManifest {
        path: manifest_path.display().to_string(),
        reason,
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == MODEL_MEDIA_TYPE)
        .ok_or_else(|| bad(format!("no layer of type {MODEL_MEDIA_TYPE}")))?;
    let hex = layer
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| {
            bad(format!(
                "model digest `{}` is not sha256:<hex>",
                layer.digest
            ))
        })?;
    let blob = store.join("blobs").join(format!("sha256-{hex}"));
    let problem = match (std::fs::metadata(&blob), layer.size) {
        (Err(_), _) => Some("missing".to_string()),
        (Ok(m), Some(size)) if m.len() != size => {
            Some(format!("{} bytes where the manifest says {size}", m.len()))
        }
        _ => None,
    };
    if let Some(problem) = problem {
        return Err(OllamaStoreError::BadBlob {
            model: name.to_string(),
            path: blob.display().to_string(),
            problem,
        });
    }
    Ok(Some(blob))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_manifest_paths() {
        let store = Path::new("/s");
        let p = |s: &str| OllamaName::parse(s).unwrap().manifest_path(store);
        assert_eq!(
            p("qwen2:1.5b"),
            Path::new("/s/manifests/registry.ollama.ai/library/qwen2/1.5b")
        );
        assert_eq!(
            p("llama3.2"),
            Path::new("/s/manifests/registry.ollama.ai/library/llama3.2/latest")
        );
        assert_eq!(
            p("me/tiny:q4"),
            Path::new("/s/manifests/registry.ollama.ai/me/tiny/q4")
        );
        assert_eq!(
            p("hf.co/org/m:Q4_0"),
            Path::new("/s/manifests/hf.co/org/m/Q4_0")
        );
    }

    #[test]
    fn names_that_could_escape_the_store_are_refused() {
        for bad in [
            "../x:1",
            "a/../../b",
            "x:",
            ":tag",
            "a b",
            "a/b/c/d",
            "x:../y",
        ] {
            assert_eq!(OllamaName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn manifest_leads_to_the_model_blob() {
        let store = tempfile::tempdir().unwrap();
        let name = OllamaName::parse("tiny:1b").unwrap();
        assert!(locate(store.path(), &name).unwrap().is_none());
        let hex = "ab".repeat(32);
        let manifest = name.manifest_path(store.path());
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        let write_manifest = |size: u64| {
            let json = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": format!("sha256:{}", "cd".repeat(32)), "size": 10},
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.template",
                     "digest": format!("sha256:{}", "ef".repeat(32)), "size": 3},
                    {"mediaType": MODEL_MEDIA_TYPE, "digest": format!("sha256:{hex}"), "size": size}
                ]
            });
            std::fs::write(&manifest, json.to_string()).unwrap();
        };
        write_manifest(5);
        let err = locate(store.path(), &name).unwrap_err().to_string();
        assert!(
            err.contains("missing") && err.contains("ollama pull tiny:1b"),
            "{err}"
        );
        std::fs::create_dir_all(store.path().join("blobs")).unwrap();
        let blob = store.path().join("blobs").join(format!("sha256-{hex}"));
        std::fs::write(&blob, b"12345").unwrap();
        assert_eq!(locate(store.path(), &name).unwrap(), Some(blob.clone()));
        write_manifest(9);
        let err = locate(store.path(), &name).unwrap_err().to_string();
        assert!(err.contains("5 bytes where the manifest says 9"), "{err}");
        std::fs::write(&manifest, "{not json").unwrap();
        assert!(matches!(
            locate(store.path(), &name),
            Err(OllamaStoreError::BadManifest { .. })
        ));
    }
}
