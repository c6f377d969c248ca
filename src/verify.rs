//! `verify`: re-runs a recorded run's experiments from its manifest and
//! compares every metric with the recorded one, after the checks that train
//! nothing (`check_recorded`, which `package` runs too): the manifest
//! matches this code's configs, no result or output was edited, and the
//! report is what its results render; writes a certificate of what was
//! re-computed where.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use tch::Device;

use crate::audit;
use crate::cache::Cache;
use crate::certificate;
use crate::data::{Mnist, Provenance};
use crate::git;
use crate::manifest;
use crate::precision::{self, Chosen, CpuFeatures};
use crate::profile::Profile;
use crate::runner::{Mode, Plan};

/// What the command line asked for that the recorded run decides: each
/// given flag must agree with the manifest, or `verify` would certify
/// another run than the one asked for.
#[derive(Debug, Default)]
pub struct Asked {
    pub profile: Option<Profile>,
    pub seed: Option<u64>,
    pub precision: Option<precision::Precision>,
}

impl Asked {
    /// An error naming each flag that differs from the recorded run.
    fn check(&self, recorded: &manifest::Manifest) -> anyhow::Result<()> {
        let mut differ = Vec::new();
        if let Some(p) = self.profile.filter(|p| p.name() != recorded.profile) {
            differ.push(format!("--profile {} (recorded: {})", p.name(), recorded.profile));
        }
        if let Some(seed) = self.seed.filter(|s| *s != recorded.seed) {
            differ.push(format!("--seed {seed} (recorded: {})", recorded.seed));
        }
        let recorded_precision = recorded.machine.precision.precision;
        if let Some(p) = self.precision.filter(|p| *p != recorded_precision) {
            differ.push(format!("--precision {} (recorded: {})", p.name(), recorded_precision.name()));
        }
        if !differ.is_empty() {
            bail!(
                "verify re-runs the recorded run as it was made, and {} from it: {}; \
                 leave these flags out, or give the recorded values",
                if differ.len() == 1 { "this flag differs" } else { "these flags differ" },
                differ.join(", ")
            );
        }
        Ok(())
    }
}

/// How much of the recorded run `verify` trains again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rerun {
    /// Every training and experiment, from nothing.
    Full,
    /// `trainings` units picked by the grader's secret `seed`; every other
    /// experiment is evaluated again from the submitted weights.
    Audit { trainings: usize, seed: u64 },
}

/// What `verify` does, besides where.
pub struct Options<'a> {
    pub only: &'a [String],
    pub asked: &'a Asked,
    /// The largest difference accepted across CPU classes; `None`: the
    /// policy's, from the re-run's own spread.
    pub tolerance: Option<f64>,
    pub rerun: Rerun,
    /// Where the certificate goes.
    pub certificate_dir: std::path::PathBuf,
}

/// What `verify` concluded of one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every metric re-computed bit for bit, on the same class of CPU.
    Verified,
    /// Every metric within the tolerance that a different CPU class or
    /// device is granted.
    Tolerance,
    /// Some metric, or a re-trained training's weights, differ.
    Mismatch,
    /// A check that trains nothing failed: an edited result, output,
    /// report, manifest or code.
    Tampered,
    /// Not a readable submission of this program.
    Broken,
    /// Stopped by the batch's time or memory limit.
    Unfinished,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Tolerance => "tolerance",
            Verdict::Mismatch => "mismatch",
            Verdict::Tampered => "tampered",
            Verdict::Broken => "broken",
            Verdict::Unfinished => "unfinished",
        }
    }

    pub fn passed(self) -> bool {
        matches!(self, Verdict::Verified | Verdict::Tolerance)
    }
}

/// One submission's verdict and what decided it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// What differed (the first few metrics, weights or files), or why the
    /// submission could not be checked.
    pub differed: Vec<String>,
    /// The trainings re-run, each with how its weights compared.
    pub audited: Vec<String>,
    /// The units of training work the checked experiments hold.
    pub units: usize,
    /// The chance that the audit had caught one fabricated unit; 1 for a full re-run.
    pub caught_if_one_fabricated: Option<f64>,
    pub recorded_class: String,
    pub rerun_class: String,
    pub tolerance: f64,
    pub tolerance_reason: String,
}

