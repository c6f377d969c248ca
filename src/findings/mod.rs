//! What the report concludes from the results: typed findings (enums,
//! booleans and the numbers they cite), one file per question, computed
//! here so that a unit test can feed every case, the ones where the data go
//! the other way included. The answers' templates only choose words by
//! them; they never search, compare numbers or read a config's layout.
//! No result's key covers this layer: a finding changes wording, never a
//! number.

pub mod appendix;
pub mod q1;
pub mod q2;
pub mod q3;
pub mod q4;
pub mod shared;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Every question's findings that `context` (the answers' template
/// context: each experiment's result under its id and its config under
/// `<id>_run.config`) has the results for, as `{"q1": ..., "q2": ...}`.
/// A finding whose results are absent is left out; one whose results do
/// not read as their experiment's output is an error.
pub fn of_context(context: &Value) -> anyhow::Result<Value> {
    let mut findings = serde_json::Map::new();
    for (question, f) in each(context) {
        if let Some(f) = f? {
            findings.insert(question.into(), f);
        }
    }
    Ok(Value::Object(findings))
}

/// Each question's findings, `None` where its results are absent.
pub fn each(context: &Value) -> Vec<(&'static str, anyhow::Result<Option<Value>>)> {
    let read = Reader(context);
    vec![
        ("q1", (|| Ok(read.result("q1_preprocessing")?.map(|p| to_value(q1::Findings::new(&p)))))()),
        (
            "q2",
            (|| {
                let inputs = (
                    read.result("q2_notebook_mlp")?,
                    read.result("q2_weight_decay_sweep")?,
                    read.config("q2_weight_decay_sweep")?,
                    read.result("q2_tuned_mlp")?,
                    read.config("q2_tuned_mlp")?,
                );
                Ok(match inputs {
                    (Some(notebook), Some(sweep), Some(sweep_config), Some(tuned), Some(tuned_config)) => {
                        Some(to_value(q2::Findings::new(&notebook, &sweep, &sweep_config, &tuned, &tuned_config)))
                    }
                    _ => None,
                })
            })(),
        ),
        (
            "q3",
            (|| {
                Ok(match (read.result("q3_cnn")?, read.config("q3_cnn")?) {
                    (Some(cnn), Some(config)) => Some(to_value(q3::Findings::new(&cnn, &config))),
                    _ => None,
                })
            })(),
        ),
        (
            "q4",
            (|| {
                let own = context.pointer("/report/q4_noisy_hard_from").and_then(Value::as_f64);
                Ok(match (read.result("q4_denoising_autoencoder")?, read.config("q4_denoising_autoencoder")?) {
                    (Some(ae), Some(config)) => Some(to_value(q4::Findings::new(&ae, &config, own))),
                    _ => None,
                })
            })(),
        ),
        (
            "appendix",
            (|| {
                Ok(match (read.result("appendix_earlier_edition")?, read.config("appendix_earlier_edition")?) {
                    (Some(e), Some(config)) => Some(to_value(appendix::Findings::new(&e, &config))),
                    _ => None,
                })
            })(),
        ),
    ]
}

/// A finding as the templates see it: plain data, always serialisable.
fn to_value(finding: impl serde::Serialize) -> Value {
    serde_json::to_value(finding).expect("a finding is plain data")
}

struct Reader<'a>(&'a Value);

impl Reader<'_> {
    fn typed<T: DeserializeOwned>(&self, pointer: &str, what: &str) -> anyhow::Result<Option<T>> {
        match self.0.pointer(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|e| anyhow::anyhow!("{what} does not read as its experiment's: {e}")),
        }
    }
    fn result<T: DeserializeOwned>(&self, id: &str) -> anyhow::Result<Option<T>> {
        self.typed(&format!("/{id}"), &format!("the result of {id}"))
    }
    fn config<T: DeserializeOwned>(&self, id: &str) -> anyhow::Result<Option<T>> {
        self.typed(&format!("/{id}_run/config"), &format!("the config of {id}"))
    }
}
