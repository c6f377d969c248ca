//! The result cache: each experiment's result as JSON under `out/cache/`,
//! keyed by everything it depends on (config, precision, seed, data, the
//! source files that compute it, tch and libtorch), and every training with
//! its weights under `out/cache/trainings/`, keyed by what produces it (a
//! shared training by its recipe, seed, split, data and code; a part of one
//! experiment by that experiment's inputs), so that experiments declaring
//! the same training find one file; written atomically so that an
//! interrupted run loses at most the training it was in.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::{Checkpoint, Checkpoints};
use crate::data::sha256_hex;
use crate::precision::Precision;

/// Everything a result depends on; its cache key is their hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInputs {
    pub id: String,
    /// Bumped by hand only to force a re-run that nothing else here would
    /// cause; code changes are covered by `code`.
    pub version: u32,
    pub config: Value,
    /// What its networks computed in.
    pub precision: Precision,
    pub seed: u64,
    pub data_fingerprint: String,
    /// SHA-256 of each source file that computes the result, by path.
    pub code: BTreeMap<String, String>,
    pub tch: String,
    pub libtorch: String,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        sha256_hex(serde_json::to_string(self).expect("serialisable").as_bytes())
    }

    /// Why a result computed from `old` does not serve these inputs, one
    /// reason per changed part ("code changed: src/train.rs").
    pub fn differences(&self, old: &KeyInputs) -> Vec<String> {
        let mut reasons = Vec::new();
        let changed_code: Vec<&str> = self
            .code
            .iter()
            .filter(|(file, hash)| old.code.get(*file) != Some(*hash))
            .map(|(file, _)| file.as_str())
            .chain(old.code.keys().filter(|f| !self.code.contains_key(*f)).map(String::as_str))
            .collect();
        if !changed_code.is_empty() {
            reasons.push(format!("code changed: {}", changed_code.join(", ")));
        }
        let mut part = |name: &str, was: String, now: String| {
            if was != now {
                reasons.push(format!("{name} changed: {was} → {now}"));
            }
        };
        part("precision", old.precision.name().into(), self.precision.name().into());
        part("seed", old.seed.to_string(), self.seed.to_string());
        part("data", short(&old.data_fingerprint), short(&self.data_fingerprint));
        part("tch", old.tch.clone(), self.tch.clone());
        part("libtorch", old.libtorch.clone(), self.libtorch.clone());
        part("version", old.version.to_string(), self.version.to_string());
        // Last, and at most a few: one change of precision or recipe
        // changes a leaf in every candidate.
        const LISTED: usize = 3;
        let config_changes = value_changes("", &old.config, &self.config);
        if !config_changes.is_empty() {
            let mut listed = config_changes[..config_changes.len().min(LISTED)].join(", ");
            if config_changes.len() > LISTED {
                listed.push_str(&format!(" and {} more", config_changes.len() - LISTED));
            }
            reasons.push(format!("config changed: {listed}"));
        }
        reasons
    }
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// A JSON value in at most 40 characters.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The leaves that differ between two JSON values, as "path old → new".
fn value_changes(path: &str, old: &Value, new: &Value) -> Vec<String> {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .flat_map(|k| {
                    let here = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    value_changes(&here, a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null))
                })
                .collect()
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().flat_map(|(i, (a, b))| value_changes(&format!("{path}[{i}]"), a, b)).collect()
        }
        (a, b) if a == b => vec![],
        (a, b) => vec![format!("{} {} → {}", if path.is_empty() { "value" } else { path }, brief(a), brief(b))],
    }
}

/// What the cache stores for one experiment run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub inputs: KeyInputs,
    pub key: String,
    pub wall_seconds: f64,
    /// Where it ran: results are bit-identical only for the same device,
    /// thread count and CPU class.
    pub device: String,
    pub threads: i32,
    pub cpu_class: String,
    pub result: Value,
    /// `result_sha256` of `result` when it was computed.
    pub result_sha256: String,
}