impl Outcome {
    /// A submission that stopped at `error`, with its whole chain of causes.
    pub fn stopped(verdict: Verdict, error: &anyhow::Error) -> Outcome {
        Outcome {
            verdict,
            differed: vec![format!("{error:#}")],
            audited: Vec::new(),
            units: 0,
            caught_if_one_fabricated: None,
            recorded_class: String::new(),
            rerun_class: CpuFeatures::detect().class(),
            tolerance: 0.0,
            tolerance_reason: String::new(),
        }
    }
}

/// How many differing metrics an outcome names.
const NAMED_DIFFERENCES: usize = 5;

/// Re-runs the experiments that the manifest in `out` records (those of
/// `only`, or all; every training, or the audit's sample), in a scratch
/// directory with the recorded precision and threads, compares every
/// metric, prints the table and writes the certificate. Fails only where
/// the grader's flags are at fault; what the submission gets wrong is the
/// outcome's verdict.
pub fn run(out: &Path, options: &Options, data: &Mnist, device: Device) -> anyhow::Result<Outcome> {
    if let Some((id, _)) = options.only.iter().find_map(|unit| unit.split_once('/')) {
        bail!("verify --only: a study is verified whole, from its seed to its numbers: give `{id}`, not one of its trainings");
    }
    let recorded_manifest = match manifest::Manifest::read(out) {
        Ok(m) => m,
        Err(e) => return Ok(Outcome::stopped(Verdict::Broken, &e)),
    };
    options.asked.check(&recorded_manifest)?;
    if data.provenance.fingerprint != recorded_manifest.data.fingerprint {
        let e = anyhow::anyhow!(
            "the data differ from the recorded run's (fingerprint {}); pass the --data-dir it used ({})",
            recorded_manifest.data.fingerprint,
            recorded_manifest.data.dir.display()
        );
        return Ok(Outcome::stopped(Verdict::Broken, &e));
    }
    let checked = match check_recorded(out, &recorded_manifest, options.only, &data.provenance) {
        Ok(checked) => checked,
        Err(e) => return Ok(Outcome::stopped(Verdict::Tampered, &e)),
    };
    let Checked { recorded, profile, units, rerendered, code_zip_files } = checked;
    if let Some(n) = code_zip_files {
        eprintln!("code.zip: all {n} files that computed the results or rendered the report are the recorded ones");
    }
    eprintln!("re-rendered the report from the recorded results: {} files, each identical to the submitted one", rerendered.len());
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
    let plan = Plan::new(profile, recorded_manifest.seed, precision, options.only)?;
    let scratch = tempfile::tempdir()?;
    let scratch_cache = Cache::new(scratch.path());
    let mut sampled = units.len();
    let picked: Vec<&audit::Unit> = match options.rerun {
        Rerun::Full => units.iter().collect(),
        Rerun::Audit { trainings, seed } => {
            sampled = trainings.min(units.len());
            let sample =
                audit::sample(units.len(), trainings, seed, &crate::data::sha256_hex(&manifest::read_submitted(out, "manifest.json")?));
            let mut picked = Vec::new();
            for (i, unit) in units.iter().enumerate() {
                if sample.contains(&i) || !audit::keep_recorded(unit, out, &recorded_manifest, &scratch_cache)? {
                    picked.push(unit);
                }
            }
            picked
        }
    };
    // A unit missing from the submission trains too, but a student chooses
    // which to fabricate: only the sample counts towards the odds.
    let caught_if_one_fabricated = audit::caught_probability(units.len(), 1, sampled);
    eprintln!(
        "re-running in {} (profile {}, seed {}, {threads} threads, {}): {} of {} trainings",
        scratch.path().display(),
        profile.name(),
        recorded_manifest.seed,
        plan.precision.precision.name(),
        picked.len(),
        units.len()
    );
    let mode = Mode::Train { force: options.rerun == Rerun::Full };
    let reruns = match plan.run(data, &scratch_cache, device, mode) {
        Ok(reruns) => reruns,
        Err(e) => return Ok(Outcome::stopped(Verdict::Broken, &e.context("re-running the recorded experiments"))),
    };
    let here_device = format!("{device:?}").to_lowercase();
    for r in &records {
        if r.threads != threads || r.device != here_device {
            eprintln!(
                "note: {} ran on {} with {} threads, the re-run on {here_device} with {threads}: expect small differences",
                r.id, r.device, r.threads
            );
        }
    }
    // The tolerance across classes comes from the spread that this re-run
    // measured, never from numbers the submission states.
    // In an audit, only what was trained again here counts: the submitted
    // weights' spread is the student's.
    let whole = audit::recomputed_whole(&units, &picked);
    let rerun_results: BTreeMap<String, serde_json::Value> =
        recorded.keys().filter(|id| whole.contains(*id)).filter_map(|id| reruns.get(id).map(|e| (id.clone(), e.result.clone()))).collect();
    let suggested = manifest::suggested_tolerance(&rerun_results);
    // A result merged from jobs on several classes names them all ("AVX2 + AVX-512+BF16").
    let recorded_class = records.iter().map(|r| r.cpu_class.as_str()).find(|c| *c != here.class()).unwrap_or(&machine.cpu_class);
    let other_machine = recorded_class != here.class() || records.iter().any(|r| r.device != here_device);
    if !other_machine && options.tolerance.is_some_and(|t| t > 0.0) {
        eprintln!("note: recorded and re-run on one class of CPU ({recorded_class}): bit-identity is required, --tolerance does not apply");
    }
    let (tolerance, tolerance_reason) = tolerance_policy(other_machine, options.tolerance, suggested.as_ref());
    if other_machine {
        println!(
            "recorded on {recorded_class}, re-run on {}: bit-identity is not expected; compared within {tolerance:.1e} ({tolerance_reason})",
            here.class()
        );
    }
    println!("{:<26} {:<44} {:>14} {:>14} {:>11}  verdict", "experiment", "metric", "recorded", "re-run", "difference");
    let mut differed = Vec::new();
    let mut checks = Vec::new();
    for (id, result) in &recorded {
        let rerun_entry = reruns.get(id).with_context(|| format!("{id}: was not re-run"))?;
        let rerun = &rerun_entry.result;
        let comparisons = match manifest::compare(result, rerun) {
            Ok(c) => c,
            Err(e) => {
                differed.push(format!("{id}: {e}"));
                continue;
            }
        };
        let recorded_sha256 = records.iter().find(|r| &r.id == id).map_or("", |r| r.result_sha256.as_str());
        checks.push(certificate::ExperimentCheck::new(id, recorded_sha256, &rerun_entry.result_sha256, &comparisons, tolerance));
        let bad: Vec<_> = comparisons.iter().filter(|c| !c.within(tolerance)).collect();
        for c in bad.iter().take(20) {
            println!("{id:<26} {:<44} {:>14.6} {:>14.6} {:>11.2e}  MISMATCH", c.metric, c.recorded, c.rerun, c.difference());
        }
        differed.extend(bad.iter().map(|c| format!("{id} {}: {} recorded, {} re-run", c.metric, c.recorded, c.rerun)));
        let max = comparisons.iter().map(|c| c.difference()).fold(0.0, f64::max);
        let verdict = if bad.is_empty() { "ok" } else { "MISMATCH" };
        let summary = format!("all {} metrics ({} differ)", comparisons.len(), bad.len());
        println!("{id:<26} {summary:<44} {:>14} {:>14} {max:>11.2e}  {verdict}", "", "");
    }
    // A re-trained training of the same class must leave the submitted weights.
    let mut audited = Vec::new();
    for unit in &picked {
        let said = match audit::same_weights(unit, out, &scratch_cache) {
            Some(true) => "weights bit-identical",
            Some(false) if other_machine => "weights differ, as across CPU classes they may",
            Some(false) => {
                // The cause goes before the metrics it moved.
                differed.insert(0, format!("training {}: its weights differ from the submitted ones", unit.name()));
                "weights DIFFER"
            }
            None if matches!(unit, audit::Unit::Experiment { .. }) => "re-run whole",
            None => "not in the submission",
        };
        audited.push(format!("{} ({said})", unit.name()));
    }
    let verdict = match (differed.is_empty(), other_machine) {
        (true, false) => Verdict::Verified,
        (true, true) => Verdict::Tolerance,
        (false, _) => Verdict::Mismatch,
    };
    let rerun = match options.rerun {
        Rerun::Full => format!("full: all {} trainings", units.len()),
        Rerun::Audit { .. } => format!(
            "audit: {} of {} trainings, picked by the grader's secret seed ({:.0} % chance to catch one fabricated)",
            picked.len(),
            units.len(),
            100.0 * caught_if_one_fabricated
        ),
    };
    let (reproduced, verdict_sentence) = certificate::Certificate::verdict(&checks);
    let certificate = certificate::Certificate {
        verdict: verdict_sentence,
        reproduced: reproduced && verdict.passed(),
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
        tolerance_reason: tolerance_reason.clone(),
        rerun,
        audited: audited.clone(),
        experiments: checks,
        outputs_checked: recorded_manifest.outputs.iter().map(|(f, h)| (f.clone(), h.clone())).collect(),
        rerendered,
    };
    for path in certificate.write(&options.certificate_dir, &Path::new(crate::PROJECT_DIR).join("templates/certificate.html"))? {
        eprintln!("certificate: {}", path.display());
    }
    differed.truncate(NAMED_DIFFERENCES);
    Ok(Outcome {
        verdict,
        differed,
        audited,
        units: units.len(),
        caught_if_one_fabricated: Some(caught_if_one_fabricated),
        recorded_class: recorded_class.to_owned(),
        rerun_class: here.class(),
        tolerance,
        tolerance_reason,
    })
}

