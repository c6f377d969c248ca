//! `verify`: re-runs a recorded run's experiments from its manifest and
//! compares every metric with the recorded one, after checking that the
//! manifest matches this code's configs and that no output was edited;
//! writes a certificate of what was re-computed where.

use std::path::Path;

use anyhow::{Context, bail};
use tch::Device;

use crate::cache::Cache;
use crate::certificate;
use crate::data::Mnist;
use crate::git;
use crate::manifest;
use crate::precision::{self, Chosen, CpuFeatures};
use crate::profile::Profile;
use crate::runner::{Mode, Plan};

/// Re-runs the experiments that the manifest in `out` records (those of
/// `only`, or all), in a scratch directory with the recorded precision and
/// threads, compares every metric, prints the table and writes the
/// certificate; fails where a metric differs by more than `tolerance`.
pub fn run(out: &Path, only: &[String], data: &Mnist, device: Device, tolerance: f64) -> anyhow::Result<()> {
    if let Some((id, _)) = only.iter().find_map(|unit| unit.split_once('/')) {
        bail!("verify --only: a study is verified whole, from its seed to its numbers: give `{id}`, not one of its trainings");
    }
    let recorded_manifest = manifest::Manifest::read(out)?;
    let recorded = recorded_manifest.recorded_results(out, only)?;
    if data.provenance.fingerprint != recorded_manifest.data.fingerprint {
        bail!(
            "the data differ from the recorded run's (fingerprint {}); pass the --data-dir it used ({})",
            recorded_manifest.data.fingerprint,
            recorded_manifest.data.dir.display()
        );
    }
    let profile = <Profile as clap::ValueEnum>::from_str(&recorded_manifest.profile, true)
        .map_err(|e| anyhow::anyhow!("manifest profile `{}`: {e}", recorded_manifest.profile))?;
    let records: Vec<_> = recorded_manifest.experiments.iter().filter(|r| recorded.contains_key(&r.id)).collect();
    // The numbers came from the experiments' own thread count, which a
    // later `render --threads` does not change.
    let threads = records.first().map_or_else(tch::get_num_threads, |r| r.threads);
    tch::set_num_threads(threads);
    let machine = &recorded_manifest.machine;
    let precision = Chosen { reason: format!("the recorded run's ({})", machine.precision.reason), ..machine.precision.clone() };
    let here = CpuFeatures::detect();
    if precision.precision == precision::Precision::BFloat16 && device == Device::Cpu && !here.native_bf16() {
        eprintln!(
            "note: the recorded run computed in bfloat16, which this CPU ({}) emulates: the CNN experiments will re-run many times slower than in float32",
            here.class()
        );
    }
    let plan = Plan::new(profile, recorded_manifest.seed, precision, only)?;
    // What the manifest lists must be what the code would compute: every
    // experiment (of --only), each under the key its config gives now.
    for e in plan.experiments.iter().filter(|e| only.is_empty() || only.iter().any(|id| id == e.id())) {
        let record = recorded_manifest.experiments.iter().find(|r| r.id == e.id()).with_context(|| {
            format!(
                "{}: the manifest lists {} of the {} experiments and not this one; it was not written by `build-report`, or was edited",
                manifest::Manifest::path(out).display(),
                recorded_manifest.experiments.len(),
                plan.experiments.len()
            )
        })?;
        if record.key != plan.key_of(e.as_ref(), &data.provenance.fingerprint) || record.config != e.config() {
            bail!(
                "{}: the manifest's config of {} is not the one this code computes (key {}); \
                 it was made by other code or edited: re-run `build-report` with this code",
                manifest::Manifest::path(out).display(),
                e.id(),
                record.key
            );
        }
    }
    recorded_manifest.check_outputs(out)?;
    let scratch = tempfile::tempdir()?;
    eprintln!(
        "re-running in {} (profile {}, seed {}, {threads} threads, {})",
        scratch.path().display(),
        profile.name(),
        recorded_manifest.seed,
        plan.precision.precision.name()
    );
    let reruns = plan.run(data, &Cache::new(scratch.path()), device, Mode::Train { force: true })?;
    let here_device = format!("{device:?}").to_lowercase();
    for r in &records {
        if r.threads != threads || r.device != here_device {
            eprintln!(
                "note: {} ran on {} with {} threads, the re-run on {here_device} with {threads}: expect small differences",
                r.id, r.device, r.threads
            );
        }
    }
    let suggested = manifest::suggested_tolerance(&recorded);
    // A result merged from jobs on several classes names them all ("AVX2 + AVX-512+BF16").
    let recorded_class = records.iter().map(|r| r.cpu_class.as_str()).find(|c| *c != here.class()).unwrap_or(&machine.cpu_class);
    let other_class = recorded_class != here.class();
    if other_class {
        let suggestion = suggested.as_ref().map_or(String::new(), |s| format!(" (suggested: --tolerance {})", s.describe()));
        println!("recorded on {recorded_class}, re-run on {}: bit-identity is not expected; --tolerance applies{suggestion}", here.class());
    }
    println!("{:<26} {:<44} {:>14} {:>14} {:>11}  verdict", "experiment", "metric", "recorded", "re-run", "difference");
    let mut failed = false;
    let mut checks = Vec::new();
    for (id, result) in &recorded {
        let rerun_entry = reruns.get(id).with_context(|| format!("{id}: was not re-run"))?;
        let rerun = &rerun_entry.result;
        let comparisons = manifest::compare(result, rerun).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        let recorded_sha256 = records.iter().find(|r| &r.id == id).map_or("", |r| r.result_sha256.as_str());
        checks.push(certificate::ExperimentCheck::new(id, recorded_sha256, &rerun_entry.result_sha256, &comparisons, tolerance));
        let bad: Vec<_> = comparisons.iter().filter(|c| !c.within(tolerance)).collect();
        for c in bad.iter().take(20) {
            println!("{id:<26} {:<44} {:>14.6} {:>14.6} {:>11.2e}  MISMATCH", c.metric, c.recorded, c.rerun, c.difference());
        }
        let max = comparisons.iter().map(|c| c.difference()).fold(0.0, f64::max);
        let verdict = if bad.is_empty() { "ok" } else { "MISMATCH" };
        let summary = format!("all {} metrics ({} differ)", comparisons.len(), bad.len());
        println!("{id:<26} {summary:<44} {:>14} {:>14} {max:>11.2e}  {verdict}", "", "");
        failed |= !bad.is_empty();
    }
    let (reproduced, verdict) = certificate::Certificate::verdict(&checks);
    let tolerance_reason = match (tolerance == 0.0, other_class) {
        (true, false) => "bit-identity: the same code, data, seed, precision, threads and CPU class".to_owned(),
        (true, true) => "bit-identity asked for, though the CPU classes differ".to_owned(),
        (false, _) => format!(
            "given with --tolerance{}",
            suggested.as_ref().map_or(String::new(), |s| format!("; the run's own suggestion: {}", s.describe()))
        ),
    };
    let certificate = certificate::Certificate {
        verdict,
        reproduced,
        date: git::today(),
        program_version: env!("CARGO_PKG_VERSION").into(),
        commit: recorded_manifest.run.commit.clone(),
        profile: recorded_manifest.profile.clone(),
        seed: recorded_manifest.seed,
        recorded_on: certificate::Machine {
            cpu_model: machine.cpu_model.clone(),
            cpu_class: recorded_class.to_owned(),
            device: records.first().map_or(String::new(), |r| r.device.clone()),
            threads,
            precision: machine.precision.precision.name().into(),
        },
        rerun_on: certificate::Machine {
            cpu_model: manifest::cpu_model(),
            cpu_class: here.class(),
            device: here_device.clone(),
            threads,
            precision: plan.precision.precision.name().into(),
        },
        tolerance,
        tolerance_reason,
        experiments: checks,
        outputs_checked: recorded_manifest.outputs.iter().map(|(f, h)| (f.clone(), h.clone())).collect(),
    };
    for path in certificate.write(out, &Path::new(crate::PROJECT_DIR).join("templates/certificate.html"))? {
        eprintln!("certificate: {}", path.display());
    }
    if failed {
        let hint = match &suggested {
            Some(s) if other_class && tolerance < s.tolerance => {
                format!("; across CPU classes, --tolerance {} is a fair bar", s.describe())
            }
            _ => String::new(),
        };
        bail!("some metrics differ from the recorded run by more than {tolerance}{hint}");
    }
    Ok(())
}
