//! What git says of the checkout the program was built from: its commit,
//! whether it has uncommitted changes, and the commit's date.

use std::path::Path;

/// Runs git with `args` in `dir`; its trimmed output where it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Whether tracked files have uncommitted changes.
pub fn dirty(dir: &Path) -> bool {
    git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty())
}

/// Short commit, whether the tree has changes, and the commit's date
/// (YYYY-MM-DD), so that the same commit gives the same front page. Outside
/// git: "unknown", and today's date.
pub fn state(dir: &Path) -> (String, bool, String) {
    let commit = git(dir, &["rev-parse", "--short=12", "HEAD"]);
    let date = git(dir, &["log", "-1", "--format=%cs"]).unwrap_or_else(today);
    (commit.unwrap_or_else(|| "unknown".into()), dirty(dir), date)
}

/// Today's date, YYYY-MM-DD (UTC).
pub fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}