/// The tolerance a comparison grants, and why: none on the same class of
/// CPU and device; across them the grader's `given` one, else twice the
/// largest replicate spread that the re-run measured (`suggested`), else
/// none.
fn tolerance_policy(other_machine: bool, given: Option<f64>, suggested: Option<&manifest::SuggestedTolerance>) -> (f64, String) {
    match (other_machine, given, suggested) {
        (false, _, _) => (0.0, "bit-identity: the same code, data, seed, precision, threads and CPU class".to_owned()),
        (true, Some(given), _) => (given, "given with --tolerance, the CPU classes differing".to_owned()),
        (true, None, Some(s)) => (s.tolerance, format!("the CPU classes differ; policy: {}", s.describe())),
        (true, None, None) => {
            (0.0, "the CPU classes differ, but the re-run measured no replicate spread: bit-identity required".to_owned())
        }
    }
}

/// What the checks that train nothing found sound.
pub struct Checked {
    /// The recorded result of each experiment checked, by id.
    pub recorded: BTreeMap<String, serde_json::Value>,
    pub profile: Profile,
    /// The units of training work of the experiments checked.
    pub units: Vec<audit::Unit>,
    /// The output files that a re-render reproduced byte for byte.
    pub rerendered: Vec<String>,
    /// The files of `code.zip` that matched the manifest's fingerprints,
    /// where the submission has one.
    pub code_zip_files: Option<usize>,
}

