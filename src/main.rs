//! mnist-writeup: runs every experiment of the MNIST neural-network
//! assignment from one seed and renders the written answers, with every
//! number from that run, into a PDF and a self-contained HTML report.

mod bench;
mod cache;
mod certificate;
mod code;
mod data;
mod experiments;
mod figures;
mod manifest;
mod models;
mod noise;
mod package;
mod precision;
mod profile;
mod report;
mod runner;
mod recipe;
mod seed;
mod shift;
mod stats;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tch::Device;

use cache::Cache;
use data::Mnist;
use precision::{Chosen, CpuFeatures, PrecisionChoice};
use profile::Profile;
use report::{ReportConfig, RunInfo};
use runner::Plan;

const PROJECT_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    options: Options,
}

#[derive(clap::Args)]
struct Options {
    /// `full`: the assignment's exact settings; `quick`: all data, fewer
    /// epochs; `smoke`: a small subset, seconds
    #[arg(long, value_enum, default_value = "full", global = true)]
    profile: Profile,
    /// Master seed; every other seed derives from it
    #[arg(long, default_value_t = seed::DEFAULT_SEED, global = true)]
    seed: u64,
    /// Output directory (cache, figures, reports)
    #[arg(long, default_value = "out", global = true)]
    out: PathBuf,
    /// Only these experiments (comma-separated ids; see `list`)
    #[arg(long, value_delimiter = ',', global = true)]
    only: Vec<String>,
    /// Re-run experiments even when their results are cached
    #[arg(long, global = true)]
    force: bool,
    /// libtorch's CPU threads (default: the number of cores)
    #[arg(long, global = true)]
    threads: Option<i32>,
    #[arg(long, value_enum, default_value = "auto", global = true)]
    device: DeviceChoice,
    /// What the networks with a reduced-precision path (the CNNs) compute
    /// in; `auto`: bfloat16 only where the hardware multiplies it natively
    /// (AVX512-BF16 or AMX-BF16, or a GPU where it measures faster)
    #[arg(long, value_enum, default_value = "auto", global = true)]
    precision: PrecisionChoice,
    /// A directory with the four standard MNIST IDX files (.gz or raw) to
    /// use instead of the embedded MNIST; their checksums are recorded, not enforced
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run what is not cached, then render out/report.pdf and out/report.html
    BuildReport,
    /// Run the experiments only
    Run,
    /// Render the reports from cached results only
    Render,
    /// List the experiments, their cache state and cost
    List,
    /// Re-run the experiments of out/manifest.json in a scratch directory,
    /// with the recorded precision and threads, and compare every metric
    /// with the recorded one
    Verify {
        /// Largest absolute difference accepted (0: bit-identical)
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        tolerance: f64,
    },
    /// Write out/submission/: report.pdf, report.html, manifest.json and code.zip
    Package,
    /// Measure training throughput: the paths side by side, against the
    /// matmul peak, and with --peers against PyTorch eager in the same run
    Bench {
        /// Epochs per measured path
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Also run the plain PyTorch eager peer (scripts/peer.py, with the
        /// venv of scripts/setup.sh) on the same data and print the ratios
        #[arg(long)]
        peers: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let o = &cli.options;
    let threads = o.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
    if threads < 1 {
        bail!("--threads must be at least 1");
    }
    tch::set_num_threads(threads);
    let device = match o.device {
        DeviceChoice::Auto => Device::cuda_if_available(),
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Cuda if tch::Cuda::is_available() => Device::Cuda(0),
        DeviceChoice::Cuda => bail!("--device cuda: libtorch sees no CUDA device; use --device cpu or auto"),
    };
    let cpu = CpuFeatures::detect();
    let chosen = precision::choose(o.precision, device, &cpu, || precision::cuda_bf16_probe(device));
    if let Command::Verify { tolerance } = &cli.command {
        if !(*tolerance >= 0.0 && tolerance.is_finite()) {
            bail!("--tolerance {tolerance}: give a finite difference of 0 or more (0: bit-identical)");
        }
    }
    let plan = Plan::new(o.profile, o.seed, chosen.clone(), &o.only)?;
    match cli.command {
        Command::BuildReport | Command::Run | Command::Render | Command::Package => writable_out(&o.out)?,
        Command::List | Command::Verify { .. } if o.out.exists() && !o.out.is_dir() => {
            bail!("--out {}: is not a directory; give the output directory of a run", o.out.display())
        }
        _ => {}
    }
    let cache = Cache::new(o.out.join("cache"));
    cache.sweep_stale_temp_files();
    let data = load_data(o.data_dir.as_deref())?;
    match cli.command {
        Command::List => list(&plan, &cache, &data),
        Command::Bench { epochs, peers } => {
            bench::run(&data, &bench::Options { profile: o.profile, device, epochs, precision: &chosen, cpu: &cpu, peers })
        }
        Command::Verify { tolerance } => verify(o, &data, device, tolerance),
        Command::Package => {
            for path in package::run(Path::new(PROJECT_DIR), &o.out)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Run => plan.run(&data, &cache, device, o.force).map(|_| ()),
        Command::BuildReport => {
            let entries = plan.run(&data, &cache, device, o.force)?;
            render(&plan, &entries, &data, o)
        }
        Command::Render => {
            let entries = plan.cached(&data.provenance.fingerprint, &cache)?;
            render(&plan, &entries, &data, o)
        }
    }
}

fn load_data(dir: Option<&Path>) -> anyhow::Result<Mnist> {
    Ok(match dir {
        None => Mnist::load_embedded()?,
        Some(dir) => Mnist::load(dir, false)?,
    })
}

/// Each experiment, whether its result is cached, why not (as `dvc status`
/// names a stage's changed dependencies), and what running it costs.
fn list(plan: &Plan, cache: &Cache, data: &Mnist) -> anyhow::Result<()> {
    println!("{:<24} {:<8} {:>16}  {}", "id", "cache", "training images", "title");
    for e in &plan.experiments {
        let inputs = plan.inputs_of(e.as_ref(), &data.provenance.fingerprint);
        let (state, why) = match cache.load(e.id(), &inputs.key()) {
            Ok(Some(_)) => ("cached", None),
            Ok(None) => match cache.earlier(e.id()) {
                cache::Earlier::Nothing => ("to run", Some("not run yet".to_owned())),
                cache::Earlier::OtherFormat(path) => {
                    ("stale", Some(format!("{}: written by an older version of mnist-writeup (or broken)", path.display())))
                }
                cache::Earlier::Entry(old) => {
                    let reasons = inputs.differences(&old.inputs);
                    let was = format!("{:.0} s when last run", old.wall_seconds);
                    ("stale", Some(format!("{}; {was}", if reasons.is_empty() { "other key".into() } else { reasons.join("; ") })))
                }
            },
            Err(err) => ("broken", Some(format!("{err:#}"))),
        };
        println!("{:<24} {state:<8} {:>16}  {}", e.id(), e.training_images(), e.title());
        if let Some(why) = why {
            println!("{:<24} {}", "", why);
        }
    }
    Ok(())
}

fn render(
    plan: &Plan,
    entries: &std::collections::BTreeMap<String, cache::Entry>,
    data: &Mnist,
    o: &Options,
) -> anyhow::Result<()> {
    plan.check_complete(entries)?;
    let project_dir = Path::new(PROJECT_DIR);
    let report_config = ReportConfig::load(&project_dir.join("report.toml"))?;
    let (commit, dirty, date) = git_state(project_dir);
    let machine = manifest::Machine::current(&plan.precision);
    let run = RunInfo {
        profile: plan.profile.name().into(),
        full: plan.profile == Profile::Full,
        seed: plan.master_seed,
        commit,
        dirty,
        date,
        device: distinct(entries.values().map(|e| e.device.clone())),
        threads: threads_summary(entries),
        precision: precision_summary(entries),
        precision_reason: plan.precision.reason.clone(),
        cpu_class: machine.cpu_class.clone(),
        data_official: data.provenance.official,
        data_fingerprint: data.provenance.fingerprint.clone(),
        program_version: env!("CARGO_PKG_VERSION").into(),
    };
    let start = std::time::Instant::now();
    let outputs = report::build(&report::Inputs {
        plan,
        entries,
        run: &run,
        report: &report_config,
        project_dir,
        out_dir: &o.out,
    })
    .context("rendering the report")?;
    eprintln!("rendered {} pages and {} figures in {:.2} s", outputs.pages, outputs.figures.len(), start.elapsed().as_secs_f64());
    let files = outputs.write(&o.out)?;
    let cache = Cache::new(o.out.join("cache"));
    manifest::Manifest::new(&run, machine, &data.provenance, entries, &cache, &o.out, &files)?.write(&o.out)?;
    println!("{}", o.out.join("report.pdf").display());
    println!("{}", o.out.join("report.html").display());
    Ok(())
}

fn verify(o: &Options, data: &Mnist, device: Device, tolerance: f64) -> anyhow::Result<()> {
    let recorded_manifest = manifest::Manifest::read(&o.out)?;
    let recorded = recorded_manifest.recorded_results(&o.out, &o.only)?;
    if data.provenance.fingerprint != recorded_manifest.data.fingerprint {
        bail!(
            "the data differ from the recorded run's (fingerprint {}); pass the --data-dir it used ({})",
            recorded_manifest.data.fingerprint,
            recorded_manifest.data.dir.display()
        );
    }
    let profile = <Profile as ValueEnum>::from_str(&recorded_manifest.profile, true)
        .map_err(|e| anyhow::anyhow!("manifest profile `{}`: {e}", recorded_manifest.profile))?;
    let records: Vec<_> = recorded_manifest.experiments.iter().filter(|r| recorded.contains_key(&r.id)).collect();
    // The numbers came from the experiments' own thread count, which a
    // later `render --threads` does not change.
    let threads = records.first().map_or_else(tch::get_num_threads, |r| r.threads);
    tch::set_num_threads(threads);
    let machine = &recorded_manifest.machine;
    let precision = Chosen {
        reason: format!("the recorded run's ({})", machine.precision.reason),
        ..machine.precision.clone()
    };
    let here = CpuFeatures::detect();
    if precision.precision == precision::Precision::BFloat16 && device == Device::Cpu && !here.native_bf16() {
        eprintln!(
            "note: the recorded run computed in bfloat16, which this CPU ({}) emulates: the CNN experiments will re-run many times slower than in float32",
            here.class()
        );
    }
    let plan = Plan::new(profile, recorded_manifest.seed, precision, &o.only)?;
    // What the manifest lists must be what the code would compute: every
    // experiment (of --only), each under the key its config gives now.
    for e in plan.experiments.iter().filter(|e| o.only.is_empty() || o.only.iter().any(|id| id == e.id())) {
        let record = recorded_manifest.experiments.iter().find(|r| r.id == e.id()).with_context(|| {
            format!(
                "{}: the manifest lists {} of the {} experiments and not this one; it was not written by `build-report`, or was edited",
                manifest::Manifest::path(&o.out).display(),
                recorded_manifest.experiments.len(),
                plan.experiments.len()
            )
        })?;
        if record.key != plan.key_of(e.as_ref(), &data.provenance.fingerprint) || record.config != e.config() {
            bail!(
                "{}: the manifest's config of {} is not the one this code computes (key {}); \
                 it was made by other code or edited: re-run `build-report` with this code",
                manifest::Manifest::path(&o.out).display(),
                e.id(),
                record.key
            );
        }
    }
    recorded_manifest.check_outputs(&o.out)?;
    let scratch = tempfile::tempdir()?;
    eprintln!(
        "re-running in {} (profile {}, seed {}, {threads} threads, {})",
        scratch.path().display(),
        profile.name(),
        recorded_manifest.seed,
        plan.precision.precision.name()
    );
    let reruns = plan.run(data, &Cache::new(scratch.path()), device, true)?;
    let here_device = format!("{device:?}").to_lowercase();
    for r in &records {
        if r.threads != threads || r.device != here_device {
            eprintln!("note: {} ran on {} with {} threads, the re-run on {here_device} with {threads}: expect small differences", r.id, r.device, r.threads);
        }
    }
    let suggested = manifest::suggested_tolerance(&recorded);
    let other_class = machine.cpu_class != here.class();
    if other_class {
        let suggestion = suggested.as_ref().map_or(String::new(), |s| format!(" (suggested: --tolerance {})", s.describe()));
        println!(
            "recorded on {}, re-run on {}: bit-identity is not expected; --tolerance applies{suggestion}",
            machine.cpu_class,
            here.class()
        );
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
        let bad: Vec<_> = comparisons.iter().filter(|c| !(c.difference() <= tolerance)).collect();
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
        date: today(),
        program_version: env!("CARGO_PKG_VERSION").into(),
        commit: recorded_manifest.run.commit.clone(),
        profile: recorded_manifest.profile.clone(),
        seed: recorded_manifest.seed,
        recorded_on: certificate::Machine {
            cpu_model: machine.cpu_model.clone(),
            cpu_class: machine.cpu_class.clone(),
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
    for path in certificate.write(&o.out, &Path::new(PROJECT_DIR).join("templates/certificate.html"))? {
        eprintln!("certificate: {}", path.display());
    }
    if failed {
        let hint = match &suggested {
            Some(s) if other_class && tolerance < s.tolerance => format!("; across CPU classes, --tolerance {} is a fair bar", s.describe()),
            _ => String::new(),
        };
        bail!("some metrics differ from the recorded run by more than {tolerance}{hint}");
    }
    Ok(())
}

/// Creates `out` if needed and checks that files can be written there,
/// before any work starts: a bad --out must not cost a training run.
fn writable_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        bail!("--out {}: is not a directory; give a directory (it is created if missing)", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("--out {}: cannot be created", out.display()))?;
    tempfile::tempfile_in(out).with_context(|| format!("--out {}: cannot be written to; give a writable directory", out.display()))?;
    Ok(())
}

/// The values, each once, in order: "cpu", or "cpu and cuda".
fn distinct(values: impl Iterator<Item = String>) -> String {
    let set: std::collections::BTreeSet<String> = values.collect();
    set.into_iter().collect::<Vec<_>>().join(" and ")
}

/// The thread counts the experiments' numbers came from (a later `render
/// --threads` changes nothing they say): "1 thread", "1 and 2 threads".
fn threads_summary(entries: &std::collections::BTreeMap<String, cache::Entry>) -> String {
    let counts: std::collections::BTreeSet<i32> = entries.values().map(|e| e.threads).collect();
    let plural = if counts.len() == 1 && counts.contains(&1) { "thread" } else { "threads" };
    let counts: Vec<String> = counts.iter().map(i32::to_string).collect();
    format!("{} {plural}", counts.join(" and "))
}

/// What the experiments computed in: one precision, or each precision with
/// the experiments that used it.
fn precision_summary(entries: &std::collections::BTreeMap<String, cache::Entry>) -> String {
    let mut by_precision: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for e in entries.values() {
        by_precision.entry(e.inputs.precision.name()).or_default().push(&e.inputs.id);
    }
    match by_precision.len() {
        0 | 1 => by_precision.keys().next().copied().unwrap_or("float32").to_owned(),
        _ => by_precision.iter().map(|(p, ids)| format!("{p} ({})", ids.join(", "))).collect::<Vec<_>>().join("; "),
    }
}

/// Short commit, whether the tree has changes, and the commit's date
/// (YYYY-MM-DD), so that the same commit gives the same front page. Outside
/// git: "unknown", and today's date.
fn git_state(dir: &Path) -> (String, bool, String) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let date = git(&["log", "-1", "--format=%cs"]).unwrap_or_else(today);
    (commit.unwrap_or_else(|| "unknown".into()), dirty, date)
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}
