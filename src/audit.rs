//! The sampled audit of `verify --audit K`: the units a run trains (each
//! training once, and each experiment that trains as one piece), which K
//! of them a grader's secret seed picks for a submission, the odds that
//! such a sample catches fabricated ones, and the scratch cache that holds
//! every unit not picked as the submission recorded it, so that only the
//! picked ones train again while everything else is evaluated afresh.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cache::{self, Cache, TrainingEntry};
use crate::manifest::{self, Manifest};
use crate::runner::Plan;

/// One unit of training work in a recorded run.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    /// A kept training: `file` under the cache's `trainings/`, its weights
    /// beside it, keyed by `key`; `experiments` use it.
    Training { name: String, file: String, key: String, experiments: Vec<String> },
    /// An experiment that keeps no trainings: it runs whole.
    Experiment { id: String },
}

impl Unit {
    pub fn name(&self) -> &str {
        match self {
            Unit::Training { name, .. } => name,
            Unit::Experiment { id } => id,
        }
    }

    /// A kept training's entry and weights, relative to an output folder.
    pub fn kept_files(&self) -> Option<[String; 2]> {
        let Unit::Training { file, .. } = self else { return None };
        let entry = format!("cache/{}/{file}", cache::TRAININGS);
        let weights = TrainingEntry::weights_path(Path::new(&entry)).to_string_lossy().into_owned();
        Some([entry, weights])
    }
}

/// Draws a grader's secret, within the seeds libtorch takes.
pub fn draw_secret() -> u64 {
    rand::random::<u64>() >> 1
}

/// The units of the experiments `ids` in the plan, each training once
/// however many experiments share it, in the plan's order.
pub fn units(plan: &Plan, data_fingerprint: &str, ids: &BTreeSet<String>) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut seen = BTreeSet::new();
    for e in plan.experiments.iter().filter(|e| ids.contains(e.id())) {
        let trainings = plan.trainings_of(e.as_ref(), data_fingerprint);
        if trainings.is_empty() {
            units.push(Unit::Experiment { id: e.id().to_owned() });
        }
        for (unit, inputs) in trainings {
            if seen.insert(unit.name.clone()) {
                let key = inputs.key();
                units.push(Unit::Training {
                    file: cache::training_file_name(&inputs.id, &key),
                    key,
                    name: unit.name,
                    experiments: vec![e.id().to_owned()],
                });
            } else if let Some(Unit::Training { experiments, .. }) = units.iter_mut().find(|u| u.name() == unit.name) {
                experiments.push(e.id().to_owned());
            }
        }
    }
    units
}

/// The experiments that a re-run of `picked` computes from nothing but
/// what was trained again here: an experiment that trains as one piece, or
/// one whose every training was picked. Their spread is the grader's own.
pub fn recomputed_whole(units: &[Unit], picked: &[&Unit]) -> BTreeSet<String> {
    let mut whole: BTreeSet<String> = BTreeSet::new();
    let mut partly: BTreeSet<&str> = BTreeSet::new();
    for unit in units {
        let was_picked = picked.contains(&unit);
        match unit {
            Unit::Experiment { id } if was_picked => {
                whole.insert(id.clone());
            }
            Unit::Experiment { .. } => {}
            Unit::Training { experiments, .. } => {
                for id in experiments {
                    if was_picked {
                        whole.insert(id.clone());
                    } else {
                        partly.insert(id);
                    }
                }
            }
        }
    }
    whole.retain(|id| !partly.contains(id.as_str()));
    whole
}

/// Fails where a kept training of the submission in `out` was edited after
/// it was computed (its key, history or weights no longer agree with its
/// hashes) or is filed under another key than the run gives it. Returns how
/// many it checked.
pub fn check_kept(units: &[Unit], out: &Path) -> anyhow::Result<usize> {
    let mut checked = 0;
    for unit in units {
        let (Unit::Training { key, .. }, Some([relative, weights_file])) = (unit, unit.kept_files()) else { continue };
        if !out.join(&relative).exists() {
            continue;
        }
        let path = out.join(&relative);
        let entry: TrainingEntry = serde_json::from_slice(&manifest::read_submitted(out, &relative)?)
            .with_context(|| format!("{}: not a kept training of this program", path.display()))?;
        let weights = manifest::read_submitted(out, &weights_file)?;
        entry.untouched(&path, &weights)?;
        if &entry.key != key {
            anyhow::bail!("{}: is filed as another training than the one it holds", path.display());
        }
        checked += 1;
    }
    Ok(checked)
}

/// The indices of the `k` units of `n` that the grader's `secret` picks for
/// the submission named by `submission` (its manifest's hash): another
/// submission gets another sample, and no one without the secret can
/// tell which.
pub fn sample(n: usize, k: usize, secret: u64, submission: &str) -> BTreeSet<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::derive(secret, submission));
    rand::seq::index::sample(&mut rng, n, k.min(n)).into_iter().collect()
}