/// Whether a result field measures speed (seconds, per second) rather than
/// a result: such fields differ between any two runs of the same code.
pub fn is_timing(field: &str) -> bool {
    field.contains("second")
}

/// SHA-256 of a result's JSON text with its timings left out, so that a
/// legitimate re-run that reproduces every number has the same hash.
pub fn result_sha256(result: &Value) -> String {
    fn without_timings(value: &Value) -> Value {
        match value {
            Value::Object(map) => map.iter().filter(|(k, _)| !is_timing(k)).map(|(k, v)| (k.clone(), without_timings(v))).collect(),
            Value::Array(items) => items.iter().map(without_timings).collect(),
            other => other.clone(),
        }
    }
    sha256_hex(without_timings(result).to_string().as_bytes())
}

/// Fails, naming `path`, if `entry` was edited after it was computed: its
/// inputs no longer give its key, or its result no longer gives its hash.
pub fn untouched(entry: &Entry, path: &Path) -> anyhow::Result<()> {
    if entry.inputs.key() != entry.key {
        bail!(
            "{}: was edited after it was computed: its config, seed, precision or data no longer give its key; \
             its numbers cannot be trusted: delete it (or run with --force) to recompute",
            path.display()
        );
    }
    if result_sha256(&entry.result) != entry.result_sha256 {
        bail!(
            "{}: its result was edited after it was computed (its SHA-256 no longer matches); \
             its numbers cannot be trusted: delete it (or run with --force) to recompute",
            path.display()
        );
    }
    Ok(())
}

pub struct Cache {
    dir: PathBuf,
    /// Keys of the trainings this process stored: they serve later
    /// experiments of the same run even where kept ones may not (`--force`).
    trained_now: std::rc::Rc<std::cell::RefCell<std::collections::BTreeSet<String>>>,
}

/// How many characters of its key a cache file's name carries.
const KEY_IN_NAME: usize = 16;

/// `<id>-<first characters of the key>.json`.
pub fn file_name(id: &str, key: &str) -> String {
    format!("{id}-{}.json", &key[..KEY_IN_NAME])
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into(), trained_now: Default::default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the experiments' trainings are kept.
    pub fn trainings_dir(&self) -> PathBuf {
        self.dir.join(TRAININGS)
    }

    pub fn path(&self, id: &str, key: &str) -> PathBuf {
        self.dir.join(file_name(id, key))
    }

    /// The cached entry for `key`, if there is a readable one.
    pub fn load(&self, id: &str, key: &str) -> anyhow::Result<Option<Entry>> {
        let path = self.path(id, key);
        let Some(entry) = read_json::<Entry>(&path, "is not a valid cached result; delete it (or run with --force) to recompute")? else {
            return Ok(None);
        };
        if entry.key != key {
            return Ok(None);
        }
        untouched(&entry, &path)?;
        Ok(Some(entry))
    }

    /// Removes temporary files that a killed process left behind (an
    /// atomic write that never reached its rename). Only files untouched
    /// for `STALE_TEMP` go, so a write in progress elsewhere survives.
    pub fn sweep_stale_temp_files(&self) {
        sweep_stale_temp_files(&self.dir);
        sweep_stale_temp_files(&self.dir.join("trainings"));
    }

    /// What the cache last held for experiment `id` under any key: what a
    /// stale result was computed from.
    pub fn earlier(&self, id: &str) -> Earlier {
        let prefix = format!("{id}-");
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Earlier::Nothing };
        let newest = entries
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".json")).is_some_and(|key| key.len() == KEY_IN_NAME)
            })
            .filter_map(|e| Some((e.metadata().and_then(|m| m.modified()).ok()?, e.path())))
            .max_by_key(|(modified, _)| *modified);
        match newest {
            None => Earlier::Nothing,
            Some((_, path)) => match std::fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok()) {
                Some(entry) => Earlier::Entry(Box::new(entry)),
                None => Earlier::OtherFormat(path),
            },
        }
    }

    /// The trainings an experiment declared, each with its inputs, kept
    /// under `trainings/`; kept ones serve only where `reuse` (or where
    /// this process trained them), and only the `wanted` names train (all
    /// for `None`).
    pub fn trainings(&self, declared: &[(String, KeyInputs)], reuse: bool, wanted: Option<Vec<String>>, machine: Machine) -> TrainingStore {
        TrainingStore {
            dir: self.trainings_dir(),
            declared: declared.iter().cloned().collect(),
            reuse,
            wanted,
            machine,
            trained_now: self.trained_now.clone(),
            resumed: Default::default(),
            trained: Default::default(),
        }
    }

    pub fn store(&self, entry: &Entry) -> anyhow::Result<PathBuf> {
        let path = self.path(&entry.inputs.id, &entry.key);
        write_atomic(&path, serde_json::to_string_pretty(entry)?.as_bytes())?;
        Ok(path)
    }
}

