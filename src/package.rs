//! `package`: what the course asks to upload, in `out/submission/`: the PDF
//! on its own, the HTML report, the manifest with the results and figures
//! it records, the trainings' weights, and a zip of the code; `verify
//! --out` checks it alone; and all of it as `out/submission.zip`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::manifest::Manifest;

/// The code that goes into the zip: everything written for the project,
/// without data, outputs or build products.
const CODE: &[&str] = &[
    "src",
    "answers",
    "templates",
    "tests",
    "scripts",
    ".cargo",
    ".ci",
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "README.md",
    "PERFORMANCE.md",
    "docs",
    "report.toml",
];

/// Assembles the submission in a scratch directory beside it and puts it in
/// place only when complete: a failure leaves the previous one as it was.
/// Refuses, before anything is written, a front page that still has the
/// template's placeholders, unless `draft`.
pub fn run(project_dir: &Path, out: &Path, draft: bool) -> anyhow::Result<Vec<PathBuf>> {
    let submission = out.join("submission");
    // Made the ordinary way, so that the user's umask decides who may read it.
    let scratch = out.join(format!(".submission-{}", std::process::id()));
    sweep_left_behind(out, &submission);
    std::fs::create_dir(&scratch).with_context(|| format!("{}: cannot create", scratch.display()))?;
    let assembled = check_front_page(project_dir, out, draft).and_then(|manifest| {
        let files = assemble(project_dir, out, &scratch, &manifest)?;
        check_code(&scratch, &manifest, draft)?;
        Ok(files)
    });
    let files = match assembled {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
    };
    // The previous submission steps aside before the new one takes its
    // name, and is removed only after: a kill leaves one of them whole.
    let previous = out.join(format!(".submission-previous-{}", std::process::id()));
    if submission.exists() {
        std::fs::rename(&submission, &previous).with_context(|| format!("{}: cannot replace", submission.display()))?;
    }
    std::fs::rename(&scratch, &submission).with_context(|| format!("{}: cannot write", submission.display()))?;
    let _ = std::fs::remove_dir_all(&previous);
    let zip = out.join("submission.zip");
    let bytes = zip_folder(&submission, &zip)?;
    eprintln!("{}: {:.1} MiB, the submission folder in one file to hand in", zip.display(), bytes as f64 / (1 << 20) as f64);
    let mut written: Vec<PathBuf> = files.iter().map(|f| submission.join(f.file_name().unwrap_or_default())).collect();
    written.push(zip);
    Ok(written)
}

/// Removes what a killed `package` left: its scratch folders, and a
/// previous submission that stepped aside (put back where no new one took
/// its place).
fn sweep_left_behind(out: &Path, submission: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".submission-previous-") && !submission.exists() {
            let _ = std::fs::rename(entry.path(), submission);
        } else if name.starts_with(".submission-") || name.starts_with("submission.zip.") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The report must exist and pass every check of `verify` that trains
/// nothing, and `report.toml` be filled in (or `draft`); returns its manifest.
fn check_front_page(project_dir: &Path, out: &Path, draft: bool) -> anyhow::Result<Manifest> {
    for file in ["report.pdf", "report.html", "manifest.json"] {
        let path = out.join(file);
        if !path.exists() {
            bail!("{}: missing; run `build-report` (with the same --out) first", path.display());
        }
    }
    let manifest = Manifest::read(out)?;
    crate::verify::check_recorded(out, &manifest, &[], &manifest.data)
        .context("the report is not what its recorded results render; run `build-report` (with the same --out) again")?;
    let config = project_dir.join("report.toml");
    let left = crate::report::ReportConfig::load(&config)?.placeholders();
    if !left.is_empty() && !draft {
        bail!(
            "{}: still to fill in before handing in: {}; fill them in and run `build-report` again (or `package --draft` for a draft)",
            config.display(),
            left.join("; ")
        );
    }
    if !left.is_empty() {
        eprintln!("warning: a draft: {} still has placeholders: {}", config.display(), left.join("; "));
    }
    Ok(manifest)
}

