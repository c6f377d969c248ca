//! Experiments: units with a serde config, a seed derived from the master
//! seed, and a JSON result that the cache keeps. One file per question.

pub mod q1_preprocessing;
pub mod q2_mlp;
pub mod q3_cnn;
pub mod q4_autoencoder;

use indicatif::ProgressBar;
use serde_json::Value;
use tch::Device;

use crate::data::Mnist;
use crate::figures::Figure;
use crate::precision::Precision;
use crate::profile::Profile;

/// What an experiment gets to run with.
pub struct Context<'a> {
    /// The data set, already reduced to the profile's subset.
    pub data: &'a Mnist,
    pub device: Device,
    /// This experiment's seed, derived from the master seed and its id.
    pub seed: u64,
    pub progress: &'a ProgressBar,
}

pub trait Experiment {
    /// Stable identifier, used by `--only`, in cache file names and as the
    /// name its result has in the answers' templates.
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// Bumped when the code changes what the result would be.
    fn version(&self) -> u32;
    fn config(&self) -> Value;
    /// The file that defines it, as `file!()` names it: its result is keyed
    /// by that file and the computing files it imports.
    fn source_file(&self) -> &'static str;
    /// What its networks compute in: float32 unless the experiment has a
    /// reduced-precision path and the run chose one.
    fn precision(&self) -> Precision {
        Precision::Float32
    }
    /// Images passed through a network in training: a machine-independent cost.
    fn training_images(&self) -> u64;
    fn run(&self, ctx: &Context) -> anyhow::Result<Value>;
    /// The figures the report shows of this experiment's result.
    fn figures(&self, result: &Value) -> anyhow::Result<Vec<Figure>>;
}

/// Every experiment of the report, in the order the questions ask for them;
/// those with a reduced-precision path compute in `precision`.
pub fn all(profile: Profile, precision: Precision) -> Vec<Box<dyn Experiment>> {
    vec![
        Box::new(q1_preprocessing::Preprocessing::new(profile)),
        Box::new(q2_mlp::NotebookMlp::new(profile)),
        Box::new(q2_mlp::WeightDecaySweep::new(profile)),
        Box::new(q2_mlp::TunedMlp::new(profile)),
        Box::new(q3_cnn::ConvolutionalNetwork::new(profile, precision)),
        Box::new(q4_autoencoder::DenoisingAutoencoder::new(profile)),
    ]
}
