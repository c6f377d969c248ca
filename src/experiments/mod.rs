//! The registry: every experiment of the report, one file per question. No
//! question file imports another; what they share lives a layer down
//! (`networks`, `recipe`, `study`, `train`).

pub mod earlier_edition;
pub mod q1_preprocessing;
pub mod q2_mlp;
pub mod q3_cnn;
pub mod q4_autoencoder;

use crate::experiment::AnyExperiment;
use crate::precision::Precision;
use crate::profile::Profile;

/// Every experiment of the report, in the order the questions ask for them;
/// their networks compute in `precision`, but for the notebook's 64-64 MLP
/// and the autoencoder, too small for bfloat16 to pay.
pub fn all(profile: Profile, precision: Precision) -> Vec<Box<dyn AnyExperiment>> {
    vec![
        Box::new(q1_preprocessing::Preprocessing::new(profile)),
        Box::new(q2_mlp::NotebookMlp::new(profile)),
        Box::new(q2_mlp::WeightDecaySweep::new(profile, precision)),
        Box::new(q2_mlp::TunedMlp::new(profile, precision)),
        Box::new(q3_cnn::ConvolutionalNetwork::new(profile, precision)),
        Box::new(q4_autoencoder::DenoisingAutoencoder::new(profile, precision)),
        Box::new(earlier_edition::EarlierEdition::new(profile, precision)),
    ]
}
