//! Kept trainings, as the training code sees them: what a finished training
//! leaves behind, what identifies a training (`MadeBy`: itself, so that
//! experiments declaring the same one share it, or its experiment), the
//! store the runner lends for them (so that an interrupted run resumes
//! after its last finished training, and separate jobs can each train a
//! part), parts kept whole, and the names that make each training a unit of
//! its own. Nothing here knows networks or files.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a finished training leaves behind: its history (as JSON), its
/// weights (as the network's store writes them), how long it took and on
/// which class of CPU.
pub struct Checkpoint {
    pub history: Value,
    pub weights: Vec<u8>,
    pub wall_seconds: f64,
    pub cpu_class: String,
}

/// Where the runner keeps the finished trainings an experiment declared, by
/// name: one file per training, whichever experiments declare it.
pub trait Checkpoints {
    /// The checkpoint of training `name`, if one was kept and may be used.
    fn load(&self, name: &str) -> Option<Checkpoint>;
    fn store(&self, name: &str, checkpoint: &Checkpoint) -> anyhow::Result<()>;
    /// Whether this job trains `name` when it has no checkpoint; false for
    /// the trainings given to other jobs.
    fn wanted(&self, name: &str) -> bool;
}

/// Nothing kept: every training runs.
pub struct NoCheckpoints;

impl Checkpoints for NoCheckpoints {
    fn load(&self, _: &str) -> Option<Checkpoint> {
        None
    }
    fn store(&self, _: &str, _: &Checkpoint) -> anyhow::Result<()> {
        Ok(())
    }
    fn wanted(&self, _: &str) -> bool {
        true
    }
}

/// One training an experiment needs, as a unit of work: `run --only ID/NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub epochs: usize,
    pub made_by: MadeBy,
}

/// What identifies a training, and so keys it in the cache.
#[derive(Debug, Clone, PartialEq)]
pub enum MadeBy {
    /// A part of one experiment (a batched study, an autoencoder): the
    /// experiment's own inputs and the part's name.
    Experiment,
    /// What trains it and nothing else: `what` (a recipe, its seed and its
    /// data split, as JSON), computed by the code of `source_file` and what
    /// it imports. Every experiment that declares the same is given the
    /// same training: it trains once.
    Itself { what: Value, seed: u64, precision: crate::precision::Precision, source_file: &'static str },
}

impl Unit {
    /// A part of its experiment, `epochs` long.
    pub fn part(name: &str, epochs: usize) -> Unit {
        Unit { name: name.to_owned(), epochs, made_by: MadeBy::Experiment }
    }
}

/// `label` in lower case, every run of characters other than ASCII letters
/// and digits made one hyphen: a name for a file and a command line.
pub fn name(label: &str) -> String {
    let lower = label.to_lowercase();
    lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

/// Why an experiment stopped before its result: trainings it needs were
/// given to other jobs and have no checkpoint yet.
#[derive(Debug, thiserror::Error)]
#[error("waits for the trainings given to other jobs: {}", left.join(", "))]
pub struct Incomplete {
    pub left: Vec<String>,
}

/// What `Parts::lookup` found for a part.
pub enum Lookup {
    /// Its checkpoint.
    Kept(Checkpoint),
    /// Nothing: this job computes it, then `Parts::store`s it.
    Compute(Instant),
    /// Nothing, and it is another job's.
    OtherJob,
}

/// An experiment's parts, each kept as it is computed and computed only
/// where no checkpoint has it and this job was given it; `finish` says
/// whether the experiment has them all.
pub struct Parts<'a> {
    checkpoints: &'a dyn Checkpoints,
    left: RefCell<Vec<String>>,
}

impl<'a> Parts<'a> {
    pub fn new(checkpoints: &'a dyn Checkpoints) -> Parts<'a> {
        Parts { checkpoints, left: RefCell::new(Vec::new()) }
    }

    pub fn lookup(&self, name: &str) -> Lookup {
        if let Some(kept) = self.checkpoints.load(name) {
            return Lookup::Kept(kept);
        }
        if self.checkpoints.wanted(name) {
            return Lookup::Compute(Instant::now());
        }
        self.left.borrow_mut().push(name.to_owned());
        Lookup::OtherJob
    }

    /// Keeps part `name`, computed in `took`: its value (a history) and its
    /// weights (empty where nothing later needs the model).
    pub fn store(&self, name: &str, value: &impl Serialize, weights: Vec<u8>, took: Duration) -> anyhow::Result<Checkpoint> {
        let kept = Checkpoint {
            history: serde_json::to_value(value)?,
            weights,
            wall_seconds: took.as_secs_f64(),
            cpu_class: crate::precision::CpuFeatures::detect().class(),
        };
        self.checkpoints.store(name, &kept)?;
        Ok(kept)
    }

    /// Part `name`'s value, kept whole without weights: from its
    /// checkpoint, else from `compute`; `None` where it is another job's.
    pub fn keep<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        compute: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        match self.lookup(name) {
            Lookup::Kept(kept) => {
                let value =
                    serde_json::from_value(kept.history).map_err(|e| anyhow::anyhow!("{name}: its checkpoint cannot be read: {e}"))?;
                Ok(Some(value))
            }
            Lookup::Compute(started) => {
                let value = compute()?;
                self.store(name, &value, Vec::new(), started.elapsed())?;
                Ok(Some(value))
            }
            Lookup::OtherJob => Ok(None),
        }
    }

    /// Fails with `Incomplete` where some parts were left to other jobs.
    pub fn finish(self) -> anyhow::Result<()> {
        let left = self.left.into_inner();
        if left.is_empty() { Ok(()) } else { Err(Incomplete { left }.into()) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_lower_case_words_joined_by_hyphens() {
        assert_eq!(super::name("ablation none of these (the notebook's recipe)"), "ablation-none-of-these-the-notebook-s-recipe");
        assert_eq!(super::name("MLP 500-300"), "mlp-500-300");
    }
}