/// The probability that `k` units drawn without replacement from `n`
/// include at least one of `fabricated`.
pub fn caught_probability(n: usize, fabricated: usize, k: usize) -> f64 {
    let k = k.min(n);
    let missed: f64 = (0..k).map(|i| n.saturating_sub(fabricated + i) as f64 / (n - i) as f64).product();
    1.0 - missed
}

/// Copies into `scratch` what the submission in `out` recorded of a unit
/// not picked: a training's entry and weights, so that it serves instead of
/// training again; an experiment's result, taken as recorded. Returns
/// false where the submission does not hold it (it then trains again).
pub fn keep_recorded(unit: &Unit, out: &Path, recorded: &Manifest, scratch: &Cache) -> anyhow::Result<bool> {
    match unit {
        Unit::Training { .. } => {
            let files = unit.kept_files().expect("a training keeps files");
            if !out.join(&files[0]).exists() {
                return Ok(false);
            }
            for relative in files {
                let bytes = manifest::read_submitted(out, &relative)?;
                let name = Path::new(&relative).file_name().expect("a file");
                cache::write_atomic(&scratch.trainings_dir().join(name), &bytes)?;
            }
            Ok(true)
        }
        Unit::Experiment { id } => {
            let record = recorded.experiments.iter().find(|r| &r.id == id).with_context(|| format!("{id}: not in the manifest"))?;
            let relative = record.cache_file.to_string_lossy();
            let bytes = manifest::read_submitted(out, &relative)?;
            let name = record.cache_file.file_name().with_context(|| format!("{relative}: no file name"))?;
            cache::write_atomic(&scratch.dir().join(name), &bytes)?;
            Ok(true)
        }
    }
}

/// Whether the weights a picked training left in `scratch` are the
/// submitted ones, byte for byte: `None` where either is missing.
pub fn same_weights(unit: &Unit, out: &Path, scratch: &Cache) -> Option<bool> {
    let [_, weights] = unit.kept_files()?;
    let submitted = manifest::read_submitted(out, &weights).ok()?;
    let retrained = std::fs::read(scratch.trainings_dir().join(Path::new(&weights).file_name()?)).ok()?;
    Some(submitted == retrained)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stated_odds_are_those_of_the_sampler() {
        assert_eq!(caught_probability(20, 0, 3), 0.0);
        assert_eq!(caught_probability(20, 1, 20), 1.0);
        assert!((caught_probability(20, 1, 3) - 0.15).abs() < 1e-12);
        // 1 - (17·16·15)/(20·19·18)
        assert!((caught_probability(20, 3, 3) - (1.0 - 4080.0 / 6840.0)).abs() < 1e-12);
        // Over many secrets, the sampler catches what the formula states.
        let (n, k) = (23, 3);
        for fabricated in [1, 2, 5] {
            let trials = 20_000;
            let caught = (0..trials).filter(|secret| sample(n, k, *secret, "group-7").iter().any(|i| *i < fabricated)).count();
            let measured = caught as f64 / trials as f64;
            let stated = caught_probability(n, fabricated, k);
            assert!((measured - stated).abs() < 0.012, "{fabricated} fabricated: measured {measured}, stated {stated}");
        }
    }

    #[test]
    fn each_submission_and_secret_gets_its_own_sample_of_distinct_units() {
        let a = sample(25, 3, 7, "manifest-a");
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|i| *i < 25));
        assert_eq!(a, sample(25, 3, 7, "manifest-a"), "the same secret picks the same units again");
        let others: Vec<_> = (0..20).map(|s| sample(25, 3, s, "manifest-a")).collect();
        assert!(others.iter().any(|o| *o != a), "another secret, another sample");
        assert_eq!(sample(4, 10, 1, "x").len(), 4, "never more than there are");
    }

    #[test]
    fn a_training_that_experiments_share_is_one_unit() {
        use crate::precision::{Chosen, Precision};
        use crate::profile::Profile;
        let chosen = Chosen { precision: Precision::Float32, requested: "auto".into(), reason: "test".into() };
        let plan = Plan::new(Profile::Smoke, 1, chosen, &[]).unwrap();
        let ids: BTreeSet<String> = plan.experiments.iter().map(|e| e.id().to_owned()).collect();
        let all = units(&plan, "data", &ids);
        let names: Vec<&str> = all.iter().map(Unit::name).collect();
        let distinct: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), distinct.len(), "{names:?}");
        assert_eq!(names.iter().filter(|n| **n == "tuned-mlp-seed-1").count(), 1);
        assert!(all.contains(&Unit::Experiment { id: "q1_preprocessing".into() }), "{names:?}");
        assert!(!names.contains(&"q3_cnn"), "an experiment that keeps trainings is audited through them");
        // Only what was re-run whole gives the grader's own spread.
        let picked: Vec<&Unit> = all.iter().filter(|u| u.name().starts_with("tuned-mlp-")).collect();
        let whole = recomputed_whole(&all, &picked);
        assert!(whole.contains("q2_tuned_mlp"), "{whole:?}");
        assert!(!whole.contains("q3_cnn") && !whole.contains("q1_preprocessing"), "{whole:?}");
        assert_eq!(recomputed_whole(&all, &all.iter().collect::<Vec<_>>()), ids);
    }
}
