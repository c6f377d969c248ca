//! `verify` over a class: finds the submissions (folders, or the zips that
//! `package` writes, or folders of either), copies or unpacks each into a
//! scratch folder of its own inside the class folder (no path may leave it,
//! no link is followed, sizes and counts are capped), verifies each in a
//! process of its own under the batch's time and memory limits, keeps each
//! row as it is decided (a rerun of the same command skips the rows already
//! decided), and writes the class table as CSV and HTML beside the
//! certificates.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::write_atomic;
use crate::verify::{Outcome, Verdict};

/// The most a zip handed in may weigh, hold, and unpack to.
const MAX_ZIP_BYTES: u64 = 2 << 30;
const MAX_FILES: usize = 20_000;
const MAX_UNPACKED_BYTES: u64 = 4 << 30;

/// The class folder's folder of rows, one per submission.
const ROWS: &str = "rows";

/// What the batch does with each submission.
pub struct Options {
    pub submissions: Vec<PathBuf>,
    /// The class folder: a folder per submission, and the table.
    pub dir: PathBuf,
    /// The flags each submission's `verify` is given.
    pub verify_args: Vec<OsString>,
    /// What decides a row besides the submission (audit size, tolerance):
    /// a row decided otherwise is decided again.
    pub settings: String,
    pub timeout: Option<Duration>,
    pub max_memory_mib: Option<u64>,
    /// This job's share of the class: (index from 1, of how many).
    pub shard: Option<(usize, usize)>,
}

/// One submission as handed in.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Zip(PathBuf),
    Folder(PathBuf),
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::Zip(p) | Source::Folder(p) => p,
        }
    }
}

/// A submission and the name of its row and scratch folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub name: String,
    pub source: Source,
}

/// One row of the class table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub submission: String,
    pub source: String,
    /// SHA-256 of what was handed in: a changed submission is verified again.
    pub digest: String,
    pub settings: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub wall_seconds: f64,
    /// The certificate's HTML, relative to the class folder.
    pub certificate: Option<String>,
}

impl Row {
    fn of(submission: &Submission, digest: &str, settings: &str, outcome: Outcome, wall_seconds: f64, certificate: Option<String>) -> Row {
        Row {
            submission: submission.name.clone(),
            source: submission.source.path().display().to_string(),
            digest: digest.to_owned(),
            settings: settings.to_owned(),
            outcome,
            wall_seconds,
            certificate,
        }
    }

    /// The tolerance compared within; nothing where no metric was compared.
    pub fn tolerance(&self) -> String {
        if self.outcome.recorded_class.is_empty() { String::new() } else { format!("{}", self.outcome.tolerance) }
    }

    /// "3 of 23 (13 % to catch one fabricated)".
    pub fn trainings(&self) -> String {
        let o = &self.outcome;
        match o.caught_if_one_fabricated {
            Some(p) if o.units > 0 => format!("{} of {} ({:.0} % to catch one fabricated)", o.audited.len(), o.units, 100.0 * p),
            _ => String::new(),
        }
    }
}

/// The submissions that `paths` name: a zip, a folder with a manifest, or
/// a folder of zips and submission folders. Fails, before anything runs,
/// on a path that is none of these.
pub fn discover(paths: &[PathBuf]) -> anyhow::Result<Vec<Submission>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::symlink_metadata(path).with_context(|| format!("{}: no such submission", path.display()))?;
        if meta.is_file() && is_zip(path) {
            found.push(Source::Zip(path.clone()));
        } else if meta.is_dir() && path.join("manifest.json").exists() {
            found.push(Source::Folder(path.clone()));
        } else if meta.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("{}: cannot be read", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            inside.sort();
            let before = found.len();
            for p in inside {
                let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
                if meta.is_file() && is_zip(&p) {
                    found.push(Source::Zip(p));
                } else if meta.is_dir() {
                    found.push(Source::Folder(p));
                }
            }
            if found.len() == before {
                bail!("{}: holds no submission (no manifest.json, no zip, no folder)", path.display());
            }
        } else {
            bail!("{}: not a submission: give a folder or a .zip that `package` wrote, or a folder of them", path.display());
        }
    }
    let mut names = BTreeSet::new();
    Ok(found
        .into_iter()
        .map(|source| {
            let stem = source.path().file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let clean: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
            let clean = clean.trim_start_matches('.').to_owned();
            let base = if clean.is_empty() { "submission".to_owned() } else { clean };
            let name = (1..).map(|i| if i == 1 { base.clone() } else { format!("{base}-{i}") }).find(|n| !names.contains(n)).unwrap();
            names.insert(name.clone());
            Submission { name, source }
        })
        .collect())
}

fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Verifies every submission (those of this shard) that has no row decided
/// with these settings, writes the table, and returns the rows.
pub fn run(options: &Options) -> anyhow::Result<Vec<Row>> {
    let mut submissions = discover(&options.submissions)?;
    if let Some((index, of)) = options.shard {
        submissions = submissions.into_iter().enumerate().filter(|(i, _)| i % of == index - 1).map(|(_, s)| s).collect();
    }
    std::fs::create_dir_all(&options.dir).with_context(|| format!("{}: cannot create", options.dir.display()))?;
    let exe = std::env::current_exe().context("finding this program, to verify each submission in a process of its own")?;
    let bar = indicatif::ProgressBar::new(submissions.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("verify [{bar:30}] {pos}/{len} submissions, eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut rows = Vec::new();
    for submission in &submissions {
        bar.set_message(submission.name.clone());
        let folder = options.dir.join(ROWS).join(&submission.name);
        let digest = digest(&submission.source);
        let kept = digest.as_ref().ok().and_then(|d| decided(&folder, d, &options.settings));
        let row = match (kept, digest) {
            (Some(row), _) => {
                bar.suspend(|| eprintln!("{}: {} (decided before, kept)", submission.name, row.outcome.verdict.name()));
                row
            }
            (None, Err(e)) => Row::of(submission, "", &options.settings, Outcome::stopped(Verdict::Broken, &e), 0.0, None),
            (None, Ok(digest)) => {
                let row = verify_one(&exe, submission, &folder, &digest, options);
                bar.suspend(|| eprintln!("{}: {} in {:.0} s", submission.name, row.outcome.verdict.name(), row.wall_seconds));
                row
            }
        };
        if let Err(e) = write_atomic(&folder.join("row.json"), serde_json::to_string_pretty(&row)?.as_bytes()) {
            bar.suspend(|| eprintln!("warning: {e:#}; this row will be verified again next time"));
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_table(&options.dir, &rows)?;
    Ok(rows)
}

/// The row kept in `folder` if it was decided for this very submission
/// with these settings (a row stopped by a limit is tried again).
fn decided(folder: &Path, digest: &str, settings: &str) -> Option<Row> {
    let row: Row = serde_json::from_slice(&std::fs::read(folder.join("row.json")).ok()?).ok()?;
    (row.digest == digest && row.settings == settings && row.outcome.verdict != Verdict::Unfinished).then_some(row)
}

/// Unpacks or copies one submission into its folder, verifies it in a
/// process of its own, and makes its row; nothing it does fails the batch.
fn verify_one(exe: &Path, submission: &Submission, folder: &Path, digest: &str, options: &Options) -> Row {
    let start = Instant::now();
    let stopped = |verdict, e: &anyhow::Error| Row::of(submission, digest, &options.settings, Outcome::stopped(verdict, e), 0.0, None);
    let scratch = folder.join("submission");
    // The child unpacks: whatever a hostile zip does, it does under the limits.
    let tmp = folder.join("tmp");
    let prepared = std::fs::remove_dir_all(folder)
        .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
        .and_then(|()| std::fs::create_dir_all(&tmp))
        .with_context(|| format!("{}: cannot prepare", folder.display()));
    if let Err(e) = prepared {
        return stopped(Verdict::Broken, &e);
    }
    let outcome_path = folder.join("outcome.json");
    let log_path = folder.join("log.txt");
    let spawned = std::fs::File::create(&log_path).and_then(|log| {
        Command::new(exe)
            .arg("verify")
            .arg("--unpack")
            .arg(submission.source.path())
            .arg("--out")
            .arg(&scratch)
            .env("TMPDIR", &tmp)
            .arg("--outcome")
            .arg(&outcome_path)
            .arg("--certificate-dir")
            .arg(folder)
            .args(&options.verify_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return stopped(Verdict::Broken, &anyhow::Error::new(e).context("starting the verifier")),
    };
    let limit = watch(&mut child, options.timeout, options.max_memory_mib);
    let wall_seconds = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir_all(&tmp);
    let certificate = folder.join("certificate.html").exists().then(|| format!("{ROWS}/{}/certificate.html", submission.name));
    let outcome = match limit {
        Stopped::Limit(why) => Outcome::stopped(Verdict::Unfinished, &anyhow::anyhow!(why)),
        Stopped::Signal(signal) => Outcome::stopped(
            Verdict::Unfinished,
            &anyhow::anyhow!("killed by signal {signal} (by the system, out of memory, or by hand); run it again"),
        ),
        Stopped::Exited => {
            std::fs::read(&outcome_path).ok().and_then(|bytes| serde_json::from_slice::<Outcome>(&bytes).ok()).unwrap_or_else(|| {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned();
                Outcome::stopped(Verdict::Broken, &anyhow::anyhow!("the verifier stopped without a verdict: {last}"))
            })
        }
    };
    // Its paths inside the scratch folder are the submission's own.
    let scratch_prefix = format!("{}/", scratch.display());
    let outcome = Outcome { differed: outcome.differed.iter().map(|d| d.replace(&scratch_prefix, "")).collect(), ..outcome };
    Row::of(submission, digest, &options.settings, outcome, wall_seconds, certificate)
}

/// How a submission's verifier ended.
#[derive(Debug, PartialEq)]
enum Stopped {
    /// On its own, with an outcome or an error.
    Exited,
    /// Past one of the batch's limits, said.
    Limit(String),
    /// By a signal this batch did not send.
    Signal(i32),
}

/// Waits for `child`, killing it past `timeout` or above `max_memory_mib`
/// of resident memory.
fn watch(child: &mut std::process::Child, timeout: Option<Duration>, max_memory_mib: Option<u64>) -> Stopped {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.signal().map_or(Stopped::Exited, Stopped::Signal),
            Err(_) => return Stopped::Exited,
            Ok(None) => {}
        }
        let over_time = timeout.filter(|t| start.elapsed() > *t).map(|t| format!("stopped after {} s, its --timeout", t.as_secs()));
        let over_memory = max_memory_mib
            .filter(|max| resident_mib(child.id()).is_some_and(|used| used > *max))
            .map(|max| format!("stopped above {max} MiB of memory, its --max-memory"));
        if let Some(why) = over_time.or(over_memory) {
            let _ = child.kill();
            let _ = child.wait();
            return Stopped::Limit(why);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The resident memory of process `pid`, in MiB, where Linux says.
fn resident_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib / 1024)
}

/// SHA-256 of a zip's bytes, or of a folder's files and their paths.
fn digest(source: &Source) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    match source {
        Source::Zip(zip) => {
            let mut file = std::fs::File::open(zip).with_context(|| format!("{}: cannot be read", zip.display()))?;
            std::io::copy(&mut file, &mut hasher).with_context(|| format!("{}: cannot be read", zip.display()))?;
        }
        Source::Folder(dir) => {
            for (relative, path) in files_of(dir)? {
                hasher.update(relative.as_bytes());
                hasher.update([0]);
                let mut file = std::fs::File::open(&path).with_context(|| format!("{}: cannot be read", path.display()))?;
                std::io::copy(&mut file, &mut hasher).with_context(|| format!("{}: cannot be read", path.display()))?;
            }
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Every regular file under `dir`, by path relative to it, sorted; fails on
/// a symbolic link, or past the caps on files and bytes.
pub fn files_of(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut bytes = 0u64;
    let mut folders = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = folders.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("{}: cannot be read", folder.display()))? {
            let entry = entry?;
            let path = entry.path();
            let relative = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                bail!("{}: is a symbolic link; a submission holds files, not links", path.display());
            } else if meta.is_dir() {
                folders.push((format!("{relative}/"), path));
            } else if meta.is_file() {
                bytes += meta.len();
                found.push((relative, path));
            }
            if found.len() > MAX_FILES || bytes > MAX_UNPACKED_BYTES {
                bail!("{}: more than {MAX_FILES} files or {} GiB; no submission is", dir.display(), MAX_UNPACKED_BYTES >> 30);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Unpacks or copies the submission at `from` (a zip or a folder) into
/// `into`, which must not exist yet.
pub fn prepare(from: &Path, into: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(into).with_context(|| format!("{}: cannot create (it must not exist yet)", into.display()))?;
    let meta = std::fs::symlink_metadata(from).with_context(|| format!("{}: cannot be read", from.display()))?;
    if meta.is_file() { unpack(from, into) } else { copy_folder(from, into) }
}

fn copy_folder(from: &Path, to: &Path) -> anyhow::Result<()> {
    for (relative, path) in files_of(from)? {
        let target = to.join(&relative);
        std::fs::create_dir_all(target.parent().unwrap_or(to))?;
        std::fs::copy(&path, &target).with_context(|| format!("{}: cannot be copied", path.display()))?;
    }
    Ok(())
}

/// Unpacks the zip at `zip` into the empty folder `into`. Every entry's
/// name is checked before anything is written: one that is absolute, climbs
/// out with `..` or is a symbolic link refuses the whole zip. A zip holding
/// one folder with the submission in it is unpacked from that folder.
pub fn unpack(zip: &Path, into: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(zip).with_context(|| format!("{}: cannot be read", zip.display()))?;
    if file.metadata()?.len() > MAX_ZIP_BYTES {
        bail!("{}: larger than {} GiB; no submission is", zip.display(), MAX_ZIP_BYTES >> 30);
    }
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a readable zip archive (corrupt or truncated); ask for it again", zip.display()))?;
    if archive.len() > MAX_FILES {
        bail!("{}: {} entries, more than the {MAX_FILES} a submission has", zip.display(), archive.len());
    }
    let mut names = Vec::new();
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let entry =
            archive.by_index_raw(i).with_context(|| format!("{}: entry {i} cannot be read (corrupt or truncated)", zip.display()))?;
        let name = entry.name().to_owned();
        let plain = crate::manifest::inside(name.trim_end_matches('/'));
        let Some(relative) = entry.enclosed_name().map(Path::to_path_buf).filter(|p| plain && !p.as_os_str().is_empty()) else {
            bail!("{}: entry `{name}` leaves the submission's folder (an absolute path or `..`); refused, nothing unpacked", zip.display());
        };
        if entry.unix_mode().is_some_and(|mode| mode & 0o170000 == 0o120000) {
            bail!("{}: entry `{name}` is a symbolic link; refused, nothing unpacked", zip.display());
        }
        declared = declared.saturating_add(entry.size());
        names.push((relative, entry.is_dir()));
    }
    if declared > MAX_UNPACKED_BYTES {
        bail!("{}: unpacks to more than {} GiB; no submission does", zip.display(), MAX_UNPACKED_BYTES >> 30);
    }
    let top = one_top_folder(&names);
    let mut written = 0u64;
    for (i, (relative, is_dir)) in names.iter().enumerate() {
        let relative = top.as_ref().and_then(|t| relative.strip_prefix(t).ok()).unwrap_or(relative);
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = into.join(relative);
        if *is_dir {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap_or(into))?;
        let mut entry = archive.by_index(i).with_context(|| format!("{}: entry {} cannot be read", zip.display(), relative.display()))?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .with_context(|| format!("{}: cannot write", target.display()))?;
        let left = MAX_UNPACKED_BYTES - written;
        let mut limited = entry.by_ref().take(left + 1);
        let copied = std::io::copy(&mut limited, &mut out)
            .with_context(|| format!("{}: entry {} is corrupt or truncated", zip.display(), relative.display()))?;
        written += copied;
        if copied > left {
            bail!("{}: unpacks to more than {} GiB; no submission does", zip.display(), MAX_UNPACKED_BYTES >> 30);
        }
        out.flush()?;
    }
    Ok(())
}

/// The one folder every entry is under, where the zip has no manifest at its top.
fn one_top_folder(names: &[(PathBuf, bool)]) -> Option<PathBuf> {
    if names.iter().any(|(n, _)| n == Path::new("manifest.json")) {
        return None;
    }
    let first = names.first()?.0.components().next()?;
    let top = PathBuf::from(first.as_os_str());
    names.iter().all(|(n, _)| n.starts_with(&top) && (n != &top || names.len() > 1)).then_some(top)
}

/// The cells, each that a spreadsheet would read as a formula (`=`, `+`,
/// `-`, `@`, a tab or a return first) quoted with a `'`: a submission's
/// words never run in the grader's spreadsheet.
fn spreadsheet_safe<const N: usize>(cells: [String; N]) -> [String; N] {
    cells.map(|cell| if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell })
}

/// Writes `verification.csv` and `verification.html` into the class folder.
fn write_table(dir: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "submission",
        "verdict",
        "what differed",
        "trainings re-run",
        "chance to catch one fabricated training",
        "recorded CPU class",
        "re-run CPU class",
        "tolerance",
        "wall seconds",
        "certificate",
    ])?;
    for row in rows {
        csv.write_record(spreadsheet_safe([
            row.submission.clone(),
            row.outcome.verdict.name().to_owned(),
            row.outcome.differed.join("; "),
            if row.outcome.units > 0 { format!("{} of {}", row.outcome.audited.len(), row.outcome.units) } else { String::new() },
            row.outcome.caught_if_one_fabricated.map_or(String::new(), |p| format!("{p:.3}")),
            row.outcome.recorded_class.clone(),
            row.outcome.rerun_class.clone(),
            row.tolerance(),
            format!("{:.1}", row.wall_seconds),
            row.certificate.clone().unwrap_or_default(),
        ]))?;
    }
    write_atomic(&dir.join("verification.csv"), &csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    let template = Path::new(crate::PROJECT_DIR).join("templates/class.html");
    let source = std::fs::read_to_string(&template).with_context(|| format!("{}: cannot be read", template.display()))?;
    let mut env = crate::report::answers::environment();
    env.add_template("class.html", &source).map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
    let counts: Vec<(String, usize)> =
        [Verdict::Verified, Verdict::Tolerance, Verdict::Mismatch, Verdict::Tampered, Verdict::Broken, Verdict::Unfinished]
            .iter()
            .map(|v| (v.name().to_owned(), rows.iter().filter(|r| r.outcome.verdict == *v).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
    let shown: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "submission": r.submission, "verdict": r.outcome.verdict.name(), "differed": r.outcome.differed,
                "trainings": r.trainings(), "recorded_class": r.outcome.recorded_class, "rerun_class": r.outcome.rerun_class,
                "tolerance": r.tolerance(),
                "tolerance_reason": r.outcome.tolerance_reason,
                "wall_seconds": format!("{:.0}", r.wall_seconds), "certificate": r.certificate,
            })
        })
        .collect();
    let html = env
        .get_template("class.html")
        .and_then(|t| t.render(minijinja::context! { rows => shown, counts => counts, date => crate::git::today() }))
        .map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
    write_atomic(&dir.join("verification.html"), html.as_bytes())
}

/// The grader's secret seed for this class folder's audit: the one given,
/// else the one drawn for it before (so that a rerun resumes with the same
/// sample), else a new one, kept in `audit-seed` readable by its owner only.
pub fn audit_seed(dir: &Path, given: Option<u64>) -> anyhow::Result<u64> {
    if let Some(seed) = given {
        return Ok(seed);
    }
    let path = dir.join("audit-seed");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text.trim().parse().with_context(|| format!("{}: not a seed; delete it to draw another", path.display()));
    }
    let seed = crate::audit::draw_secret();
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    file.open(&path).and_then(|mut f| writeln!(f, "{seed}")).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::FileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn truncated(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.truncate(bytes.len() / 2);
        bytes
    }

    #[test]
    fn a_zip_unpacks_inside_its_folder_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.zip");
        std::fs::write(&good, zip_of(&[("submission/manifest.json", b"{}"), ("submission/cache/a.json", b"1")])).unwrap();
        let into = dir.path().join("good");
        std::fs::create_dir(&into).unwrap();
        unpack(&good, &into).unwrap();
        assert_eq!(std::fs::read(into.join("manifest.json")).unwrap(), b"{}", "its one top folder is stripped");
        assert_eq!(std::fs::read(into.join("cache/a.json")).unwrap(), b"1");

        for (name, bytes, said) in [
            ("climbs.zip", zip_of(&[("manifest.json", b"{}"), ("../../escaped.txt", b"x")]), "leaves the submission's folder"),
            ("absolute.zip", zip_of(&[("/tmp/escaped.txt", b"x")]), "leaves the submission's folder"),
            // Inside the top folder that is stripped, `..` would climb out of the scratch folder.
            (
                "beside.zip",
                zip_of(&[("submission/manifest.json", b"{}"), ("submission/../outcome.json", b"{}")]),
                "leaves the submission's folder",
            ),
            ("truncated.zip", truncated(zip_of(&[("manifest.json", &[7; 4000])])), "corrupt or truncated"),
            ("junk.zip", b"not a zip".to_vec(), "corrupt or truncated"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let into = dir.path().join(name.replace(".zip", ""));
            std::fs::create_dir(&into).unwrap();
            let e = format!("{:#}", unpack(&path, &into).unwrap_err());
            assert!(e.contains(said), "{name}: {e}");
            assert_eq!(std::fs::read_dir(&into).unwrap().count(), 0, "{name}: nothing unpacked");
        }
        assert!(!dir.path().join("escaped.txt").exists() && !Path::new("/tmp/escaped.txt").exists());
    }

    #[test]
    fn no_cell_of_the_table_is_a_formula() {
        let cells = spreadsheet_safe(["=HYPERLINK(\"x\")".to_owned(), "-1".to_owned(), "honest".to_owned(), String::new()]);
        assert_eq!(cells, ["'=HYPERLINK(\"x\")", "'-1", "honest", ""]);
    }

    #[test]
    fn a_link_in_a_submitted_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("report.pdf")).unwrap();
        let e = format!("{:#}", files_of(dir.path()).unwrap_err());
        assert!(e.contains("is a symbolic link"), "{e}");
    }

    #[test]
    fn submissions_are_found_in_folders_and_named_apart() {
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path().join("class");
        std::fs::create_dir_all(class.join("group a")).unwrap();
        std::fs::write(class.join("group a.zip"), "").unwrap();
        std::fs::write(class.join("notes.txt"), "").unwrap();
        let found = discover(std::slice::from_ref(&class)).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["group_a", "group_a-2"], "{found:?}");
        assert!(matches!(found[0].source, Source::Folder(_)) && matches!(found[1].source, Source::Zip(_)));
        let e = discover(&[dir.path().join("missing")]).unwrap_err().to_string();
        assert!(e.contains("no such submission"), "{e}");
    }

    #[test]
    fn a_submission_over_its_limits_is_stopped() {
        let mut slow = Command::new("sleep").arg("30").spawn().unwrap();
        let start = Instant::now();
        let Stopped::Limit(why) = watch(&mut slow, Some(Duration::from_millis(300)), None) else { panic!("not stopped") };
        assert!(why.contains("--timeout") && start.elapsed() < Duration::from_secs(10), "{why}");
        let Ok(mut hungry) = Command::new("python3").args(["-c", "x = bytearray(400 << 20); import time; time.sleep(30)"]).spawn() else {
            eprintln!("skipped: python3 is not installed here");
            return;
        };
        let Stopped::Limit(why) = watch(&mut hungry, Some(Duration::from_secs(20)), Some(100)) else { panic!("not stopped") };
        assert!(why.contains("--max-memory"), "{why}");
        let mut quick = Command::new("true").spawn().unwrap();
        assert_eq!(watch(&mut quick, Some(Duration::from_secs(20)), Some(100)), Stopped::Exited, "within its limits");
        let mut killed = Command::new("sh").args(["-c", "kill -9 $$"]).spawn().unwrap();
        assert_eq!(watch(&mut killed, None, None), Stopped::Signal(9), "killed by another: unfinished, not broken");
    }

    #[test]
    fn the_audit_seed_drawn_once_is_kept_for_the_rerun() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(audit_seed(dir.path(), Some(9)).unwrap(), 9);
        let drawn = audit_seed(dir.path(), None).unwrap();
        assert_eq!(audit_seed(dir.path(), None).unwrap(), drawn);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.path().join("audit-seed")).unwrap().permissions());
        assert_eq!(mode & 0o077, 0, "the secret is the grader's alone");
    }
}
