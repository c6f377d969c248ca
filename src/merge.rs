//! Gathers the results and kept trainings that separate jobs computed (`run
//! --only ID[/TRAINING] --out DIR`, on any machines) into this run's cache. Results are files named by
//! the hash of everything they depend on, so a merge is a copy; it refuses
//! any result computed from other inputs than this run's (another seed,
//! profile, precision, data set or code) and names its file, so that a merged
//! report is the report one sequential run would have made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cache::{Cache, Entry, KeyInputs, TRAININGS, TrainingEntry, untouched, write_atomic};
use crate::runner::Plan;

/// What a merge gathered: per experiment, the file its result came from,
/// and per kept training, the file it came from.
pub struct Gathered {
    pub results: BTreeMap<String, PathBuf>,
    pub trainings: BTreeMap<String, PathBuf>,
}

/// Copies into `into` every result and kept training under `dirs` (each an
/// `--out` directory of a `run`, or its `cache/`).
pub fn gather(plan: &Plan, data_fingerprint: &str, dirs: &[PathBuf], into: &Cache) -> anyhow::Result<Gathered> {
    let expected: BTreeMap<String, KeyInputs> =
        plan.experiments.iter().map(|e| (e.id().to_owned(), plan.inputs_of(e.as_ref(), data_fingerprint))).collect();
    // Every training of the plan, once, by the id of its inputs.
    let expected_trainings: BTreeMap<String, KeyInputs> = plan
        .experiments
        .iter()
        .flat_map(|e| plan.trainings_of(e.as_ref(), data_fingerprint))
        .map(|(_, inputs)| (inputs.id.clone(), inputs))
        .collect();
    // Per file name: where it was found, the hash of its result, and its
    // bytes (a training's with its weights), copied as read.
    let mut found: BTreeMap<PathBuf, Found> = BTreeMap::new();
    let (mut results, mut trainings) = (BTreeMap::new(), BTreeMap::new());
    for dir in dirs {
        let cache_dir = if dir.join("cache").is_dir() { dir.join("cache") } else { dir.clone() };
        let result_files =
            json_files(&cache_dir).with_context(|| format!("{}: cannot be read; give the --out directory of a `run`", dir.display()))?;
        let trainings_dir = cache_dir.join(TRAININGS);
        let training_files = if trainings_dir.is_dir() { json_files(&trainings_dir)? } else { Vec::new() };
        if result_files.is_empty() && training_files.is_empty() {
            bail!("{}: holds no results; give the --out directory of a `run`", dir.display());
        }
        for file in result_files {
            let (text, entry): (String, Entry) = read(&file, "a result")?;
            let Some(inputs) = expected_inputs(&expected, &entry.inputs.id, &file) else { continue };
            refuse_other_inputs(inputs, &entry.inputs, &file)?;
            untouched(&entry, &file)?;
            let to = into.path(&entry.inputs.id, &entry.key);
            results.insert(entry.inputs.id.clone(), file.clone());
            keep(
                &mut found,
                to,
                Found { file, id: entry.inputs.id, result_sha256: entry.result_sha256, files: vec![(None, text.into_bytes())] },
            )?;
        }
        for file in training_files {
            let (text, entry): (String, TrainingEntry) = read(&file, "a kept training")?;
            let Some(inputs) = expected_inputs(&expected_trainings, &entry.inputs.id, &file) else { continue };
            refuse_other_inputs(inputs, &entry.inputs, &file)?;
            let weights_file = TrainingEntry::weights_path(&file);
            let weights = std::fs::read(&weights_file).with_context(|| format!("{}: cannot be read", weights_file.display()))?;
            entry.untouched(&file, &weights)?;
            let to = into.trainings_dir().join(file.file_name().expect("a file"));
            let id = entry.inputs.id.clone();
            trainings.insert(id.clone(), file.clone());
            // The weights first: a merge killed between the two leaves no entry without them.
            let files = vec![(Some(TrainingEntry::weights_path(&to)), weights), (None, text.into_bytes())];
            keep(&mut found, to, Found { file, id, result_sha256: entry.result_sha256, files })?;
        }
    }
    for (to, found) in found {
        for (path, bytes) in &found.files {
            write_atomic(path.as_ref().unwrap_or(&to), bytes)?;
        }
    }
    Ok(Gathered { results, trainings })
}

/// `file`'s text and what it holds, which must be `what` as this version
/// of mnist-writeup writes it.
fn read<T: serde::de::DeserializeOwned>(file: &Path, what: &str) -> anyhow::Result<(String, T)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}: cannot be read", file.display()))?;
    let entry =
        serde_json::from_str(&text).with_context(|| format!("{}: is not {what} of this version of mnist-writeup", file.display()))?;
    Ok((text, entry))
}

/// One file to copy, with what else it brings.
struct Found {
    file: PathBuf,
    id: String,
    result_sha256: String,
    /// What to write: (another path, or the file's own where `None`; bytes).
    files: Vec<(Option<PathBuf>, Vec<u8>)>,
}

/// Keeps `new` to be copied to `to`, unless another directory had the same
/// file: then both must hold the same result.
fn keep(found: &mut BTreeMap<PathBuf, Found>, to: PathBuf, new: Found) -> anyhow::Result<()> {
    match found.get(&to) {
        Some(earlier) if earlier.result_sha256 != new.result_sha256 => bail!(
            "{} and {}: two results for the same inputs that differ; the runs were not deterministic, or one \
             was edited: re-run `{}` once",
            earlier.file.display(),
            new.file.display(),
            new.id
        ),
        Some(_) => Ok(()),
        None => {
            found.insert(to, new);
            Ok(())
        }
    }
}

/// This run's inputs of experiment or training `id`, or `None`, said, where it is not one of this run's.
fn expected_inputs<'a>(expected: &'a BTreeMap<String, KeyInputs>, id: &str, file: &Path) -> Option<&'a KeyInputs> {
    let inputs = expected.get(id);
    if inputs.is_none() {
        eprintln!("{}: `{id}` is not an experiment or a training of this run; skipped", file.display());
    }
    inputs
}

/// Fails, naming `file` and what differs, unless `found` are this run's `expected` inputs.
fn refuse_other_inputs(expected: &KeyInputs, found: &KeyInputs, file: &Path) -> anyhow::Result<()> {
    if found.key() == expected.key() {
        return Ok(());
    }
    let reasons = expected.differences(found);
    bail!(
        "{}: was computed from other inputs than this run's ({}; its value → this run's); merge only the outputs \
         of runs with the same --profile, --seed, --precision and data, from the same commit",
        file.display(),
        if reasons.is_empty() { "another key".to_owned() } else { reasons.join("; ") }
    )
}

/// The JSON files in `dir` (not the temporary files of a write in progress), sorted.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
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
