//! Rewrites the metadata of a GGUF file, keeping its tensors: for tests that need a model
//! with another chat template, another vocabulary entry, or hostile values.
//!
//! Layout (GGUF v3): magic, version u32, tensor count u64, metadata count u64, metadata
//! (key string, type u32, value), tensor infos, padding to `general.alignment`, data.
//! Tensor offsets are relative to the data section, so only the header is rebuilt.

use std::path::Path;

const STRING: u32 = 8;
const ARRAY: u32 = 9;

/// A metadata value as raw bytes of its GGUF encoding (type tag included).
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    /// GGUF value type.
    pub kind: u32,
    /// Encoded value, without the type tag.
    pub bytes: Vec<u8>,
}

impl Raw {
    /// A string value.
    pub fn string(s: &str) -> Self {
        let mut bytes = (s.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(s.as_bytes());
        Self {
            kind: STRING,
            bytes,
        }
    }

    /// A u32 value (type 4).
    pub fn u32(v: u32) -> Self {
        Self {
            kind: 4,
            bytes: v.to_le_bytes().to_vec(),
        }
    }

    /// An i32 value (type 5).
    pub fn i32(v: i32) -> Self {
        Self {
            kind: 5,
            bytes: v.to_le_bytes().to_vec(),
        }
    }

    /// An array of strings.
    pub fn strings(items: &[Vec<u8>]) -> Self {
        let mut bytes = STRING.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for s in items {
            bytes.extend_from_slice(&(s.len() as u64).to_le_bytes());
            bytes.extend_from_slice(s);
        }
        Self { kind: ARRAY, bytes }
    }

    /// An array of u32 values.
    #[allow(dead_code)]
    pub fn u32s(items: &[u32]) -> Self {
        let mut bytes = 4u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for v in items {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Self { kind: ARRAY, bytes }
    }

    /// The strings of a string array value.
    pub fn as_strings(&self) -> Vec<Vec<u8>> {
        assert_eq!(self.kind, ARRAY);
        let mut r = Cursor(&self.bytes, 0);
        assert_eq!(r.u32(), STRING);
        let n = r.u64();
        (0..n)
            .map(|_| {
                let len = r.u64() as usize;
                r.take(len).to_vec()
            })
            .collect()
    }
}

struct Cursor<'a>(&'a [u8], usize);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.0[self.1..self.1 + n];
        self.1 += n;
        s
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    /// Skips one value of `kind`; returns its bytes.
    fn value(&mut self, kind: u32) -> &'a [u8] {
        let start = self.1;
        match kind {
            0 | 1 | 7 => self.1 += 1,
            2 | 3 => self.1 += 2,
            4..=6 => self.1 += 4,
            10..=12 => self.1 += 8,
            STRING => {
                let n = self.u64() as usize;
                self.1 += n;
            }
            ARRAY => {
                let inner = self.u32();
                let n = self.u64();
                for _ in 0..n {
                    self.value(inner);
                }
            }
            other => panic!("unknown GGUF type {other}"),
        }
        &self.0[start..self.1]
    }
}

/// A GGUF file split into metadata (in order) and the untouched tensor part.
pub struct Gguf {
    version: u32,
    tensor_count: u64,
    /// Metadata in file order.
    pub meta: Vec<(String, Raw)>,
    tensor_infos: Vec<u8>,
    data: Vec<u8>,
}

impl Gguf {
    /// Reads a whole GGUF file.
    pub fn read(path: &Path) -> Self {
        let file = std::fs::read(path).unwrap();
        let mut r = Cursor(&file, 0);
        assert_eq!(r.take(4), b"GGUF");
        let version = r.u32();
        let tensor_count = r.u64();
        let kv_count = r.u64();
        let mut meta = Vec::new();
        for _ in 0..kv_count {
            let key = r.string();
            let kind = r.u32();
            let bytes = r.value(kind).to_vec();
            meta.push((key, Raw { kind, bytes }));
        }
        let infos_start = r.1;
        for _ in 0..tensor_count {
            r.string();
            let dims = r.u32() as usize;
            r.take(8 * dims + 4 + 8);
        }
        let tensor_infos = file[infos_start..r.1].to_vec();
        let align = Self::alignment_of(&meta);
        let data_start = r.1.div_ceil(align) * align;
        Self {
            version,
            tensor_count,
            meta,
            tensor_infos,
            data: file[data_start..].to_vec(),
        }
    }

    fn alignment_of(meta: &[(String, Raw)]) -> usize {
        meta.iter()
            .find(|(k, _)| k == "general.alignment")
            .map_or(32, |(_, v)| {
                u32::from_le_bytes(v.bytes[..4].try_into().unwrap()) as usize
            })
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Raw> {
        self.meta.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` (added at the end when absent).
    pub fn set(&mut self, key: &str, value: Raw) -> &mut Self {
        match self.meta.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.meta.push((key.to_string(), value)),
        }
        self
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.meta.retain(|(k, _)| k != key);
        self
    }

    /// Writes the file with its metadata as it is now.
    pub fn write(&self, path: &Path) {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.tensor_count.to_le_bytes());
        out.extend_from_slice(&(self.meta.len() as u64).to_le_bytes());
        for (k, v) in &self.meta {
            out.extend_from_slice(&(k.len() as u64).to_le_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&v.kind.to_le_bytes());
            out.extend_from_slice(&v.bytes);
        }
        out.extend_from_slice(&self.tensor_infos);
        let align = Self::alignment_of(&self.meta);
        out.resize(out.len().div_ceil(align) * align, 0);
        out.extend_from_slice(&self.data);
        std::fs::write(path, out).unwrap();
    }
}
