//! The result cache: each experiment's result as JSON under `out/cache/`,
//! keyed by its config, precision, seed, data fingerprint and version, written
//! atomically so that an interrupted run loses nothing it had finished.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::sha256_hex;
use crate::precision::Precision;

/// What the cache stores for one experiment run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub key: String,
    pub version: u32,
    pub seed: u64,
    pub config: Value,
    /// What its networks computed in.
    pub precision: Precision,
    pub data_fingerprint: String,
    pub wall_seconds: f64,
    /// Where it ran: results are bit-identical only for the same device and thread count.
    pub device: String,
    pub threads: i32,
    pub result: Value,
}

/// The cache key of an experiment: a hash over everything its result depends on.
pub fn key(id: &str, version: u32, config: &Value, precision: Precision, seed: u64, data_fingerprint: &str) -> String {
    let keyed = serde_json::json!({
        "id": id, "version": version, "config": config, "precision": precision, "seed": seed, "data": data_fingerprint,
    });
    sha256_hex(keyed.to_string().as_bytes())
}

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn path(&self, id: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{id}-{}.json", &key[..16]))
    }

    /// The cached entry for `key`, if there is a readable one.
    pub fn load(&self, id: &str, key: &str) -> anyhow::Result<Option<Entry>> {
        let path = self.path(id, key);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("{}: cannot be read", path.display())),
        };
        let entry: Entry = serde_json::from_str(&text).with_context(|| {
            format!("{}: is not a valid cached result; delete it (or run with --force) to recompute", path.display())
        })?;
        Ok((entry.key == key).then_some(entry))
    }

    pub fn store(&self, entry: &Entry) -> anyhow::Result<PathBuf> {
        let path = self.path(&entry.id, &entry.key);
        write_atomic(&path, serde_json::to_string_pretty(entry)?.as_bytes())?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so that readers see the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("{}: cannot write", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    tmp.persist(path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_every_input() {
        let config = serde_json::json!({"epochs": 10});
        let f32 = Precision::Float32;
        let base = key("q2", 1, &config, f32, 5, "abc");
        assert_eq!(base, key("q2", 1, &config, f32, 5, "abc"));
        assert_ne!(base, key("q2", 2, &config, f32, 5, "abc"));
        assert_ne!(base, key("q2", 1, &serde_json::json!({"epochs": 11}), f32, 5, "abc"));
        assert_ne!(base, key("q2", 1, &config, Precision::BFloat16, 5, "abc"));
        assert_ne!(base, key("q2", 1, &config, f32, 6, "abc"));
        assert_ne!(base, key("q2", 1, &config, f32, 5, "abd"));
    }

    #[test]
    fn stores_loads_and_rejects_a_stale_or_broken_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let entry = Entry {
            id: "q".into(),
            key: "0123456789abcdef0123".into(),
            version: 1,
            seed: 3,
            config: Value::Null,
            precision: Precision::Float32,
            data_fingerprint: "d".into(),
            wall_seconds: 1.5,
            device: "cpu".into(),
            threads: 2,
            result: serde_json::json!({"accuracy": 0.5}),
        };
        cache.store(&entry).unwrap();
        assert_eq!(cache.load("q", &entry.key).unwrap().unwrap().result, entry.result);
        assert!(cache.load("q", "0123456789abcdef9999").unwrap().is_none());
        assert!(cache.load("q", "ffffffffffffffff0000").unwrap().is_none());
        std::fs::write(cache.path("q", &entry.key), "{ truncated").unwrap();
        let err = cache.load("q", &entry.key).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
    }
}