/// One finished training as the cache keeps it, beside a file of its
/// weights: what produced it, what it computed, and the hashes that show an
/// edit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingEntry {
    /// What produced it: its own recipe, seed, split, data and code, or,
    /// for a part of one experiment, that experiment's inputs under the
    /// id `EXPERIMENT/NAME`.
    pub inputs: KeyInputs,
    pub name: String,
    /// The key of `inputs`.
    pub key: String,
    pub wall_seconds: f64,
    pub device: String,
    pub threads: i32,
    pub cpu_class: String,
    pub history: Value,
    pub weights_sha256: String,
    /// `result_sha256` of the history with the weights' hash.
    pub result_sha256: String,
}

impl TrainingEntry {
    fn computed_key(&self) -> String {
        self.inputs.key()
    }

    fn computed_result_sha256(&self) -> String {
        result_sha256(&serde_json::json!({ "history": self.history, "weights_sha256": self.weights_sha256 }))
    }

    /// Fails, naming `path`, where the entry or its weights (`weights`, as
    /// read) were edited after they were computed.
    pub fn untouched(&self, path: &Path, weights: &[u8]) -> anyhow::Result<()> {
        if self.computed_key() != self.key || self.computed_result_sha256() != self.result_sha256 {
            bail!("{}: was edited after it was computed; delete it (or run with --force) to train it again", path.display());
        }
        if sha256_hex(weights) != self.weights_sha256 {
            bail!("{}: its weights are not the ones it was stored with; delete it (or run with --force) to train it again", path.display());
        }
        Ok(())
    }

    /// Its weights' file, beside it.
    pub fn weights_path(path: &Path) -> PathBuf {
        path.with_extension("weights")
    }
}

/// The name of the file of a training with inputs of `id`: a part's
/// `EXPERIMENT/NAME` as `EXPERIMENT.NAME`.
pub fn training_file_name(id: &str, key: &str) -> String {
    file_name(&id.replace('/', "."), key)
}

/// Where the cache keeps trainings: `trainings/` beside the results.
pub const TRAININGS: &str = "trainings";

/// The trainings one experiment declared, in the cache, for one run of it.
pub struct TrainingStore {
    dir: PathBuf,
    /// By name, what produces each.
    declared: BTreeMap<String, KeyInputs>,
    trained_now: std::rc::Rc<std::cell::RefCell<std::collections::BTreeSet<String>>>,
    /// Whether kept trainings may serve (not under `--force`).
    reuse: bool,
    /// The names this job trains; every one when `None`.
    wanted: Option<Vec<String>>,
    machine: Machine,
    resumed: std::cell::RefCell<Vec<Resumed>>,
    /// What it trained and stored in this run.
    trained: std::cell::RefCell<Vec<Resumed>>,
}

/// One training an experiment took from the cache instead of training it.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub name: String,
    /// What it had cost when it trained.
    pub wall_seconds: f64,
    /// The CPU class it trained on.
    pub cpu_class: String,
}

/// Where something was computed.
#[derive(Debug, Clone)]
pub struct Machine {
    pub device: String,
    pub threads: i32,
    pub cpu_class: String,
}

