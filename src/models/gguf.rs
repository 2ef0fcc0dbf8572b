//! A GGUF header reader that checks a file before llama.cpp sees it.
//!
//! llama.cpp aborts the process on some malformed files; this reader walks the header
//! (magic, version, metadata, tensor table) with every length checked against the file
//! size, and checks that all tensor data lies inside the file. It never reads weights.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Why a file is not a usable GGUF model.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File read.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not GGUF at all.
    #[error("{path} is not a GGUF model file (it does not start with the GGUF magic bytes)")]
    NotGguf {
        /// File read.
        path: String,
    },
    /// The file is GGUF but damaged or of an unknown layout.
    #[error("{path} is a damaged or unsupported GGUF file: {reason}")]
    Corrupt {
        /// File read.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A metadata value, as far as this program needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Any integer type.
    Int(i128),
    /// f32 or f64.
    Float(f64),
    /// bool.
    Bool(bool),
    /// UTF-8 string (lossy).
    Str(String),
    /// An array; only its length is kept.
    Array(u64),
}

/// What the header says about the model.
#[derive(Debug, Clone)]
pub struct GgufInfo {
    /// GGUF format version.
    pub version: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// Number of tensors.
    pub tensor_count: u64,
    /// Total elements over all tensors (the parameter count).
    pub parameters: u64,
    /// Metadata by key.
    pub metadata: BTreeMap<String, MetaValue>,
    /// Bytes of the longest token in `tokenizer.ggml.tokens` (0 without a vocabulary).
    pub longest_token: u64,
    /// The first token text that appears twice in `tokenizer.ggml.tokens`, if any.
    pub duplicate_token: Option<String>,
    /// Each tensor's name and dimensions, in file order.
    pub tensors: Vec<(String, Vec<u64>)>,
}