/// The report, its manifest, the recorded results and figures it was
/// rendered from (so that `verify --out` on the submission alone checks
/// it), and the code.
fn assemble(project_dir: &Path, out: &Path, submission: &Path, manifest: &Manifest) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for file in ["report.pdf", "report.html", "manifest.json"] {
        let from = out.join(file);
        let to = submission.join(file);
        std::fs::copy(&from, &to).with_context(|| format!("{}: cannot write", to.display()))?;
        written.push(to);
    }
    let results = manifest.experiments.iter().map(|r| r.cache_file.clone());
    let figures = manifest.outputs.keys().filter(|f| f.starts_with("figures/")).map(PathBuf::from);
    let trainings = kept_trainings(out, manifest)?;
    for file in results.chain(figures).chain(trainings) {
        let to = submission.join(&file);
        std::fs::create_dir_all(to.parent().unwrap_or(submission)).with_context(|| format!("{}: cannot write", to.display()))?;
        std::fs::copy(out.join(&file), &to).with_context(|| format!("{}: cannot write", to.display()))?;
    }
    let zip = submission.join("code.zip");
    let status = std::process::Command::new("git")
        .args(["archive", "--format=zip", "--prefix=mnist-writeup/", "-o"])
        .arg(&zip)
        .arg("HEAD")
        .arg("--")
        .args(CODE.iter().filter(|p| project_dir.join(p).exists()))
        .current_dir(project_dir)
        .status()
        .context("running git archive: is git installed?")?;
    if !status.success() {
        bail!("git archive failed: the code zip is made from the committed tree, so {} must be a git checkout", project_dir.display());
    }
    written.push(zip);
    Ok(written)
}

/// The kept trainings (entries and weights) of the run the manifest
/// records, relative to `out`: with them, `verify` evaluates every
/// experiment again in seconds and an audit re-trains only its sample.
fn kept_trainings(out: &Path, manifest: &Manifest) -> anyhow::Result<Vec<PathBuf>> {
    let plan = crate::runner::Plan::new(manifest.profile()?, manifest.seed, manifest.machine.precision.clone(), &[])?;
    let ids = plan.experiments.iter().map(|e| e.id().to_owned()).collect();
    Ok(crate::audit::units(&plan, &manifest.data.fingerprint, &ids)
        .iter()
        .filter_map(crate::audit::Unit::kept_files)
        .filter(|[entry, _]| out.join(entry).exists())
        .flatten()
        .map(PathBuf::from)
        .collect())
}

/// Zips the finished submission folder into `zip`, its entries under
/// `submission/`, written beside and renamed into place.
fn zip_folder(folder: &Path, zip: &Path) -> anyhow::Result<u64> {
    use std::io::Write;
    let partial = zip.with_extension(format!("zip.{}", std::process::id()));
    let file = std::fs::File::create(&partial).with_context(|| format!("{}: cannot write", partial.display()))?;
    let mut writer = zip::ZipWriter::new(file);
    let options = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let written = (|| -> anyhow::Result<()> {
        for (relative, path) in crate::class::files_of(folder)? {
            writer.start_file(format!("submission/{relative}"), options)?;
            writer.write_all(&std::fs::read(&path)?)?;
        }
        writer.finish()?;
        Ok(())
    })();
    if let Err(e) = written.and_then(|()| Ok(std::fs::rename(&partial, zip)?)) {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context(format!("{}: cannot write", zip.display())));
    }
    Ok(std::fs::metadata(zip)?.len())
}

/// The zipped code (the last commit) must be the code that computed the
/// results and rendered the report, as `verify` checks it; a draft is only
/// warned.
fn check_code(submission: &Path, manifest: &Manifest, draft: bool) -> anyhow::Result<()> {
    match crate::verify::check_code_zip(submission, manifest) {
        Ok(_) => Ok(()),
        Err(e) if draft => {
            eprintln!("warning: a draft: {e:#}; commit the changes and build the report again");
            Ok(())
        }
        Err(e) => Err(e.context("commit the changes, run `build-report` again, then package")),
    }
}