/// Every check that trains nothing, in seconds, for the run `manifest`
/// records in `out` (its experiments of `only`, or all), with data of
/// `data`: each result intact and the one recorded; each config and key
/// the one this code computes; each output as recorded, and identical to a
/// re-render of the results with the answers and templates of its
/// `code.zip` (of this checkout where it has none).
pub fn check_recorded(out: &Path, manifest: &manifest::Manifest, only: &[String], data: &Provenance) -> anyhow::Result<Checked> {
    let recorded = manifest.recorded_results(out, only)?;
    let profile = manifest.profile().with_context(|| manifest::Manifest::path(out).display().to_string())?;
    let plan = Plan::new(profile, manifest.seed, manifest.machine.precision.clone(), only)?;
    // What the manifest lists must be what the code would compute: every
    // experiment (of --only), each under the key its config gives now.
    for e in plan.experiments.iter().filter(|e| only.is_empty() || only.iter().any(|id| id == e.id())) {
        let record = manifest.experiments.iter().find(|r| r.id == e.id()).with_context(|| {
            format!(
                "{}: the manifest lists {} of the {} experiments and not this one; it was not written by `build-report`, or was edited",
                manifest::Manifest::path(out).display(),
                manifest.experiments.len(),
                plan.experiments.len()
            )
        })?;
        if record.key != plan.key_of(e.as_ref(), &data.fingerprint) || record.config != e.config() {
            bail!(
                "{}: the manifest's config of {} is not the one this code computes (key {}); \
                 it was made by other code or edited: re-run `build-report` with this code",
                manifest::Manifest::path(out).display(),
                e.id(),
                record.key
            );
        }
    }
    manifest.check_outputs(out)?;
    let ids: std::collections::BTreeSet<String> = recorded.keys().cloned().collect();
    let units = audit::units(&plan, &data.fingerprint, &ids);
    audit::check_kept(&units, out)?;
    // The report renders again with the submission's own answers, templates
    // and report.toml where it hands in its code, with this checkout's where not.
    let code_zip = match out.join("code.zip").exists() {
        true => Some(check_code_zip(out, manifest)?),
        false => None,
    };
    let handed_in = tempfile::tempdir()?;
    let project_dir = match &code_zip {
        Some(zip) => {
            zip.write_into(handed_in.path())?;
            handed_in.path()
        }
        None => Path::new(crate::PROJECT_DIR),
    };
    let rerendered = check_rendering(out, manifest, profile, data, project_dir)?;
    Ok(Checked { recorded, profile, units, rerendered, code_zip_files: code_zip.map(|zip| zip.matched) })
}

