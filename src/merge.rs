//! Gathers the results that separate jobs computed (`run --only ID --out
//! DIR`, on any machines) into this run's cache. Results are files named by
//! the hash of everything they depend on, so a merge is a copy; it refuses
//! any result computed from other inputs than this run's (another seed,
//! profile, precision, data set or code) and names its file, so that a merged
//! report is the report one sequential run would have made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cache::{Cache, Entry, KeyInputs, untouched, write_atomic};
use crate::runner::Plan;

/// Copies into `into` every result under `dirs` (each an `--out` directory
/// of a `run`, or its `cache/`); returns, per experiment, the file it came from.
pub fn gather(plan: &Plan, data_fingerprint: &str, dirs: &[PathBuf], into: &Cache) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let expected: BTreeMap<&str, KeyInputs> =
        plan.experiments.iter().map(|e| (e.id(), plan.inputs_of(e.as_ref(), data_fingerprint))).collect();
    // Per experiment: the file, its entry, and its text, copied as read.
    let mut found: BTreeMap<String, (PathBuf, Entry, String)> = BTreeMap::new();
    for dir in dirs {
        let cache_dir = if dir.join("cache").is_dir() { dir.join("cache") } else { dir.clone() };
        let files =
            result_files(&cache_dir).with_context(|| format!("{}: cannot be read; give the --out directory of a `run`", dir.display()))?;
        if files.is_empty() {
            bail!("{}: holds no results; give the --out directory of a `run`", dir.display());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).with_context(|| format!("{}: cannot be read", file.display()))?;
            let entry: Entry = serde_json::from_str(&text)
                .with_context(|| format!("{}: is not a result of this version of mnist-writeup", file.display()))?;
            let id = entry.inputs.id.clone();
            let Some(inputs) = expected.get(id.as_str()) else {
                eprintln!("{}: `{id}` is not an experiment of this run; skipped", file.display());
                continue;
            };
            if entry.key != inputs.key() {
                let reasons = inputs.differences(&entry.inputs);
                bail!(
                    "{}: was computed from other inputs than this run's ({}; its value → this run's); merge only the outputs \
                     of runs with the same --profile, --seed, --precision and data, from the same commit",
                    file.display(),
                    if reasons.is_empty() { "another key".to_owned() } else { reasons.join("; ") }
                );
            }
            untouched(&entry, &file)?;
            match found.get(&id) {
                Some((other, earlier, _)) if earlier.result_sha256 != entry.result_sha256 => bail!(
                    "{} and {}: two results for the same inputs that differ; the runs were not deterministic, or one \
                     was edited: re-run `{id}` once",
                    other.display(),
                    file.display()
                ),
                Some(_) => {}
                None => {
                    found.insert(id, (file, entry, text));
                }
            }
        }
    }
    let mut sources = BTreeMap::new();
    for (id, (file, entry, text)) in found {
        write_atomic(&into.path(&id, &entry.key), text.as_bytes())?;
        sources.insert(id, file);
    }
    Ok(sources)
}

/// The cache files in `dir` (not the temporary files of a write in progress), sorted.
fn result_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.ends_with(".json") && !name.starts_with('.')
        })
        .collect();
    files.sort();
    Ok(files)
}