impl GgufInfo {
    /// A string metadata value.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.metadata.get(key) {
            Some(MetaValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// An integer metadata value.
    pub fn int(&self, key: &str) -> Option<i128> {
        match self.metadata.get(key) {
            Some(MetaValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// `general.architecture`, e.g. "llama" or "qwen2".
    pub fn architecture(&self) -> Option<&str> {
        self.str("general.architecture")
    }

    /// Training context length.
    pub fn context_length(&self) -> Option<i128> {
        self.int(&format!("{}.context_length", self.architecture()?))
    }

    /// Whether the file carries a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.metadata.contains_key("tokenizer.chat_template")
    }

    /// Vocabulary size from the tokenizer's token list.
    pub fn vocab_size(&self) -> Option<u64> {
        match self.metadata.get("tokenizer.ggml.tokens") {
            Some(MetaValue::Array(n)) => Some(*n),
            _ => None,
        }
    }

    /// Quantization named by `general.file_type`, e.g. "Q4_0".
    pub fn quantization(&self) -> Option<&'static str> {
        super::ggml::file_type_name(self.int("general.file_type")?)
    }
}

const MAGIC: &[u8; 4] = b"GGUF";
const MAX_COUNT: u64 = 1 << 24;
const MAX_DIMS: u32 = 4;

struct Reader<R> {
    inner: R,
    pos: u64,
    size: u64,
    /// Bytes of the longest string read since this was last reset.
    longest: u64,
    /// Strings read while set (the token list), to find one that repeats.
    seen: Option<std::collections::HashSet<Vec<u8>>>,
    /// The first string read twice while `seen` was set.
    repeated: Option<String>,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, String> {
        if n > self.size.saturating_sub(self.pos) {
            return Err(format!(
                "a length of {n} bytes at offset {} runs past the end of the file",
                self.pos
            ));
        }
        let mut buf = vec![0; n as usize];
        self.inner.read_exact(&mut buf).map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let v = self.bytes(N as u64)?;
        Ok(v.try_into().expect("length checked"))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn count(&mut self, what: &str) -> Result<u64, String> {
        let n = self.u64()?;
        if n > MAX_COUNT {
            return Err(format!("{what} count {n} is implausible"));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u64()?;
        self.longest = self.longest.max(n);
        let bytes = self.bytes(n)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(seen) = &mut self.seen {
            if !seen.insert(bytes) && self.repeated.is_none() {
                self.repeated = Some(text.clone());
            }
        }
        Ok(text)
    }

    fn value(&mut self, ty: u32) -> Result<MetaValue, String> {
        Ok(match ty {
            0 => MetaValue::Int(self.array::<1>()?[0].into()),
            1 => MetaValue::Int((self.array::<1>()?[0] as i8).into()),
            2 => MetaValue::Int(u16::from_le_bytes(self.array()?).into()),
            3 => MetaValue::Int(i16::from_le_bytes(self.array()?).into()),
            4 => MetaValue::Int(self.u32()?.into()),
            5 => MetaValue::Int(i32::from_le_bytes(self.array()?).into()),
            6 => MetaValue::Float(f32::from_le_bytes(self.array()?).into()),
            7 => MetaValue::Bool(self.array::<1>()?[0] != 0),
            8 => MetaValue::Str(self.string()?),
            9 => {
                let item = self.u32()?;
                if item == 9 {
                    return Err("nested metadata arrays are not supported".into());
                }
                let n = self.u64()?;
                if n > self.size {
                    return Err(format!(
                        "metadata array of {n} items is longer than the file"
                    ));
                }
                for _ in 0..n {
                    self.value(item)?;
                }
                MetaValue::Array(n)
            }
            10 => MetaValue::Int(self.u64()?.into()),
            11 => MetaValue::Int(i64::from_le_bytes(self.array()?).into()),
            12 => MetaValue::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown metadata type {other}")),
        })
    }
}

/// Reads and checks the header of the GGUF file at `path`.
pub fn read(path: &Path) -> Result<GgufInfo, GgufError> {
    let shown = path.display().to_string();
    let io = |source| GgufError::Io {
        path: shown.clone(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    read_from(BufReader::new(file), size, shown)
}

/// Reads and checks a GGUF header from `inner`, a stream of `size` bytes named `shown`.
pub fn read_from<R: Read + Seek>(
    inner: R,
    size: u64,
    shown: String,
) -> Result<GgufInfo, GgufError> {
    let mut r = Reader {
        inner,
        pos: 0,
        size,
        longest: 0,
        seen: None,
        repeated: None,
    };
    match r.array::<4>() {
        Ok(m) if &m == MAGIC => {}
        _ => return Err(GgufError::NotGguf { path: shown }),
    }
    parse(&mut r).map_err(|reason| GgufError::Corrupt {
        path: shown,
        reason,
    })
}

/// The metadata of a header, and the longest token's length in bytes.
type Metadata = (BTreeMap<String, MetaValue>, u64);

fn read_metadata<R: Read + Seek>(r: &mut Reader<R>, kv_count: u64) -> Result<Metadata, String> {
    let mut metadata = BTreeMap::new();
    let mut longest_token = 0;
    for _ in 0..kv_count {
        let key = r.string()?;
        let ty = r.u32()?;
        r.longest = 0;
        let tokens = key == "tokenizer.ggml.tokens";
        if tokens {
            r.seen = Some(Default::default());
        }
        let value = r.value(ty).map_err(|e| format!("metadata `{key}`: {e}"))?;
        if tokens {
            longest_token = r.longest;
            r.seen = None;
        }
        metadata.insert(key, value);
    }
    Ok((metadata, longest_token))
}

/// A tensor entry's name, dimensions and element count.
fn tensor_shape<R: Read + Seek>(r: &mut Reader<R>) -> Result<(String, Vec<u64>, u64), String> {
    let name = r.string()?;
    let dims = r.u32()?;
    if dims == 0 || dims > MAX_DIMS {
        return Err(format!("tensor `{name}` has {dims} dimensions"));
    }
    let mut elements: u64 = 1;
    let mut shape = Vec::with_capacity(dims as usize);
    for _ in 0..dims {
        let n = r.u64()?;
        shape.push(n);
        elements = elements
            .checked_mul(n)
            .ok_or_else(|| format!("tensor `{name}` element count overflows"))?;
    }
    Ok((name, shape, elements))
}

fn parse<R: Read + Seek>(r: &mut Reader<R>) -> Result<GgufInfo, String> {
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version} is not supported (2 and 3 are)"
        ));
    }
    let tensor_count = r.count("tensor")?;
    let kv_count = r.count("metadata")?;
    let (metadata, longest_token) = read_metadata(r, kv_count)?;
    let alignment = match metadata.get("general.alignment") {
        Some(MetaValue::Int(a)) if *a > 0 && (*a as u64).is_power_of_two() => *a as u64,
        None => 32,
        Some(other) => return Err(format!("general.alignment {other:?} is not a power of two")),
    };
    // A tensor entry takes at least 32 bytes: reserve no more than the file can hold.
    let fits = r.size.saturating_sub(r.pos) / 32;
    let mut tensors = Vec::with_capacity(tensor_count.min(fits) as usize);
    let mut parameters: u64 = 0;
    for _ in 0..tensor_count {
        let (name, shape, elements) = tensor_shape(r)?;
        let ty = r.u32()?;
        let offset = r.u64()?;
        let bytes =
            super::ggml::tensor_bytes(ty, elements).map_err(|e| format!("tensor `{name}`: {e}"))?;
        parameters = parameters.saturating_add(elements);
        tensors.push((name, offset, bytes, shape));
    }
    let data_start = r.pos.div_ceil(alignment) * alignment;
    for (name, offset, bytes, _) in &tensors {
        let end = data_start
            .checked_add(*offset)
            .and_then(|s| s.checked_add(*bytes))
            .ok_or_else(|| format!("tensor `{name}` offset overflows"))?;
        if end > r.size {
            return Err(format!(
                "tensor `{name}` ends at byte {end} but the file has {} bytes: the file is truncated",
                r.size
            ));
        }
    }
    r.inner
        .seek(SeekFrom::Start(0))
        .map_err(|e| e.to_string())?;
    Ok(GgufInfo {
        version,
        file_size: r.size,
        tensor_count,
        parameters,
        metadata,
        longest_token,
        duplicate_token: r.repeated.take(),
        tensors: tensors
            .into_iter()
            .map(|(name, _, _, shape)| (name, shape))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid GGUF: one F32 tensor of 8 elements.
    fn tiny_gguf() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(MAGIC);
        b.extend(3u32.to_le_bytes());
        b.extend(1u64.to_le_bytes()); // tensors
        b.extend(2u64.to_le_bytes()); // kv
        let key = |b: &mut Vec<u8>, k: &str| {
            b.extend((k.len() as u64).to_le_bytes());
            b.extend(k.as_bytes());
        };
        key(&mut b, "general.architecture");
        b.extend(8u32.to_le_bytes());
        key(&mut b, "llama");
        key(&mut b, "general.file_type");
        b.extend(4u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        key(&mut b, "w");
        b.extend(1u32.to_le_bytes());
        b.extend(8u64.to_le_bytes());
        b.extend(0u32.to_le_bytes()); // F32
        b.extend(0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        b.extend([0u8; 32]);
        b
    }

    fn check(bytes: &[u8]) -> Result<GgufInfo, GgufError> {
        read_from(
            std::io::Cursor::new(bytes),
            bytes.len() as u64,
            "test.gguf".into(),
        )
    }

    #[test]
    fn tiny_file_is_read() {
        let info = check(&tiny_gguf()).unwrap();
        assert_eq!(info.architecture(), Some("llama"));
        assert_eq!(info.quantization(), Some("Q4_0"));
        assert_eq!(info.parameters, 8);
    }

    #[test]
    fn empty_and_text_files_are_not_gguf() {
        assert!(matches!(check(b""), Err(GgufError::NotGguf { .. })));
        assert!(matches!(
            check(b"hello, world\n"),
            Err(GgufError::NotGguf { .. })
        ));
    }

    #[test]
    fn every_truncation_is_refused() {
        let full = tiny_gguf();
        for len in 4..full.len() {
            let err = check(&full[..len]).expect_err(&format!("accepted {len} bytes"));
            assert!(matches!(err, GgufError::Corrupt { .. }), "{len}: {err}");
        }
    }

    #[test]
    fn huge_lengths_are_refused_without_allocating() {
        let mut bad = tiny_gguf();
        bad[24..32].copy_from_slice(&u64::MAX.to_le_bytes()); // first key's length
        assert!(matches!(check(&bad), Err(GgufError::Corrupt { .. })));
        let mut bad = tiny_gguf();
        bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // tensor count
        assert!(matches!(check(&bad), Err(GgufError::Corrupt { .. })));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Mutated and cut headers are refused or read, never a panic or a huge allocation.
        #[test]
        fn mutated_headers_never_panic(
            edits in proptest::collection::vec((4usize..200, proptest::prelude::any::<u8>()), 1..8),
            cut in 4usize..256,
        ) {
            let mut bytes = tiny_gguf();
            for (i, v) in edits {
                let i = i % bytes.len();
                bytes[i] = v;
            }
            bytes.truncate(cut.max(4));
            let _ = check(&bytes);
        }

        /// Arbitrary bytes after the magic are never accepted as a model with tensors out of bounds.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut bytes = b"GGUF".to_vec();
            bytes.extend(body);
            if let Ok(info) = check(&bytes) {
                proptest::prop_assert!(info.file_size == bytes.len() as u64);
            }
        }
    }
}
