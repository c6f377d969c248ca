//! The report's figures, drawn from the cache alone: each experiment's result,
//! with its config for what the result does not repeat, as SVG. No
//! experiment's key covers this module, so editing a legend or a colour keeps
//! every result. `draw` holds the plotting helpers; one module per question
//! chooses what its experiments' figures show, and `of` picks it by id.

mod appendix;
pub mod draw;
mod q1;
mod q2;
mod q3;
mod q4;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use draw::{Classes, Figure, thousands};

use crate::experiments::{earlier_edition, q1_preprocessing, q2_mlp, q3_cnn, q4_autoencoder};

/// The figures of experiment `id` from its config and its result as the
/// cache holds them; an error where the id is no experiment's, or where
/// either is not of that experiment's types.
/// `classes` names each label where the data set names its classes (not
/// digits): the figures that show classes then show their names.
pub fn of(id: &str, config: &Value, result: &Value, classes: &Classes) -> anyhow::Result<Vec<Figure>> {
    match id {
        "q1_preprocessing" => q1::preprocessing(&typed::<q1_preprocessing::Preprocessed>(id, "result", result)?, classes),
        "q2_notebook_mlp" => q2::notebook_mlp(&typed::<q2_mlp::MlpResult>(id, "result", result)?),
        "q2_weight_decay_sweep" => q2::weight_decay_sweep(
            &typed::<q2_mlp::SweepConfig>(id, "config", config)?,
            &typed::<q2_mlp::SweepResult>(id, "result", result)?,
        ),
        "q2_tuned_mlp" => {
            q2::tuned_mlp(&typed::<q2_mlp::TunedConfig>(id, "config", config)?, &typed::<crate::study::Study>(id, "result", result)?)
        }
        "q3_cnn" => q3::cnn(&typed::<q3_cnn::Config>(id, "config", config)?, &typed::<q3_cnn::Output>(id, "result", result)?, classes),
        "q4_denoising_autoencoder" => q4::denoising_autoencoder(
            &typed::<q4_autoencoder::Config>(id, "config", config)?,
            &typed::<q4_autoencoder::Output>(id, "result", result)?,
            classes,
        ),
        "appendix_earlier_edition" => appendix::earlier_edition(
            &typed::<earlier_edition::Config>(id, "config", config)?,
            &typed::<earlier_edition::Output>(id, "result", result)?,
        ),
        _ => anyhow::bail!("no figures for `{id}`: it is not an experiment of the report"),
    }
}

/// `value`, experiment `id`'s `what` (its config or its result), as its type.
fn typed<T: DeserializeOwned>(id: &str, what: &str, value: &Value) -> anyhow::Result<T> {
    T::deserialize(value).with_context(|| format!("{id}: its {what} is not of its experiment's type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_named_where_the_data_set_names_them() {
        assert_eq!(Classes::default().name(1i64), "1");
        let fashion = Classes(Some(vec!["T-shirt/top".into(), "Trouser".into()]));
        assert_eq!((fashion.name(1i64), fashion.name(7i64)), ("Trouser".to_owned(), "7".to_owned()));
    }
    use crate::precision::Precision;
    use crate::profile::Profile;

    #[test]
    fn every_experiment_has_figures_and_an_unknown_id_is_named() {
        for e in crate::experiments::all(Profile::Smoke, Precision::Float32) {
            // Its config reads back; only the missing result is refused.
            let error = format!("{:#}", of(e.id(), &e.config(), &Value::Null, &Classes::default()).unwrap_err());
            assert!(error.starts_with(&format!("{}: its result is not", e.id())), "{error}");
        }
        let error = of("q5_transformer", &Value::Null, &Value::Null, &Classes::default()).unwrap_err().to_string();
        assert!(error.contains("`q5_transformer`") && error.contains("not an experiment"), "{error}");
    }
}