impl Machine {
    /// This machine, computing on `device` with libtorch's threads.
    pub fn here(device: tch::Device) -> Machine {
        Machine {
            device: format!("{device:?}").to_lowercase(),
            threads: tch::get_num_threads(),
            cpu_class: crate::precision::CpuFeatures::detect().class(),
        }
    }
}

impl TrainingStore {
    /// The inputs of training `name`, which the experiment must have declared.
    fn inputs(&self, name: &str) -> anyhow::Result<&KeyInputs> {
        self.declared.get(name).with_context(|| format!("`{name}`: trained but not declared among the experiment's trainings"))
    }

    /// `<name>-<first characters of the key>.json` (a part's `<experiment>.<name>-…`).
    pub fn path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let inputs = self.inputs(name)?;
        Ok(self.dir.join(training_file_name(&inputs.id, &inputs.key())))
    }

    /// What came from the cache so far.
    pub fn resumed(&self) -> Vec<Resumed> {
        self.resumed.borrow().clone()
    }

    /// What was trained and stored so far.
    pub fn trained(&self) -> Vec<Resumed> {
        self.trained.borrow().clone()
    }

    /// Whether `training` has a checkpoint that `load` would use.
    pub fn has(&self, name: &str) -> bool {
        self.read(name).is_ok_and(|c| c.is_some())
    }

    fn read(&self, name: &str) -> anyhow::Result<Option<Checkpoint>> {
        let path = self.path(name)?;
        let Some(entry) = read_json::<TrainingEntry>(&path, "is not a kept training")? else { return Ok(None) };
        if entry.key != self.inputs(name)?.key() {
            return Ok(None);
        }
        // The same weights give other bits with another thread count or device.
        let here = &self.machine;
        if (&entry.device, entry.threads) != (&here.device, here.threads) {
            bail!(
                "{}: was trained on {} with {} threads and this run computes on {} with {}, which gives other bits; \
                 it serves runs with the same --device and --threads",
                path.display(),
                entry.device,
                entry.threads,
                here.device,
                here.threads
            );
        }
        let weights_path = TrainingEntry::weights_path(&path);
        let weights = std::fs::read(&weights_path).with_context(|| format!("{}: cannot be read", weights_path.display()))?;
        entry.untouched(&path, &weights)?;
        Ok(Some(Checkpoint { history: entry.history, weights, wall_seconds: entry.wall_seconds, cpu_class: entry.cpu_class }))
    }
}

impl Checkpoints for TrainingStore {
    fn load(&self, name: &str) -> Option<Checkpoint> {
        let trained_now = self.inputs(name).is_ok_and(|inputs| self.trained_now.borrow().contains(&inputs.key()));
        if !self.reuse && !trained_now {
            return None;
        }
        match self.read(name) {
            Ok(found) => {
                if let Some(checkpoint) = &found {
                    self.resumed.borrow_mut().push(Resumed {
                        name: name.to_owned(),
                        wall_seconds: checkpoint.wall_seconds,
                        cpu_class: checkpoint.cpu_class.clone(),
                    });
                }
                found
            }
            Err(err) => {
                eprintln!("warning: {err:#}; not used");
                None
            }
        }
    }

    /// The weights first, then the entry that names their hash: a run killed
    /// between the two leaves no entry, so nothing half-written is used.
    fn store(&self, name: &str, checkpoint: &Checkpoint) -> anyhow::Result<()> {
        let path = self.path(name)?;
        let inputs = self.inputs(name)?.clone();
        write_atomic(&TrainingEntry::weights_path(&path), &checkpoint.weights)?;
        let mut entry = TrainingEntry {
            key: inputs.key(),
            inputs,
            name: name.to_owned(),
            wall_seconds: checkpoint.wall_seconds,
            device: self.machine.device.clone(),
            threads: self.machine.threads,
            cpu_class: self.machine.cpu_class.clone(),
            history: checkpoint.history.clone(),
            weights_sha256: sha256_hex(&checkpoint.weights),
            result_sha256: String::new(),
        };
        entry.result_sha256 = entry.computed_result_sha256();
        write_atomic(&path, serde_json::to_string_pretty(&entry)?.as_bytes())?;
        self.trained_now.borrow_mut().insert(entry.key);
        self.trained.borrow_mut().push(Resumed {
            name: name.to_owned(),
            wall_seconds: checkpoint.wall_seconds,
            cpu_class: entry.cpu_class,
        });
        Ok(())
    }

