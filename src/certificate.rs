//! The certificate `verify` writes for a grader to attach, after CODECHECK's
//! "certificate of reproducible computation": what was re-run, on which
//! machine against which, every experiment's recorded and re-computed result
//! hash with its largest difference, the tolerance applied and why, the
//! output files checked against the manifest, and one verdict. As JSON (for
//! comparing a class's certificates) and as HTML (for reading).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::cache::write_atomic;
use crate::manifest::Comparison;
use crate::report::answers;

/// The machine a run computed on, as far as its numbers go.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cpu_class: String,
    pub device: String,
    pub threads: i32,
    pub precision: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperimentCheck {
    pub id: String,
    pub recorded_result_sha256: String,
    pub rerun_result_sha256: String,
    pub metrics: usize,
    pub differing: usize,
    /// The largest difference of any metric, and which metric it was.
    pub largest_difference: f64,
    pub largest_difference_metric: String,
    pub reproduced: bool,
}

impl ExperimentCheck {
    pub fn new(id: &str, recorded_sha256: &str, rerun_sha256: &str, comparisons: &[Comparison], tolerance: f64) -> ExperimentCheck {
        let largest = comparisons.iter().max_by(|a, b| a.difference().total_cmp(&b.difference()));
        let differing = comparisons.iter().filter(|c| !c.within(tolerance)).count();
        ExperimentCheck {
            id: id.to_owned(),
            recorded_result_sha256: recorded_sha256.to_owned(),
            rerun_result_sha256: rerun_sha256.to_owned(),
            metrics: comparisons.len(),
            differing,
            largest_difference: largest.map_or(0.0, Comparison::difference),
            largest_difference_metric: largest.map_or(String::new(), |c| c.metric.clone()),
            reproduced: differing == 0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    pub verdict: String,
    pub reproduced: bool,
    pub date: String,
    pub program_version: String,
    pub commit: String,
    pub profile: String,
    pub seed: u64,
    pub recorded_on: Machine,
    pub rerun_on: Machine,
    pub tolerance: f64,
    pub tolerance_reason: String,
    /// What was trained again: everything, or an audit's sample.
    pub rerun: String,
    /// The trainings re-run, each with how its weights compared.
    pub audited: Vec<String>,
    pub experiments: Vec<ExperimentCheck>,
    /// Output files whose SHA-256 matched the manifest's, with that hash.
    pub outputs_checked: Vec<(String, String)>,
    /// Output files that a re-render of the recorded results reproduced
    /// byte for byte.
    pub rerendered: Vec<String>,
}

impl Certificate {
    /// The verdict follows the experiments: reproduced only if every one was.
    pub fn verdict(experiments: &[ExperimentCheck]) -> (bool, String) {
        let failed: Vec<&str> = experiments.iter().filter(|e| !e.reproduced).map(|e| e.id.as_str()).collect();
        if failed.is_empty() {
            (true, format!("reproduced: all {} experiments re-computed within the tolerance", experiments.len()))
        } else {
            (false, format!("not reproduced: {} of {} experiments differ ({})", failed.len(), experiments.len(), failed.join(", ")))
        }
    }

    /// Writes `certificate.json` and `certificate.html` into `dir`, the
    /// HTML from `template` (the project's certificate.html).
    pub fn write(&self, dir: &Path, template: &Path) -> anyhow::Result<[PathBuf; 2]> {
        let json = dir.join("certificate.json");
        write_atomic(&json, serde_json::to_string_pretty(self)?.as_bytes())?;
        let source = std::fs::read_to_string(template).with_context(|| format!("{}: cannot be read", template.display()))?;
        let mut env = answers::environment();
        env.add_template("certificate.html", &source).map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
        let html = env
            .get_template("certificate.html")
            .and_then(|t| t.render(minijinja::Value::from_serialize(self)))
            .map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
        let html_path = dir.join("certificate.html");
        write_atomic(&html_path, html.as_bytes())?;
        Ok([json, html_path])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(metric: &str, recorded: f64, rerun: f64) -> Comparison {
        Comparison { metric: metric.into(), recorded, rerun }
    }

    #[test]
    fn an_experiment_is_reproduced_only_within_the_tolerance_and_the_verdict_needs_all() {
        let comparisons = [comparison("a", 0.5, 0.5), comparison("b.loss", 1.0, 1.003), comparison("c", 2.0, 2.001)];
        let strict = ExperimentCheck::new("q", "h1", "h2", &comparisons, 0.0);
        assert_eq!((strict.metrics, strict.differing, strict.reproduced), (3, 2, false));
        assert_eq!(strict.largest_difference_metric, "b.loss");
        assert!((strict.largest_difference - 0.003).abs() < 1e-12);
        let lenient = ExperimentCheck::new("q", "h1", "h2", &comparisons, 0.01);
        assert!(lenient.reproduced);
        let (ok, said) = Certificate::verdict(&[lenient.clone(), lenient.clone()]);
        assert!(ok && said.starts_with("reproduced: all 2"), "{said}");
        let (ok, said) = Certificate::verdict(&[lenient, strict]);
        assert!(!ok && said == "not reproduced: 1 of 2 experiments differ (q)", "{said}");
    }
}
