//! Provenance: `out/manifest.json` ties every number of the report to the
//! code, data, seed and machine that made it; `verify` re-runs the
//! experiments and compares every metric with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::{Cache, Entry, is_timing, write_atomic};
use crate::data::{Provenance, sha256_hex};
use crate::precision::{Chosen, CpuFeatures, Precision};
use crate::runner::{Computed, Plan};

/// What the report says about the run that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub profile: String,
    /// True when made with the assignment's exact settings.
    pub full: bool,
    pub seed: u64,
    pub commit: String,
    pub dirty: bool,
    /// The report's date (the commit's), as YYYY-MM-DD.
    pub date: String,
    /// The devices the experiments ran on, e.g. "cpu".
    pub device: String,
    /// The thread counts that computed the numbers, e.g. "2 threads", or
    /// "1 and 2 threads" where experiments differ.
    pub threads: String,
    /// What the networks computed in, e.g. "float32", or one precision per
    /// group of experiments where they differ.
    pub precision: String,
    /// Why the run chose that precision.
    pub precision_reason: String,
    pub cpu_class: String,
    pub data_official: bool,
    pub data_fingerprint: String,
    /// What the data are: the answers name it, its images and classes.
    pub data: crate::data::DataSet,
    pub program_version: String,
}

impl RunInfo {
    /// What the report says of the run of `plan` that computed `results`
    /// from `data`, on `machine`, with the code in `project_dir`.
    pub fn new(plan: &Plan, results: &[Computed], machine: &Machine, data: &Provenance, project_dir: &Path) -> RunInfo {
        let (commit, dirty, date) = crate::git::state(project_dir);
        let mut entries: Vec<&Entry> = results.iter().map(|c| &c.entry).collect();
        entries.sort_by(|a, b| a.inputs.id.cmp(&b.inputs.id));
        RunInfo {
            profile: plan.profile.name().into(),
            full: plan.profile == crate::profile::Profile::Full,
            seed: plan.master_seed,
            commit,
            dirty,
            date,
            device: distinct(entries.iter().map(|e| e.device.clone())),
            threads: threads_summary(&entries),
            precision: precision_summary(&entries),
            precision_reason: plan.precision.reason.clone(),
            cpu_class: machine.cpu_class.clone(),
            data_official: data.official,
            data_fingerprint: data.fingerprint.clone(),
            data: data.data_set.clone(),
            program_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The values, each once, in order: "cpu", or "cpu and cuda".
fn distinct(values: impl Iterator<Item = String>) -> String {
    let set: std::collections::BTreeSet<String> = values.collect();
    set.into_iter().collect::<Vec<_>>().join(" and ")
}

/// The thread counts the experiments' numbers came from (a later `render
/// --threads` changes nothing they say): "1 thread", "1 and 2 threads".
fn threads_summary(entries: &[&Entry]) -> String {
    let counts: std::collections::BTreeSet<i32> = entries.iter().map(|e| e.threads).collect();
    let plural = if counts.len() == 1 && counts.contains(&1) { "thread" } else { "threads" };
    let counts: Vec<String> = counts.iter().map(i32::to_string).collect();
    format!("{} {plural}", counts.join(" and "))
}

/// What the experiments computed in: one precision, or each precision with
/// the experiments that used it.
fn precision_summary(entries: &[&Entry]) -> String {
    let mut by_precision: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in entries {
        by_precision.entry(e.inputs.precision.name()).or_default().push(&e.inputs.id);
    }
    match by_precision.len() {
        0 | 1 => by_precision.keys().next().copied().unwrap_or("float32").to_owned(),
        _ => by_precision.iter().map(|(p, ids)| format!("{p} ({})", ids.join(", "))).collect::<Vec<_>>().join("; "),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versions {
    pub program: String,
    pub rustc: String,
    pub tch: String,
    pub libtorch: String,
    /// libtorch's full version (with its CUDA tag) and commit.
    pub libtorch_build: String,
    pub typst: String,
}

impl Versions {
    pub fn current() -> Versions {
        Versions {
            program: env!("CARGO_PKG_VERSION").into(),
            rustc: env!("MNIST_WRITEUP_RUSTC").into(),
            tch: env!("MNIST_WRITEUP_TCH").into(),
            libtorch: env!("MNIST_WRITEUP_LIBTORCH").into(),
            libtorch_build: env!("MNIST_WRITEUP_LIBTORCH_BUILD").into(),
            typst: env!("MNIST_WRITEUP_TYPST").into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentRecord {
    pub id: String,
    pub config: Value,
    pub seed: u64,
    pub key: String,
    /// The cached result, relative to the output directory.
    pub cache_file: PathBuf,
    pub wall_seconds: f64,
    pub device: String,
    pub threads: i32,
    pub precision: Precision,
    /// The CPU class it ran on.
    pub cpu_class: String,
    /// SHA-256 of each source file that computed it.
    pub code: BTreeMap<String, String>,
    pub result_sha256: String,
}

/// What decides the numerics and speed of a run besides the code: the CPU
/// and its features, and the precision chosen with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    /// Machines of one class may give bit-identical results; of two, not.
    pub cpu_class: String,
    pub cpu_features: CpuFeatures,
    pub precision: Chosen,
}

impl Machine {
    pub fn current(precision: &Chosen) -> Machine {
        let features = CpuFeatures::detect();
        Machine { cpu_model: cpu_model(), cpu_class: features.class(), cpu_features: features, precision: precision.clone() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub profile: String,
    pub seed: u64,
    pub versions: Versions,
    pub run: RunInfo,
    pub machine: Machine,
    pub data: Provenance,
    pub experiments: Vec<ExperimentRecord>,
    /// SHA-256 of every output file, by path relative to the output directory.
    pub outputs: BTreeMap<String, String>,
    /// SHA-256 of the answers, templates and report.toml that rendered them
    /// (see `report::sources`).
    #[serde(default)]
    pub report_sources: BTreeMap<String, String>,
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())))
        .unwrap_or_else(|| std::env::consts::ARCH.into())
}

impl Manifest {
    /// The profile the run was made with.
    pub fn profile(&self) -> anyhow::Result<crate::profile::Profile> {
        <crate::profile::Profile as clap::ValueEnum>::from_str(&self.profile, true)
            .map_err(|e| anyhow::anyhow!("profile `{}`: {e}", self.profile))
    }

    pub fn path(out: &Path) -> PathBuf {
        out.join("manifest.json")
    }

    pub fn new(
        run: &RunInfo,
        machine: Machine,
        data: &Provenance,
        results: &[Computed],
        cache: &Cache,
        out: &Path,
        outputs: &[PathBuf],
    ) -> anyhow::Result<Manifest> {
        let relative = |p: &Path| p.strip_prefix(out).unwrap_or(p).to_path_buf();
        let mut entries: Vec<&Entry> = results.iter().map(|c| &c.entry).collect();
        entries.sort_by(|a, b| a.inputs.id.cmp(&b.inputs.id));
        let experiments = entries
            .into_iter()
            .map(|e| ExperimentRecord {
                id: e.inputs.id.clone(),
                config: e.inputs.config.clone(),
                seed: e.inputs.seed,
                key: e.key.clone(),
                cache_file: relative(&cache.path(&e.inputs.id, &e.key)),
                wall_seconds: e.wall_seconds,
                device: e.device.clone(),
                threads: e.threads,
                precision: e.inputs.precision,
                cpu_class: e.cpu_class.clone(),
                code: e.inputs.code.clone(),
                result_sha256: e.result_sha256.clone(),
            })
            .collect();
        let mut hashes = BTreeMap::new();
        for path in outputs {
            let bytes = std::fs::read(path).with_context(|| format!("{}: cannot be read", path.display()))?;
            hashes.insert(relative(path).display().to_string(), sha256_hex(&bytes));
        }
        Ok(Manifest {
            profile: run.profile.clone(),
            seed: run.seed,
            versions: Versions::current(),
            run: run.clone(),
            machine,
            data: data.clone(),
            experiments,
            outputs: hashes,
            report_sources: BTreeMap::new(),
        })
    }

    pub fn write(&self, out: &Path) -> anyhow::Result<PathBuf> {
        let path = Self::path(out);
        write_atomic(&path, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(path)
    }

    /// The manifest in `out`, every field that names a file or a key
    /// checked: a manifest is another person's file, read as hostile.
    pub fn read(out: &Path) -> anyhow::Result<Manifest> {
        let path = Self::path(out);
        let bytes = read_submitted(out, "manifest.json")
            .with_context(|| format!("{}: cannot be read; run `build-report` first", path.display()))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).with_context(|| format!("{}: is not a manifest written by this program", path.display()))?;
        manifest.check_fields().map_err(|e| anyhow::anyhow!("{}: is not a manifest written by this program: {e}", path.display()))?;
        Ok(manifest)
    }

    /// Each id a plain name, each key and hash 64 hexadecimal digits, each
    /// cache file the one its id and key name, each output a path inside
    /// the output directory.
    fn check_fields(&self) -> Result<(), String> {
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        for r in &self.experiments {
            if r.id.is_empty() || !r.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(format!("experiment id {:?}", r.id));
            }
            if !hex64(&r.key) || !hex64(&r.result_sha256) {
                return Err(format!("{}: key or result hash is not 64 hexadecimal digits", r.id));
            }
            let expected = Path::new("cache").join(crate::cache::file_name(&r.id, &r.key));
            if r.cache_file != expected {
                return Err(format!("{}: cache file {} (it is {})", r.id, r.cache_file.display(), expected.display()));
            }
        }
        for (file, hash) in &self.outputs {
            if !inside(file) || !hex64(hash) {
                return Err(format!("output {file:?}: a path inside the output directory with its SHA-256"));
            }
        }
        Ok(())
    }

    /// The recorded results, each checked before use: its cache entry is
    /// intact and is the one the manifest recorded (same key, same result
    /// hash).
    pub fn recorded_results(&self, out: &Path, only: &[String]) -> anyhow::Result<BTreeMap<String, Value>> {
        let cache = Cache::new(out.join("cache"));
        let mut results = BTreeMap::new();
        for record in self.experiments.iter().filter(|r| only.is_empty() || only.contains(&r.id)) {
            let path = out.join(&record.cache_file);
            let entry = cache.load(&record.id, &record.key)?.with_context(|| {
                format!("{}: the result the manifest records for {} is gone; re-run `build-report`", path.display(), record.id)
            })?;
            if entry.result_sha256 != record.result_sha256 {
                bail!(
                    "{}: the result of {} was changed after the run (SHA-256 {}, the manifest records {}); \
                     its numbers cannot be trusted: re-run with `build-report --force --only {}`",
                    path.display(),
                    record.id,
                    entry.result_sha256,
                    record.result_sha256,
                    record.id
                );
            }
            results.insert(record.id.clone(), entry.result);
        }
        Ok(results)
    }

    /// Fails, naming the first file, unless every output the manifest lists
    /// still has the SHA-256 it recorded.
    pub fn check_outputs(&self, out: &Path) -> anyhow::Result<()> {
        for (file, recorded) in &self.outputs {
            let path = out.join(file);
            let bytes =
                read_submitted(out, file).with_context(|| format!("{}: listed in the manifest but cannot be read", path.display()))?;
            let found = sha256_hex(&bytes);
            if &found != recorded {
                bail!(
                    "{}: changed after the run that wrote it (SHA-256 {found}, the manifest records {recorded}); \
                     render it again with `render`",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// The most `verify` reads of any one file of a submission.
pub const MAX_SUBMITTED_BYTES: u64 = 256 << 20;

/// Whether `relative` names a path inside a directory: relative, with no
/// `..`, root or prefix in it.
pub fn inside(relative: &str) -> bool {
    let path = Path::new(relative);
    !relative.is_empty() && path.components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The bytes of the regular file `relative` under `dir`, refusing a path
/// that leaves `dir`, a symbolic link anywhere along it, and a file over
/// `MAX_SUBMITTED_BYTES`.
pub fn read_submitted(dir: &Path, relative: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    if !inside(relative) {
        bail!("{relative}: not a path inside {}", dir.display());
    }
    let mut path = dir.to_path_buf();
    for part in Path::new(relative).components() {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path).with_context(|| format!("{}: cannot be read", path.display()))?;
        if meta.file_type().is_symlink() {
            bail!("{}: is a symbolic link; a submission's files must be the files themselves", path.display());
        }
    }
    let file = std::fs::File::open(&path).with_context(|| format!("{}: cannot be read", path.display()))?;
    if !file.metadata()?.is_file() {
        bail!("{}: is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.take(MAX_SUBMITTED_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("{}: cannot be read", path.display()))?;
    if bytes.len() as u64 > MAX_SUBMITTED_BYTES {
        bail!("{}: larger than {} MiB; no output of a run is", path.display(), MAX_SUBMITTED_BYTES >> 20);
    }
    Ok(bytes)
}

/// A tolerance for comparing runs across CPU classes, from the spread
/// between replicates that the run itself measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestedTolerance {
    pub tolerance: f64,
    /// The replicate standard deviation it derives from, and where it stands.
    pub spread: f64,
    pub metric: String,
}

impl SuggestedTolerance {
    pub fn describe(&self) -> String {
        format!(
            "{:.1e}: twice the largest replicate standard deviation the re-run measured, {} = {:.1e}",
            self.tolerance, self.metric, self.spread
        )
    }
}

/// Twice the largest standard deviation over replicates (a number under a
/// key ending in `_std`) among `results` (a re-run's, not a submission's);
/// `None` where the run measured no spread.
pub fn suggested_tolerance(results: &BTreeMap<String, Value>) -> Option<SuggestedTolerance> {
    fn walk(path: &str, value: &Value, best: &mut Option<(f64, String)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let here = format!("{path}.{k}");
                    match v.as_f64() {
                        Some(x) if k.ends_with("_std") && x.is_finite() && best.as_ref().is_none_or(|(b, _)| x > *b) => {
                            *best = Some((x, here));
                        }
                        _ => walk(&here, v, best),
                    }
                }
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(&format!("{path}[{i}]"), v, best)),
            _ => {}
        }
    }
    let mut best = None;
    for (id, result) in results {
        walk(id, result, &mut best);
    }
    best.filter(|(spread, _)| *spread > 0.0).map(|(spread, metric)| SuggestedTolerance { tolerance: 2.0 * spread, spread, metric })
}

/// One compared number.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub metric: String,
    pub recorded: f64,
    pub rerun: f64,
}

impl Comparison {
    pub fn difference(&self) -> f64 {
        if self.recorded.to_bits() == self.rerun.to_bits() { 0.0 } else { (self.recorded - self.rerun).abs() }
    }

    /// Whether the two values differ by at most `tolerance`; a NaN
    /// difference (one side NaN) never is.
    pub fn within(&self, tolerance: f64) -> bool {
        matches!(self.difference().partial_cmp(&tolerance), Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal))
    }
}

/// Every number of `recorded` and `rerun` at the same path, timings aside;
/// a structural difference (a value missing on one side) is an error.
pub fn compare(recorded: &Value, rerun: &Value) -> Result<Vec<Comparison>, String> {
    let mut out = Vec::new();
    walk("", recorded, rerun, &mut out)?;
    Ok(out)
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<Comparison>) -> Result<(), String> {
    if is_timing(path) {
        return Ok(());
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            out.push(Comparison {
                metric: path.to_owned(),
                recorded: x.as_f64().unwrap_or(f64::NAN),
                rerun: y.as_f64().unwrap_or(f64::NAN),
            });
        }
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let w = y.get(k).ok_or_else(|| format!("{path}.{k}: missing in the re-run"))?;
                walk(format!("{path}.{k}").trim_start_matches('.'), v, w, out)?;
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), v, w, out)?;
            }
        }
        (x, y) if x == y => {}
        (x, y) => return Err(format!("{path}: recorded {x}, re-run {y}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_submitted_file_is_read_only_inside_its_folder_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        std::fs::create_dir(dir.path().join("figures")).unwrap();
        std::fs::write(dir.path().join("figures/a.svg"), "<svg/>").unwrap();
        assert_eq!(read_submitted(dir.path(), "figures/a.svg").unwrap(), b"<svg/>");
        for escape in ["../secret", "/etc/passwd", "figures/../../secret", ""] {
            let err = read_submitted(dir.path(), escape).unwrap_err().to_string();
            assert!(err.contains("not a path inside"), "{escape}: {err}");
        }
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("report.pdf")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).unwrap();
        for link in ["report.pdf", "linked/secret"] {
            let err = read_submitted(dir.path(), link).unwrap_err().to_string();
            assert!(err.contains("is a symbolic link"), "{link}: {err}");
        }
        assert!(read_submitted(dir.path(), "figures").unwrap_err().to_string().contains("not a regular file"));
    }

    #[test]
    fn a_manifest_naming_files_outside_or_odd_keys_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = "a".repeat(64);
        let record = |id: &str, key: &str, cache_file: &str| {
            json!({"id": id, "config": {}, "seed": 1, "key": key, "cache_file": cache_file, "wall_seconds": 1.0, "device": "cpu",
                   "threads": 1, "precision": "float32", "cpu_class": "AVX2", "code": {}, "result_sha256": "b".repeat(64)})
        };
        let data = Provenance {
            dir: PathBuf::new(),
            official: false,
            files: vec![],
            fingerprint: String::new(),
            data_set: crate::data::DataSet::identify(&[]),
        };
        let chosen = Chosen { precision: Precision::Float32, requested: "auto".into(), reason: "test".into() };
        let machine = Machine::current(&chosen);
        let run = RunInfo {
            profile: "smoke".into(),
            full: false,
            seed: 1,
            commit: "abc".into(),
            dirty: false,
            date: "2026-12-05".into(),
            device: "cpu".into(),
            threads: "1 thread".into(),
            precision: "float32".into(),
            precision_reason: "test".into(),
            cpu_class: machine.cpu_class.clone(),
            data_official: false,
            data_fingerprint: String::new(),
            data: data.data_set.clone(),
            program_version: "0".into(),
        };
        let skeleton = Manifest {
            profile: "smoke".into(),
            seed: 1,
            versions: Versions::current(),
            run,
            machine,
            data,
            experiments: vec![],
            outputs: BTreeMap::new(),
            report_sources: BTreeMap::new(),
        };
        let manifest = |experiments: Value, outputs: Value| {
            let mut m = serde_json::to_value(&skeleton).unwrap();
            m["experiments"] = experiments;
            m["outputs"] = outputs;
            std::fs::write(dir.path().join("manifest.json"), m.to_string()).unwrap();
            Manifest::read(dir.path()).map(|_| ()).map_err(|e| format!("{e:#}"))
        };
        let ok_file = format!("cache/q1_x-{}.json", &key[..16]);
        let fine = manifest(json!([record("q1_x", &key, &ok_file)]), json!({"report.pdf": "c".repeat(64)}));
        assert_eq!(fine, Ok(()));
        for (experiments, outputs, expected) in [
            (json!([record("q1_x", &key, "../../etc/passwd")]), json!({}), "cache file ../../etc/passwd"),
            (json!([record("../q1", &key, &ok_file)]), json!({}), "experiment id \"../q1\""),
            (json!([record("q1_x", "short", &ok_file)]), json!({}), "not 64 hexadecimal digits"),
            (json!([]), json!({"/etc/passwd": "c".repeat(64)}), "output \"/etc/passwd\""),
            (json!([]), json!({"../report.pdf": "c".repeat(64)}), "output \"../report.pdf\""),
        ] {
            let err = manifest(experiments, outputs).unwrap_err();
            assert!(err.contains("is not a manifest written by this program") && err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn the_suggested_tolerance_is_twice_the_largest_replicate_spread() {
        let mut results = BTreeMap::new();
        results.insert("a".to_owned(), json!({"test_accuracy_std": 0.0005, "factors": [{"final_std": 0.0011}, {"final_std": 0.0002}]}));
        results.insert("b".to_owned(), json!({"test_accuracy_std": 0.0003, "mean": 0.9}));
        let s = suggested_tolerance(&results).unwrap();
        assert_eq!(s.metric, "a.factors[0].final_std");
        assert_eq!((s.spread, s.tolerance), (0.0011, 0.0022));
        assert!(s.describe().starts_with("2.2e-3"), "{}", s.describe());
        let flat: BTreeMap<String, Value> = [("c".to_owned(), json!({"accuracy": 0.5, "x_std": 0.0}))].into();
        assert_eq!(suggested_tolerance(&flat), None);
    }

    #[test]
    fn compares_every_number_but_timings() {
        let a = json!({"acc": 0.5, "history": [{"loss": 1.0, "train_seconds": 3.0}], "name": "x"});
        let b = json!({"acc": 0.5, "history": [{"loss": 1.25, "train_seconds": 9.0}], "name": "x"});
        let c = compare(&a, &b).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].metric, "history[0].loss");
        assert_eq!(c[1].difference(), 0.25);
        assert_eq!(c[0].difference(), 0.0);
        assert!(compare(&a, &json!({"acc": 0.5})).unwrap_err().contains("history: missing"));
    }
}