/// The most entries, bytes per entry, and bytes in all, read from a submitted `code.zip`.
const MAX_ZIP_ENTRIES: usize = 10_000;
const MAX_ZIP_ENTRY_BYTES: u64 = 16 << 20;
const MAX_ZIP_TOTAL_BYTES: u64 = 64 << 20;

/// The files of a `code.zip` that matched the manifest.
pub struct CodeZip {
    /// How many of them the manifest fingerprints.
    pub matched: usize,
    /// Every file, by path under `mnist-writeup/`.
    files: BTreeMap<String, Vec<u8>>,
}

impl CodeZip {
    /// Writes the files under `dir`: the project the report renders from.
    fn write_into(&self, dir: &Path) -> anyhow::Result<()> {
        for (relative, bytes) in &self.files {
            let path = dir.join(relative);
            std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
            std::fs::write(&path, bytes).with_context(|| format!("{}: cannot write", path.display()))?;
        }
        Ok(())
    }
}

/// Checks the submitted `code.zip` (as `package` writes it, under
/// `mnist-writeup/`) against the manifest: every source file that computed
/// a result hashes as recorded, and the answers, templates and report.toml
/// are the ones that rendered the report. Read in memory, never unpacked;
/// an entry that is a link, leaves its folder or exceeds the caps is
/// refused. Returns its files.
pub fn check_code_zip(out: &Path, manifest: &manifest::Manifest) -> anyhow::Result<CodeZip> {
    use std::io::Read;
    let path = out.join("code.zip");
    let bytes = manifest::read_submitted(out, "code.zip")?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).with_context(|| format!("{}: is not a readable zip archive", path.display()))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        bail!("{}: {} entries, more than the {MAX_ZIP_ENTRIES} a project's code has", path.display(), archive.len());
    }
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).with_context(|| format!("{}: entry {i} cannot be read", path.display()))?;
        let name = entry.name().to_owned();
        let inside = name.strip_prefix("mnist-writeup/").filter(|rest| manifest::inside(rest.trim_end_matches('/')) || rest.is_empty());
        let Some(relative) = inside else {
            bail!("{}: entry `{name}` is not under mnist-writeup/ or leaves it", path.display());
        };
        if entry.unix_mode().is_some_and(|mode| mode & 0o170000 == 0o120000) {
            bail!("{}: entry `{name}` is a symbolic link", path.display());
        }
        if entry.is_dir() {
            continue;
        }
        let relative = relative.to_owned();
        let mut content = Vec::new();
        entry
            .by_ref()
            .take(MAX_ZIP_ENTRY_BYTES + 1)
            .read_to_end(&mut content)
            .with_context(|| format!("{}: entry `{name}`", path.display()))?;
        if content.len() as u64 > MAX_ZIP_ENTRY_BYTES {
            bail!("{}: entry `{name}` is larger than {} MiB", path.display(), MAX_ZIP_ENTRY_BYTES >> 20);
        }
        total += content.len() as u64;
        if total > MAX_ZIP_TOTAL_BYTES {
            bail!("{}: unpacks to more than {} MiB; a project's code does not", path.display(), MAX_ZIP_TOTAL_BYTES >> 20);
        }
        files.insert(relative, content);
    }
    let mut matched = 0;
    let mut differ = Vec::new();
    let code: BTreeMap<&String, &String> = manifest.experiments.iter().flat_map(|r| r.code.iter()).collect();
    for (file, recorded) in code {
        match files.get(file.as_str()) {
            Some(text) if crate::code::hash_of_source(&String::from_utf8_lossy(text)) == *recorded => matched += 1,
            Some(_) => differ.push(format!("{file} (its code is not the one that computed the results)")),
            None => differ.push(format!("{file} (missing)")),
        }
    }
    for (file, recorded) in &manifest.report_sources {
        match files.get(file.as_str()) {
            Some(bytes) if crate::data::sha256_hex(bytes) == *recorded => matched += 1,
            Some(_) => differ.push(format!("{file} (not the one that rendered the report)")),
            None => differ.push(format!("{file} (missing)")),
        }
    }
    let rendering: Vec<&String> = files
        .keys()
        .filter(|f| (f.starts_with("answers/") || f.starts_with("templates/")) && !manifest.report_sources.contains_key(*f))
        .collect();
    differ.extend(rendering.iter().map(|f| format!("{f} (the report was not rendered with it)")));
    if !differ.is_empty() {
        bail!(
            "{}: the code handed in is not the code that made this report: {}",
            path.display(),
            differ.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(CodeZip { matched, files })
}

/// Renders the report again from the recorded results, with the answers,
/// templates and report.toml of this checkout, and compares each output
/// with the submitted file, byte for byte: a report edited by hand, or
/// rendered from other results or answers, differs. Returns the files
/// compared; fails naming the first difference.
fn check_rendering(
    out: &Path,
    recorded: &manifest::Manifest,
    profile: Profile,
    data: &Provenance,
    project_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let plan = Plan::new(profile, recorded.seed, recorded.machine.precision.clone(), &[])?;
    let entries = plan.cached(&data.fingerprint, &Cache::new(out.join("cache")))?;
    let results = plan.computed(entries)?;
    // What the front page says of the run comes from the results; only the
    // commit it was made at is the recorded one's (this checkout may be later).
    let run = manifest::RunInfo {
        commit: recorded.run.commit.clone(),
        dirty: recorded.run.dirty,
        date: recorded.run.date.clone(),
        ..manifest::RunInfo::new(&plan, &results, &recorded.machine, data, project_dir)
    };
    let described = serde_json::to_value(&recorded.run)?;
    let derived = serde_json::to_value(&run)?;
    if let Some(field) = derived.as_object().into_iter().flatten().find(|(k, v)| described.get(k.as_str()) != Some(*v)) {
        bail!(
            "{}: the manifest describes its run otherwise than its results do ({}: {} in the manifest, {} from the results); \
             it was edited: render again with `render`",
            manifest::Manifest::path(out).display(),
            field.0,
            described.get(field.0.as_str()).unwrap_or(&serde_json::Value::Null),
            field.1
        );
    }
    let sources = crate::report::sources(project_dir)?;
    let other_sources: Vec<&str> = sources
        .iter()
        .filter(|(file, hash)| recorded.report_sources.get(*file) != Some(*hash))
        .map(|(file, _)| file.as_str())
        .chain(recorded.report_sources.keys().filter(|f| !sources.contains_key(*f)).map(String::as_str))
        .collect();
    let scratch = tempfile::tempdir()?;
    let config = crate::report::ReportConfig::load(&project_dir.join("report.toml"))?;
    let outputs = crate::report::build(&crate::report::Inputs {
        results: &results,
        run: &run,
        report: &config,
        project_dir,
        out_dir: scratch.path(),
        stale: &BTreeMap::new(),
    })
    .context("re-rendering the report from the recorded results")?;
    let mut compared = Vec::new();
    for (file, rendered) in outputs.files() {
        let path = out.join(&file);
        let submitted = manifest::read_submitted(out, &file)
            .with_context(|| format!("{}: the report has this file, the submission not", path.display()))?;
        if submitted != rendered {
            let why = if other_sources.is_empty() {
                "the recorded results, answers and templates render it otherwise: it was edited after rendering, \
                 or not rendered again after a re-run (`render`)"
                    .to_owned()
            } else {
                format!(
                    "it was rendered from other answers or templates than these ({} differ from the manifest's); \
                     verify from the commit that made it ({})",
                    other_sources.join(", "),
                    recorded.run.commit
                )
            };
            bail!("{}: differs from a re-render of the recorded results{}: {why}", path.display(), first_difference(&submitted, rendered));
        }
        compared.push(file);
    }
    Ok(compared)
}

/// Where a text file first differs from its re-render: the line and both
/// versions of it, shortened; nothing for a binary file.
fn first_difference(submitted: &[u8], rendered: &[u8]) -> String {
    let (Ok(a), Ok(b)) = (std::str::from_utf8(submitted), std::str::from_utf8(rendered)) else { return String::new() };
    let Some((n, (x, y))) = a.lines().zip(b.lines()).enumerate().find(|(_, (x, y))| x != y) else {
        return format!(" (the same lines, {} against {} of them)", a.lines().count(), b.lines().count());
    };
    let at = x.char_indices().zip(y.chars()).find(|((_, c), d)| c != d).map_or(0, |((i, _), _)| i);
    let around = |line: &str| -> String {
        let start = (0..=at.saturating_sub(30)).rev().find(|i| line.is_char_boundary(*i)).unwrap_or(0);
        line[start..].chars().take(80).collect()
    };
    format!(" (line {}: submitted `{}`, re-rendered `{}`)", n + 1, around(x), around(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tolerance_is_granted_only_across_machines() {
        let spread = manifest::SuggestedTolerance { tolerance: 0.004, spread: 0.002, metric: "q3_cnn.test_accuracy_std".into() };
        assert_eq!(tolerance_policy(false, Some(0.5), Some(&spread)).0, 0.0, "one class: bit-identity, whatever is given");
        assert_eq!(tolerance_policy(true, Some(0.5), Some(&spread)).0, 0.5);
        let (tolerance, why) = tolerance_policy(true, None, Some(&spread));
        assert_eq!(tolerance, 0.004);
        assert!(why.contains("policy") && why.contains("q3_cnn.test_accuracy_std"), "{why}");
        assert_eq!(tolerance_policy(true, None, None).0, 0.0);
    }

    #[test]
    fn only_verified_and_tolerance_pass() {
        let passing: Vec<Verdict> =
            [Verdict::Verified, Verdict::Tolerance, Verdict::Mismatch, Verdict::Tampered, Verdict::Broken, Verdict::Unfinished]
                .into_iter()
                .filter(|v| v.passed())
                .collect();
        assert_eq!(passing, [Verdict::Verified, Verdict::Tolerance]);
        assert_eq!(serde_json::to_value(Verdict::Tampered).unwrap(), "tampered", "the table's word is the JSON's");
    }

    #[test]
    fn names_the_first_line_that_differs_from_the_re_render() {
        let rendered = "<html>\n<p>The CNN reaches 94.55 % on the test set.</p>\n</html>";
        let submitted = rendered.replace("94.55", "99.71");
        assert_eq!(
            first_difference(submitted.as_bytes(), rendered.as_bytes()),
            " (line 2: submitted `<p>The CNN reaches 99.71 % on the test set.</p>`, re-rendered `<p>The CNN reaches 94.55 % on the test set.</p>`)"
        );
        let long = format!("{}X{}", "a".repeat(200), "b".repeat(200));
        let said = first_difference(long.as_bytes(), long.replace('X', "Y").as_bytes());
        assert!(said.contains("aaaX") && said.len() < 220, "{said}");
        assert_eq!(first_difference(b"a\nb", b"a\nb\nc"), " (the same lines, 2 against 3 of them)");
        assert_eq!(first_difference(&[0xff, 0xfe], b"%PDF"), "");
    }
}
