//! mnist-writeup: runs every experiment of the MNIST neural-network
//! assignment from one seed and renders the written answers, with every
//! number from that run, into a PDF and a self-contained HTML report.

mod audit;
mod bench;
mod cache;
mod certificate;
mod checkpoint;
mod class;
mod code;
mod data;
mod experiment;
mod experiments;
mod figures;
mod findings;
mod git;
mod manifest;
mod merge;
mod models;
mod networks;
mod noise;
mod package;
mod precision;
mod preview;
mod profile;
mod recipe;
mod report;
mod runner;
mod seed;
mod shift;
mod stats;
mod study;
mod train;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tch::Device;

use cache::Cache;
use data::Mnist;
use manifest::{Machine, Manifest, RunInfo};
use precision::{CpuFeatures, PrecisionChoice};
use profile::Profile;
use report::ReportConfig;
use runner::{Cached, Mode, Plan};

/// Where `answers/`, `templates/` and `report.toml` are: the crate's root.
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
    /// Only these experiments (comma-separated ids; see `list`), or
    /// trainings of a study (ID/NAME): they are kept for a later `merge`
    #[arg(long, value_delimiter = ',', global = true)]
    only: Vec<String>,
    /// Re-run experiments even when their results are cached
    #[arg(long, global = true)]
    force: bool,
    /// libtorch's CPU threads (default: the number of cores)
    #[arg(long, global = true)]
    threads: Option<i32>,
    /// Where the networks train; `auto`: the first CUDA device where
    /// libtorch sees one, else the CPU
    #[arg(long, value_enum, default_value = "auto", global = true)]
    device: DeviceChoice,
    /// What the networks with a reduced-precision path (the CNNs, the
    /// 500-300 and the appendix's MLPs) compute in; `auto`: bfloat16 only
    /// where the hardware multiplies it natively (AVX512-BF16 or AMX-BF16,
    /// or a GPU where it measures faster)
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
    /// Render the reports from cached results only (the data are read for
    /// their fingerprint, which keys every result)
    Render,
    /// Serve the HTML report on 127.0.0.1 and render it again on every save
    /// of answers/, templates/ or report.toml; never trains: a stale result
    /// is shown with a banner that says why
    Preview {
        /// The port (0: a free one, printed)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The folder with answers/, templates/ and report.toml (default:
        /// this checkout)
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// List the experiments, their cache state and cost
    List {
        /// One JSON array (id, title, key, state, why, training images,
        /// seconds when last run, units: the jobs it splits into, and its
        /// trainings), to generate a job matrix from
        #[arg(long)]
        json: bool,
    },
    /// Gather the results and trainings that separate `run --only UNIT
    /// --out DIR` jobs computed into --out, refusing any computed from other
    /// inputs, assemble the studies from their trainings, then render as
    /// `build-report` would
    Merge {
        /// The jobs' output directories
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Re-run the experiments of out/manifest.json (or of each submission
    /// named, a class, into one table) in a scratch directory, with the
    /// recorded precision and threads, and compare every metric with the
    /// recorded one; --audit K re-trains only a sample
    Verify(Box<VerifyArgs>),
    /// Write out/submission/: report.pdf, report.html, manifest.json, the
    /// results, figures and trained weights it records, and code.zip (the
    /// committed code), and all of it as out/submission.zip;
    /// needs no data and trains nothing. Refuses while report.toml still has
    /// the template's placeholders, or what `verify` would reject untrained
    Package {
        /// Package although report.toml still has placeholders
        #[arg(long)]
        draft: bool,
    },
    /// Measure training throughput: the paths side by side, against the
    /// floors that the matmul peak and the memory bandwidth set, and with
    /// --peers against PyTorch eager in the same run
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

/// `verify`'s own flags.
#[derive(clap::Args)]
struct VerifyArgs {
    /// Submissions of a class: folders, or the zips that `package`
    /// writes, or folders of them; each is verified in a process of its
    /// own and the table written to --class-dir. None: the run in --out
    submissions: Vec<PathBuf>,
    /// Largest absolute difference accepted where the CPU class or
    /// device differs (default: twice the largest replicate standard
    /// deviation the re-run measures); one class needs bit-identity
    #[arg(long, allow_negative_numbers = true)]
    tolerance: Option<f64>,
    /// Train again only K trainings per submission, picked by a secret
    /// seed; every experiment is still evaluated again from the
    /// submitted weights
    #[arg(long, value_name = "K", conflicts_with = "full")]
    audit: Option<usize>,
    /// The grader's secret seed that picks the audited trainings
    /// (default: drawn once and kept in the class folder's audit-seed)
    #[arg(long, requires = "audit")]
    audit_seed: Option<u64>,
    /// Train everything again (the default without --audit)
    #[arg(long)]
    full: bool,
    /// A class's table (verification.csv and .html), certificates and
    /// scratch folders (default: OUT/class)
    #[arg(long)]
    class_dir: Option<PathBuf>,
    /// Stop verifying a submission after this many seconds; its row
    /// says so and the batch goes on
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Stop verifying a submission above this much resident memory
    #[arg(long, value_name = "MIB")]
    max_memory: Option<u64>,
    /// This job's share of the class, I/N (a job matrix, a Slurm array)
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Write the outcome as JSON here (for the class batch)
    #[arg(long, hide = true)]
    outcome: Option<PathBuf>,
    /// Write the certificate here (default: OUT/verify)
    #[arg(long, hide = true)]
    certificate_dir: Option<PathBuf>,
    /// Unpack this submission (a zip or a folder) into --out first (for
    /// the class batch: hostile bytes are read under its limits)
    #[arg(long, hide = true)]
    unpack: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

/// The shared flags (`Options`) each command reads. Every command accepts
/// them all, so that one set of flags serves a whole pipeline of commands
/// (a Slurm job, a workflow), but its help shows only these.
fn reads(command: &str) -> &'static [&'static str] {
    const ALL: &[&str] = &["profile", "seed", "out", "only", "force", "threads", "device", "precision", "data_dir"];
    match command {
        "package" => &["out"],
        "bench" => &["profile", "out", "threads", "device", "precision", "data_dir"],
        "list" => &["profile", "seed", "out", "only", "device", "precision", "data_dir"],
        "render" | "preview" => &["profile", "seed", "out", "device", "precision", "data_dir"],
        "merge" => &["profile", "seed", "out", "threads", "device", "precision", "data_dir"],
        "verify" => &["profile", "seed", "out", "only", "threads", "device", "precision", "data_dir"],
        _ => ALL,
    }
}

/// The help of `command` alone, with only the shared flags it reads
/// (clap would list every global flag under each command).
fn help_of(command: &str) -> Option<clap::Command> {
    let top = <Cli as clap::CommandFactory>::command();
    let mut sub = top.find_subcommand(command)?.clone().bin_name(format!("mnist-writeup {command}"));
    for arg in top.get_arguments().filter(|a| a.is_global_set() && reads(command).contains(&a.get_id().as_str())) {
        sub = sub.arg(arg.clone().global(false));
    }
    Some(sub)
}

/// Prints the help of the command that `args` ask it of (`CMD -h`, `CMD
/// --help`, `help CMD`), if they do.
fn print_command_help(args: &[String]) -> bool {
    let names: Vec<String> = <Cli as clap::CommandFactory>::command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
    let Some(at) = args.iter().skip(1).position(|a| names.contains(a) || a == "help").map(|i| i + 1) else { return false };
    let (command, long) = match args[at].as_str() {
        "help" => match args.get(at + 1) {
            Some(c) => (c.as_str(), true),
            None => return false,
        },
        c if args[at + 1..].iter().any(|a| a == "--help") => (c, true),
        c if args[at + 1..].iter().any(|a| a == "-h") => (c, false),
        _ => return false,
    };
    let Some(mut help) = help_of(command) else { return false };
    let text = if long { help.render_long_help() } else { help.render_help() };
    print!("{text}");
    true
}

fn main() -> ExitCode {
    if print_command_help(&std::env::args().collect::<Vec<_>>()) {
        return ExitCode::SUCCESS;
    }
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Flags given on the command line, not left at their defaults.
    let given = |name: &str| {
        let on_line = |m: &clap::ArgMatches| m.value_source(name) == Some(clap::parser::ValueSource::CommandLine);
        on_line(&matches) || matches.subcommand().is_some_and(|(_, sub)| on_line(sub))
    };
    let asked = verify::Asked {
        profile: given("profile").then_some(cli.options.profile),
        seed: given("seed").then_some(cli.options.seed),
        precision: match (given("precision"), cli.options.precision) {
            (true, PrecisionChoice::Float32) => Some(precision::Precision::Float32),
            (true, PrecisionChoice::BFloat16) => Some(precision::Precision::BFloat16),
            _ => None,
        },
    };
    match run(cli, &asked) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, asked: &verify::Asked) -> anyhow::Result<()> {
    let o = &cli.options;
    // `package` needs no data, no CPU detection and no plan.
    if let Command::Package { draft } = cli.command {
        writable_out(&o.out)?;
        for outputs in [o.out.clone(), o.out.join("figures"), o.out.join("typst")] {
            cache::sweep_stale_temp_files(&outputs);
        }
        for path in package::run(Path::new(PROJECT_DIR), &o.out, draft)? {
            println!("{}", path.display());
        }
        return Ok(());
    }
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
    if let Command::Verify(v) = &cli.command {
        let VerifyArgs { tolerance, submissions, class_dir, timeout, max_memory, shard, .. } = v.as_ref();
        if let Some(tolerance) = tolerance.filter(|t| !(*t >= 0.0 && t.is_finite())) {
            bail!("--tolerance {tolerance}: give a finite difference of 0 or more (0: bit-identical)");
        }
        if submissions.is_empty() && (class_dir.is_some() || timeout.is_some() || max_memory.is_some() || shard.is_some()) {
            bail!("--class-dir, --timeout, --max-memory and --shard are for a class: name its submissions (`verify subs/`)");
        }
        if timeout == &Some(0) || max_memory == &Some(0) {
            bail!("--timeout and --max-memory: give a limit above 0");
        }
        if let VerifyArgs { shard: Some(_), audit: Some(_), audit_seed: None, .. } = v.as_ref() {
            bail!("--shard with --audit: give every shard the same --audit-seed, or their samples and rows will not agree");
        }
    }
    let plan = Plan::new(o.profile, o.seed, chosen.clone(), &o.only)?;
    match cli.command {
        Command::BuildReport | Command::Run | Command::Render | Command::Package { .. } | Command::Merge { .. } | Command::Bench { .. } => {
            writable_out(&o.out)?
        }
        Command::List { .. } | Command::Verify(_) if o.out.exists() && !o.out.is_dir() => {
            bail!("--out {}: is not a directory; give the output directory of a run", o.out.display())
        }
        _ => {}
    }
    let cache = Cache::new(o.out.join("cache"));
    cache.sweep_stale_temp_files();
    for outputs in [o.out.clone(), o.out.join("figures"), o.out.join("typst")] {
        cache::sweep_stale_temp_files(&outputs);
    }
    // Each command loads what it uses: `package` needs no data.
    let data = || load_data(o.data_dir.as_deref());
    match cli.command {
        Command::Package { .. } => unreachable!("packaged above"),
        Command::List { json } => list(&plan, &cache, &data()?, device, json),
        Command::Merge { dirs } => {
            let data = data()?;
            let gathered = merge::gather(&plan, &data.provenance.fingerprint, &dirs, &cache)?;
            eprintln!(
                "merged {} results and {} trainings from {} directories",
                gathered.results.len(),
                gathered.trainings.len(),
                dirs.len()
            );
            let entries = plan.run(&data, &cache, device, Mode::Assemble)?;
            render(&plan, entries, &data, o)
        }
        Command::Bench { epochs, peers } => {
            let options = bench::Options { profile: o.profile, device, epochs, precision: &chosen, cpu: &cpu, peers, out: &o.out };
            bench::run(&data()?, &options)
        }
        Command::Verify(v) => {
            let VerifyArgs {
                submissions,
                tolerance,
                audit,
                audit_seed,
                class_dir,
                timeout,
                max_memory,
                shard,
                outcome,
                certificate_dir,
                unpack,
                ..
            } = *v;
            if !submissions.is_empty() {
                let class_dir = class_dir.unwrap_or_else(|| o.out.join("class"));
                let audit = audit.map(|k| class::audit_seed(&class_dir, audit_seed).map(|seed| (k, seed))).transpose()?;
                let verify_args = class_verify_args(o, tolerance, audit);
                // A row decided by another program or other flags is decided
                // again; the secret is not written, only a digest of it.
                let said: Vec<String> = verify_args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                let settings = format!("mnist-writeup {}: {}", env!("CARGO_PKG_VERSION"), said.join(" "));
                let settings = match audit {
                    Some((_, seed)) => settings.replace(&seed.to_string(), &data::sha256_hex(format!("audit seed {seed}").as_bytes())),
                    None => settings,
                };
                return verify_class(class::Options {
                    submissions,
                    settings,
                    verify_args,
                    dir: class_dir,
                    timeout: timeout.map(std::time::Duration::from_secs),
                    max_memory_mib: max_memory,
                    shard,
                });
            }
            let rerun = match audit {
                Some(trainings) => verify::Rerun::Audit {
                    trainings,
                    seed: audit_seed.unwrap_or_else(|| {
                        let seed = audit::draw_secret();
                        eprintln!("audit seed: {seed} (drawn; keep it from the student: who knows it knows which trainings are checked)");
                        seed
                    }),
                },
                None => verify::Rerun::Full,
            };
            let options = verify::Options {
                only: &o.only,
                asked,
                tolerance,
                rerun,
                certificate_dir: certificate_dir.unwrap_or_else(|| o.out.join("verify")),
            };
            let unpacked = match &unpack {
                Some(from) => class::prepare(from, &o.out),
                None => Ok(()),
            };
            let verified = match unpacked {
                Ok(()) => data().and_then(|data| verify::run(&o.out, &options, &data, device)),
                Err(e) => Ok(verify::Outcome::stopped(verify::Verdict::Broken, &e)),
            };
            let result = match (verified, &outcome) {
                (Ok(result), _) => result,
                (Err(e), Some(_)) => verify::Outcome::stopped(verify::Verdict::Broken, &e),
                (Err(e), None) => return Err(e),
            };
            if let Some(path) = &outcome {
                cache::write_atomic(path, serde_json::to_string_pretty(&result)?.as_bytes())?;
            }
            match result.verdict {
                verify::Verdict::Verified | verify::Verdict::Tolerance => Ok(()),
                verify::Verdict::Mismatch => bail!(
                    "{} differ from the recorded run by more than {:.1e}: {}",
                    if result.differed.len() == 1 { "a metric or weights" } else { "metrics or weights" },
                    result.tolerance,
                    result.differed.join("; ")
                ),
                _ => bail!("{}", result.differed.join("; ")),
            }
        }
        Command::Run => plan.run(&data()?, &cache, device, Mode::Train { force: o.force }).map(|_| ()),
        Command::BuildReport => {
            let data = data()?;
            let entries = plan.run(&data, &cache, device, Mode::Train { force: o.force })?;
            let ran: BTreeMap<String, f64> = entries.iter().map(|(id, entry)| (id.clone(), entry.wall_seconds)).collect();
            render(&plan, entries, &data, o)?;
            for line in bench::beside_projection(&plan, &ran, &o.out, device) {
                eprintln!("{line}");
            }
            Ok(())
        }
        Command::Preview { port, project } => {
            let project_dir = project.unwrap_or_else(|| PathBuf::from(PROJECT_DIR));
            for needed in ["answers", "templates", "report.toml"] {
                if !project_dir.join(needed).exists() {
                    bail!(
                        "--project {}: has no {needed}; give the folder with answers/, templates/ and report.toml",
                        project_dir.display()
                    );
                }
            }
            let refresh = format!("cargo run --release -- build-report{}", refresh_flags(o));
            preview::run(&plan, &data()?, &preview::Options { port, project_dir: &project_dir, out_dir: &o.out, refresh })
        }
        Command::Render => {
            // The data's fingerprint is part of every result's key.
            let data = data()?;
            let entries = plan.cached(&data.provenance.fingerprint, &cache)?;
            render(&plan, entries, &data, o)
        }
    }
}

/// The flags of `o` that differ from their defaults, as `build-report`
/// takes them: what refreshes the results a preview shows.
fn refresh_flags(o: &Options) -> String {
    let mut flags = String::new();
    let name = |v: Option<clap::builder::PossibleValue>| v.map_or(String::new(), |v| v.get_name().to_owned());
    if o.profile != Profile::Full {
        flags += &format!(" --profile {}", o.profile.name());
    }
    if o.seed != seed::DEFAULT_SEED {
        flags += &format!(" --seed {}", o.seed);
    }
    if !matches!(o.precision, PrecisionChoice::Auto) {
        flags += &format!(" --precision {}", name(o.precision.to_possible_value()));
    }
    if o.out != Path::new("out") {
        flags += &format!(" --out {}", o.out.display());
    }
    if let Some(dir) = &o.data_dir {
        flags += &format!(" --data-dir {}", dir.display());
    }
    flags
}

/// `I/N`, the I-th of N shards, counted from 1.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
    match parsed {
        Some((i, n)) if (1..=n).contains(&i) => Ok((i, n)),
        _ => Err(format!("`{text}`: give I/N with 1 <= I <= N, e.g. 2/8")),
    }
}

/// The flags each submission's own `verify` gets from the grader's command.
fn class_verify_args(o: &Options, tolerance: Option<f64>, audit: Option<(usize, u64)>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut flag = |name: &str, value: String| args.extend([name.into(), value.into()]);
    if let Some(t) = tolerance {
        flag("--tolerance", t.to_string());
    }
    if let Some((k, seed)) = audit {
        flag("--audit", k.to_string());
        flag("--audit-seed", seed.to_string());
    }
    if !o.only.is_empty() {
        flag("--only", o.only.join(","));
    }
    if let Some(threads) = o.threads {
        flag("--threads", threads.to_string());
    }
    flag("--device", o.device.to_possible_value().map_or("auto".into(), |v| v.get_name().to_owned()));
    if let Some(dir) = &o.data_dir {
        args.extend(["--data-dir".into(), dir.clone().into_os_string()]);
    }
    args
}

/// Verifies a class and prints its table; fails, after the table, where a
/// submission was not verified.
fn verify_class(options: class::Options) -> anyhow::Result<()> {
    let rows = class::run(&options)?;
    println!("{:<24} {:<11} {:<40} {:<28}  what differed", "submission", "verdict", "trainings re-run", "CPU class recorded / here");
    for row in &rows {
        let classes = format!("{} / {}", row.outcome.recorded_class, row.outcome.rerun_class);
        let differed = row.outcome.differed.first().map_or("", String::as_str);
        let differed: String = differed.chars().take(160).collect();
        println!("{:<24} {:<11} {:<40} {classes:<28}  {differed}", row.submission, row.outcome.verdict.name(), row.trainings());
    }
    eprintln!("table: {} and verification.html", options.dir.join("verification.csv").display());
    if options.dir.join("audit-seed").exists() {
        eprintln!(
            "audit seed: drawn and kept in {}; keep it from the students: who knows it knows which trainings are checked",
            options.dir.join("audit-seed").display()
        );
    }
    let failed = rows.iter().filter(|r| !r.outcome.verdict.passed()).count();
    if failed > 0 {
        bail!("{failed} of {} submissions were not verified; see the table", rows.len());
    }
    Ok(())
}

fn load_data(dir: Option<&Path>) -> anyhow::Result<Mnist> {
    Ok(match dir {
        None => Mnist::load_embedded()?,
        Some(dir) => Mnist::load(dir, false)?,
    })
}

/// One experiment as `list` shows it.
#[derive(serde::Serialize)]
struct Listed {
    id: &'static str,
    title: &'static str,
    key: String,
    /// `cached`, `to run`, `stale` or `broken`.
    state: &'static str,
    why: Option<String>,
    training_images: u64,
    seconds_when_last_run: Option<f64>,
    /// The jobs it splits into: the trainings it is the first to declare
    /// (`ID/NAME`), else itself.
    units: Vec<String>,
    /// Every training it needs, those that other experiments share included.
    trainings: Vec<ListedTraining>,
}

/// One training as `list` shows it.
#[derive(serde::Serialize, Clone)]
struct ListedTraining {
    /// `ID/NAME`, ID the first experiment of the plan to declare it.
    id: String,
    name: String,
    /// `kept` or `to run`.
    state: &'static str,
    epochs: usize,
    /// Every experiment that declares it, which it serves.
    used_by: Vec<&'static str>,
}

/// Each experiment, whether its result is cached, why not (as `dvc status`
/// names a stage's changed dependencies), and what running it costs; as
/// text, or as JSON for a job matrix.
fn list(plan: &Plan, cache: &Cache, data: &Mnist, device: Device, json: bool) -> anyhow::Result<()> {
    let fingerprint = &data.provenance.fingerprint;
    let mut users: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for e in &plan.experiments {
        for (unit, _) in plan.trainings_of(e.as_ref(), fingerprint) {
            users.entry(unit.name).or_default().push(e.id());
        }
    }
    let mut listed = Vec::new();
    for e in &plan.experiments {
        let key = plan.inputs_of(e.as_ref(), fingerprint).key();
        let (state, why, seconds) = match plan.state_of(e.as_ref(), fingerprint, cache) {
            Cached::Current(entry) => ("cached", None, Some(entry.wall_seconds)),
            Cached::Missing => ("to run", Some("not run yet".to_owned()), None),
            Cached::Stale { earlier, why } => ("stale", Some(why), earlier.map(|old| old.wall_seconds)),
            Cached::Broken(why) => ("broken", Some(why), None),
        };
        let declared = plan.trainings_of(e.as_ref(), fingerprint);
        let named: Vec<(String, cache::KeyInputs)> = declared.iter().map(|(unit, inputs)| (unit.name.clone(), inputs.clone())).collect();
        let store = cache.trainings(&named, true, None, cache::Machine::here(device));
        let trainings: Vec<ListedTraining> = declared
            .iter()
            .map(|(t, _)| {
                let used_by = users[&t.name].clone();
                ListedTraining {
                    id: format!("{}/{}", used_by[0], t.name),
                    name: t.name.clone(),
                    state: if store.has(&t.name) { "kept" } else { "to run" },
                    epochs: t.epochs,
                    used_by,
                }
            })
            .collect();
        let own: Vec<String> = trainings.iter().filter(|t| t.used_by[0] == e.id()).map(|t| t.id.clone()).collect();
        let units = if trainings.is_empty() { vec![e.id().to_owned()] } else { own };
        listed.push(Listed {
            id: e.id(),
            title: e.title(),
            key,
            state,
            why,
            training_images: e.training_images(),
            seconds_when_last_run: seconds,
            units,
            trainings,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    println!("{:<24} {:<8} {:>16}  title", "id", "cache", "training images");
    for l in &listed {
        println!("{:<24} {:<8} {:>16}  {}", l.id, l.state, l.training_images, l.title);
        match (&l.why, l.state, l.seconds_when_last_run) {
            (Some(why), "stale", Some(seconds)) => println!("{:<24} {why}; {seconds:.0} s when last run", ""),
            (Some(why), _, _) => println!("{:<24} {why}", ""),
            _ => {}
        }
        if l.state != "cached" && !l.trainings.is_empty() {
            let kept = l.trainings.iter().filter(|t| t.state == "kept").count();
            println!("{:<24} {kept} of its {} trainings kept (jobs of their own: ID/NAME, below)", "", l.trainings.len());
        }
    }
    // Each training once, with every experiment it serves.
    let mut seen = std::collections::BTreeSet::new();
    let trainings: Vec<&ListedTraining> = listed.iter().flat_map(|l| &l.trainings).filter(|t| seen.insert(t.name.clone())).collect();
    let heading = "training (a job: run --only ID/NAME)";
    let width = trainings.iter().map(|t| t.id.len()).chain([heading.len()]).max().unwrap_or(0);
    if !trainings.is_empty() {
        println!("\n{heading:<width$} {:<7} {:>6}  used by", "state", "epochs");
        for t in trainings {
            println!("{:<width$} {:<7} {:>6}  {}", t.id, t.state, t.epochs, t.used_by.join(", "));
        }
    }
    Ok(())
}

/// Renders the report of `entries` (every experiment's), then the manifest.
fn render(plan: &Plan, entries: BTreeMap<String, cache::Entry>, data: &Mnist, o: &Options) -> anyhow::Result<()> {
    let results = plan.computed(entries)?;
    let project_dir = Path::new(PROJECT_DIR);
    let report_config = ReportConfig::load(&project_dir.join("report.toml"))?;
    let report_sources = report::sources(project_dir)?;
    let machine = Machine::current(&plan.precision);
    let run = RunInfo::new(plan, &results, &machine, &data.provenance, project_dir);
    let start = std::time::Instant::now();
    let inputs =
        report::Inputs { results: &results, run: &run, report: &report_config, project_dir, out_dir: &o.out, stale: &BTreeMap::new() };
    let outputs = report::build(&inputs).context("rendering the report")?;
    eprintln!("rendered {} pages and {} figures in {:.2} s", outputs.pages, outputs.figures.len(), start.elapsed().as_secs_f64());
    for value in &outputs.untraced {
        eprintln!(
            "warning: {value} prints a number that is not traced to one field of the results (it is computed in the template, or read through a macro, an include or a filtered loop); compute it in Rust (src/findings/) or read it from its field, so that the report can show its source"
        );
    }
    let files = outputs.write(&o.out)?;
    let cache = Cache::new(o.out.join("cache"));
    let manifest = Manifest::new(&run, machine, &data.provenance, &results, &cache, &o.out, &files)?;
    Manifest { report_sources, ..manifest }.write(&o.out)?;
    println!("{}", o.out.join("report.pdf").display());
    println!("{}", o.out.join("report.html").display());
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
