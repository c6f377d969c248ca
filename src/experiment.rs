//! What an experiment is: a unit with a typed config, a seed derived from the
//! master seed, and a typed output that the cache keeps as JSON. Questions
//! implement `Experiment`; the registry, the cache and the runner hold them
//! as `AnyExperiment`, which one blanket impl derives with the types erased.

use indicatif::ProgressBar;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::Device;

use crate::checkpoint::{Checkpoints, Unit};
use crate::data::Mnist;
use crate::precision::Precision;

/// What an experiment gets to run with.
pub struct Context<'a> {
    /// The data set, already reduced to the profile's subset.
    pub data: &'a Mnist,
    pub device: Device,
    /// This experiment's seed, derived from the master seed and its id.
    pub seed: u64,
    /// The seed, derived from the master seed, of what experiments share:
    /// the validation split and the trainings that several of them use.
    pub shared_seed: u64,
    pub progress: &'a ProgressBar,
    /// Where its trainings are kept as they finish.
    pub checkpoints: &'a dyn Checkpoints,
}

/// What names an experiment and its code.
pub struct About {
    /// Stable identifier, used by `--only`, in cache file names and as the
    /// name its result has in the answers' templates.
    pub id: &'static str,
    pub title: &'static str,
    /// Bumped when the code changes what the result would be.
    pub version: u32,
    /// The file that defines it, as `file!()` names it: its result is keyed
    /// by that file and the computing files it imports.
    pub source_file: &'static str,
}

pub trait Experiment {
    type Config: Serialize;
    type Output: Serialize + DeserializeOwned;
    const ABOUT: About;
    fn config(&self) -> &Self::Config;
    /// What its networks compute in: float32 unless the experiment has a
    /// reduced-precision path and the run chose one.
    fn precision(&self) -> Precision {
        Precision::Float32
    }
    /// Images passed through a network in training: a machine-independent cost.
    fn training_images(&self) -> u64;
    /// Fails, before anything runs, where the config cannot give a result
    /// (no replicates, no epochs, no noise draws).
    fn check(&self) -> anyhow::Result<()>;
    /// The trainings it needs, given its seed and the shared seed: each is
    /// kept as it finishes and can run as a job of its own (`run --only
    /// ID/NAME`); one that another experiment declares too trains once.
    /// None by default.
    fn trainings(&self, _seed: u64, _shared_seed: u64) -> Vec<Unit> {
        Vec::new()
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Self::Output>;
}

/// An experiment with its config and output as JSON.
pub trait AnyExperiment {
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    fn version(&self) -> u32;
    fn config(&self) -> Value;
    fn source_file(&self) -> &'static str;
    fn precision(&self) -> Precision;
    fn training_images(&self) -> u64;
    fn check(&self) -> anyhow::Result<()>;
    fn trainings(&self, seed: u64, shared_seed: u64) -> Vec<Unit>;
    fn run(&self, ctx: &Context) -> anyhow::Result<Value>;
    /// Fails where `result`, as the cache would hold it, is not this
    /// experiment's output (a NaN stored as null, say): the report could not
    /// read it back.
    fn check_result(&self, result: &Value) -> anyhow::Result<()>;
}

impl<E: Experiment> AnyExperiment for E {
    fn id(&self) -> &'static str {
        E::ABOUT.id
    }
    fn title(&self) -> &'static str {
        E::ABOUT.title
    }
    fn version(&self) -> u32 {
        E::ABOUT.version
    }
    fn config(&self) -> Value {
        serde_json::to_value(Experiment::config(self)).expect("a config is plain data and serialises")
    }
    fn source_file(&self) -> &'static str {
        E::ABOUT.source_file
    }
    fn precision(&self) -> Precision {
        Experiment::precision(self)
    }
    fn training_images(&self) -> u64 {
        Experiment::training_images(self)
    }
    fn check(&self) -> anyhow::Result<()> {
        Experiment::check(self).map_err(|e| anyhow::anyhow!("{}: {e}", E::ABOUT.id))
    }
    fn trainings(&self, seed: u64, shared_seed: u64) -> Vec<Unit> {
        Experiment::trainings(self, seed, shared_seed)
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(Experiment::run(self, ctx)?)?)
    }
    fn check_result(&self, result: &Value) -> anyhow::Result<()> {
        E::Output::deserialize(result)?;
        Ok(())
    }
}
