//! `package`: what the course asks to upload, in `out/submission/`: the PDF
//! on its own, the HTML report, the manifest, and a zip of the code.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The code that goes into the zip: everything written for the project,
/// without data, outputs or build products.
const CODE: &[&str] = &[
    "src", "answers", "templates", "tests", "scripts", ".cargo", ".ci", "Cargo.toml", "Cargo.lock", "build.rs",
    "README.md", "report.toml",
];

pub fn run(project_dir: &Path, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let submission = out.join("submission");
    std::fs::create_dir_all(&submission).with_context(|| format!("{}: cannot create", submission.display()))?;
    let mut written = Vec::new();
    for file in ["report.pdf", "report.html", "manifest.json"] {
        let from = out.join(file);
        if !from.exists() {
            bail!("{}: missing; run `build-report` (with the same --out) first", from.display());
        }
        let to = submission.join(file);
        std::fs::copy(&from, &to).with_context(|| format!("{}: cannot write", to.display()))?;
        written.push(to);
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
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(project_dir)
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        eprintln!("warning: uncommitted changes are not in code.zip (it holds the last commit); commit them and package again");
    }
    written.push(zip);
    Ok(written)
}