    fn wanted(&self, name: &str) -> bool {
        self.wanted.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// What the cache held for an experiment before.
pub enum Earlier {
    Nothing,
    /// A file that this version cannot read: an older format, or broken.
    OtherFormat(PathBuf),
    Entry(Box<Entry>),
}

/// How long a temporary file may sit unchanged before it counts as left
/// behind by a killed process.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so that readers see the old file or the new one, never half.
/// The file gets the permissions any new file of the user gets (0666 less
/// the umask), not a temporary file's owner-only 0600: outputs are shared.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).with_context(|| format!("{}: cannot write", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    tmp.persist(path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// Removes the temporary files of `dir` that a killed `write_atomic` left,
/// once untouched for `STALE_TEMP`.
pub fn sweep_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TEMP));
        if entry.file_name().to_string_lossy().starts_with(".tmp") && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The most a cached result or training record may hold (the largest, the
/// full profile's question 4, holds about 2 MiB).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// The JSON value in `path`, or `None` where there is no such file; a file
/// that does not parse is an error saying that it `is_not`.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, is_not: &str) -> anyhow::Result<Option<T>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot be read", path.display())),
    };
    // Read no further than the largest result could be: a cache may be
    // someone else's (a submission), and a link to /dev/zero has no end.
    let mut bytes = Vec::new();
    file.take(MAX_JSON_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("{}: cannot be read", path.display()))?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        bail!("{}: larger than {} MiB; {is_not}", path.display(), MAX_JSON_BYTES >> 20);
    }
    serde_json::from_slice(&bytes).map(Some).with_context(|| format!("{}: {is_not}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> KeyInputs {
        KeyInputs {
            id: "q".into(),
            version: 1,
            config: serde_json::json!({"epochs": 10, "hidden": [64, 64]}),
            precision: Precision::Float32,
            seed: 5,
            data_fingerprint: "abc".into(),
            code: [("src/train.rs".to_owned(), "11".to_owned()), ("src/experiments/q.rs".to_owned(), "22".to_owned())].into(),
            tch: "0.26.0".into(),
            libtorch: "2.13.0+cu130".into(),
        }
    }

    #[test]
    fn keys_change_with_every_input_and_say_which() {
        let base = inputs();
        assert_eq!(base.key(), inputs().key());
        let changes: Vec<(KeyInputs, &str)> = vec![
            (KeyInputs { version: 2, ..inputs() }, "version changed: 1 → 2"),
            (KeyInputs { config: serde_json::json!({"epochs": 40, "hidden": [64, 64]}), ..inputs() }, "config changed: epochs 10 → 40"),
            (KeyInputs { precision: Precision::BFloat16, ..inputs() }, "precision changed: float32 → bfloat16"),
            (KeyInputs { seed: 6, ..inputs() }, "seed changed: 5 → 6"),
            (KeyInputs { data_fingerprint: "abd".into(), ..inputs() }, "data changed: abc → abd"),
            (
                KeyInputs {
                    code: [("src/train.rs".to_owned(), "12".to_owned()), ("src/experiments/q.rs".to_owned(), "22".to_owned())].into(),
                    ..inputs()
                },
                "code changed: src/train.rs",
            ),
            (KeyInputs { tch: "0.27.0".into(), ..inputs() }, "tch changed: 0.26.0 → 0.27.0"),
            (KeyInputs { libtorch: "2.14.0".into(), ..inputs() }, "libtorch changed: 2.13.0+cu130 → 2.14.0"),
        ];
        for (changed, reason) in changes {
            assert_ne!(changed.key(), base.key(), "{reason}");
            assert_eq!(changed.differences(&base), [reason]);
        }
        assert!(base.differences(&inputs()).is_empty());
    }

    #[test]
    fn a_change_inside_lists_names_the_leaves_the_first_few_and_how_many_more() {
        let recipe = |precision: &str| serde_json::json!({"network": {"precision": precision}, "hidden": [500, 300]});
        let old = KeyInputs { config: serde_json::json!({"candidates": [recipe("float32"), recipe("float32")]}), ..inputs() };
        let two = KeyInputs { config: serde_json::json!({"candidates": [recipe("float32"), recipe("bfloat16")]}), ..inputs() };
        assert_eq!(two.differences(&old), [r#"config changed: candidates[1].network.precision "float32" → "bfloat16""#]);
        let five = KeyInputs { config: serde_json::json!({"candidates": vec![recipe("bfloat16"); 5]}), ..inputs() };
        let six =
            KeyInputs { config: serde_json::json!({"candidates": vec![recipe("float32"); 6]}), precision: Precision::BFloat16, ..inputs() };
        let reasons = six.differences(&five);
        assert_eq!(reasons[0], "precision changed: float32 → bfloat16");
        assert!(reasons[1].starts_with("config changed: candidates "), "{reasons:?}");
        assert!(reasons[1].len() < 200, "a long list is cut: {}", reasons[1]);
        let many = KeyInputs { config: serde_json::json!({"candidates": vec![recipe("bfloat16"); 6]}), ..inputs() };
        let reasons = many.differences(&six);
        assert!(reasons.last().unwrap().ends_with(" and 3 more"), "{reasons:?}");
    }

    #[test]
    fn stores_loads_and_rejects_a_stale_or_broken_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let result = serde_json::json!({"accuracy": 0.5, "train_seconds": 3.0});
        let entry = Entry {
            key: inputs().key(),
            inputs: inputs(),
            wall_seconds: 1.5,
            device: "cpu".into(),
            threads: 2,
            cpu_class: "AVX2".into(),
            result_sha256: result_sha256(&result),
            result,
        };
        cache.store(&entry).unwrap();
        assert_eq!(cache.load("q", &entry.key).unwrap().unwrap().result, entry.result);
        assert!(cache.load("q", &format!("{}9999", &entry.key[..16])).unwrap().is_none(), "same file, other key");
        assert!(cache.load("q", "ffffffffffffffff0000").unwrap().is_none());
        assert!(matches!(cache.earlier("q"), Earlier::Entry(e) if e.inputs == inputs()), "what a stale result was computed from");
        assert!(matches!(cache.earlier("other"), Earlier::Nothing));
        // Edited by hand: a config or a result that is not what was computed.
        let edited = |change: &dyn Fn(&mut Value)| {
            let mut json = serde_json::to_value(&entry).unwrap();
            change(&mut json);
            std::fs::write(cache.path("q", &entry.key), json.to_string()).unwrap();
            cache.load("q", &entry.key)
        };
        let err = edited(&|j| j["config"] = serde_json::json!({"learning_rate": 0.005})).unwrap_err().to_string();
        assert!(err.contains("was edited after it was computed"), "{err}");
        let err = edited(&|j| j["result"]["accuracy"] = 0.99.into()).unwrap_err().to_string();
        assert!(err.contains("its result was edited"), "{err}");
        assert!(edited(&|j| j["result"]["train_seconds"] = 9.0.into()).unwrap().is_some(), "timings are not results");
        std::fs::write(cache.path("q", &entry.key), "{ truncated").unwrap();
        assert!(matches!(cache.earlier("q"), Earlier::OtherFormat(_)));
        // A temporary file left by a killed write goes once it is stale; a fresh one stays.
        let (old, fresh) = (dir.path().join(".tmpAbC123"), dir.path().join(".tmpXyZ789"));
        for path in [&old, &fresh] {
            std::fs::write(path, "half").unwrap();
        }
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(an_hour_ago).unwrap();
        cache.sweep_stale_temp_files();
        assert!(!old.exists() && fresh.exists());
        assert!(cache.path("q", &entry.key).exists(), "results are not temporary files");
        let err = cache.load("q", &entry.key).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
    }
}
