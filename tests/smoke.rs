//! End to end: the binary on the smoke profile, as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn mnist_writeup(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-writeup"))
        .args(args)
        .args(["--profile", "smoke", "--threads", "2", "--device", "cpu", "--out"])
        .arg(out)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn pdf_page_count(pdf: &[u8]) -> usize {
    // The page tree's root holds the total: `/Type/Pages/Count N`.
    let text = String::from_utf8_lossy(pdf);
    let at = text.find("/Type/Pages").expect("a page tree");
    let count = &text[at..][text[at..].find("/Count").unwrap() + 6..].trim_start();
    count.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[test]
fn build_report_end_to_end_then_from_the_cache() {
    let out = tempfile::tempdir().unwrap();
    let first = mnist_writeup(out.path(), &["build-report"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(printed.contains("report.pdf") && printed.contains("report.html"), "{printed}");

    let pdf = std::fs::read(out.path().join("report.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = pdf_page_count(&pdf);
    assert!(stderr(&first).contains(&format!("rendered {pages} pages")), "{}", stderr(&first));
    assert!((6..=20).contains(&pages), "{pages} pages");

    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    for figure in ["fig-q1-samples", "fig-q2-notebook-accuracy", "fig-q2-wide-accuracy", "fig-q2-weight-decay"] {
        assert!(html.contains(&format!("<figure id=\"{figure}\"><svg")), "no {figure} in the HTML");
        assert!(out.path().join("figures").join(format!("{}.svg", &figure[4..].replace('-', "_"))).exists());
    }
    assert!(html.contains("<strong>55,050</strong>"), "the computed parameter count");
    assert!(html.contains("<math"), "maths as MathML");
    assert!(html.contains("Not the submission."), "the smoke profile is flagged");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external requests");

    // The second run trains nothing and renders the same report.
    let cache = out.path().join("cache");
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before: Vec<_> = cached.iter().map(|p| modified(p)).collect();
    let second = mnist_writeup(out.path(), &["build-report"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stderr(&second).matches(" cached (").count(), 3, "{}", stderr(&second));
    assert!(!stderr(&second).contains(" ran in "), "{}", stderr(&second));
    assert_eq!(cached.iter().map(|p| modified(p)).collect::<Vec<_>>(), before);
    assert_eq!(std::fs::read_to_string(out.path().join("report.html")).unwrap(), html);

    // `render` alone works from the cache; a different seed has no cache.
    let render = mnist_writeup(out.path(), &["render"]);
    assert!(render.status.success(), "{}", stderr(&render));
    let other_seed = mnist_writeup(out.path(), &["render", "--seed", "1"]);
    assert!(!other_seed.status.success());
    assert!(stderr(&other_seed).contains("q1_preprocessing: no result for profile smoke and seed 1"), "{}", stderr(&other_seed));
}

#[test]
fn bad_flags_and_bad_data_get_clear_errors() {
    let out = tempfile::tempdir().unwrap();
    let unknown = mnist_writeup(out.path(), &["run", "--only", "q7_nothing"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("--only: no experiment `q7_nothing`; the experiments are: q1_preprocessing"));

    let empty = tempfile::tempdir().unwrap();
    let missing = mnist_writeup(out.path(), &["list", "--data-dir", empty.path().to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("train-images-idx3-ubyte: not found"), "{}", stderr(&missing));

    let bad_profile = Command::new(env!("CARGO_BIN_EXE_mnist-writeup")).args(["list", "--profile", "huge"]).output().unwrap();
    assert!(!bad_profile.status.success());
    assert!(stderr(&bad_profile).contains("possible values: full, quick, smoke"), "{}", stderr(&bad_profile));
}
