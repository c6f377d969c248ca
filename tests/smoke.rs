//! End to end: the binary on the smoke profile, as a user runs it.

mod reader;

use std::path::Path;
use std::process::{Command, Output};

fn mnist_writeup(out: &Path, args: &[&str]) -> Output {
    smoke_run(Command::new(env!("CARGO_BIN_EXE_mnist-writeup")), out, args)
}

/// As `mnist_writeup`, under the given umask.
fn mnist_writeup_with_umask(umask: &str, out: &Path, args: &[&str]) -> Output {
    let mut sh = Command::new("sh");
    sh.args(["-c", &format!("umask {umask}; exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_mnist-writeup")]);
    smoke_run(sh, out, args)
}

fn smoke_run(mut command: Command, out: &Path, args: &[&str]) -> Output {
    smoke_flags(&mut command, out, args).output().expect("the binary runs")
}

fn smoke_flags<'a>(command: &'a mut Command, out: &Path, args: &[&str]) -> &'a mut Command {
    command
        .args(args)
        // One thread each: the tests run side by side on a small machine.
        .args(["--profile", "smoke", "--threads", "1", "--device", "cpu", "--out"])
        .arg(out)
}

/// Permission bits of every file under `dir`, by path.
fn modes(dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(modes(&path));
        } else {
            found.push((path.clone(), std::fs::metadata(&path).unwrap().permissions().mode() & 0o777));
        }
    }
    found
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
    let first = mnist_writeup_with_umask("022", out.path(), &["build-report"]);
    assert!(first.status.success(), "{}", stderr(&first));
    // Outputs can be shared: what the user's umask allows, not owner-only.
    let written = modes(out.path());
    assert!(written.len() > 20, "{written:?}");
    for (path, mode) in &written {
        assert_eq!(*mode, 0o644, "{} is {mode:o} under umask 022", path.display());
    }
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(printed.contains("report.pdf") && printed.contains("report.html"), "{printed}");

    let pdf = std::fs::read(out.path().join("report.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = pdf_page_count(&pdf);
    assert!(stderr(&first).contains(&format!("rendered {pages} pages")), "{}", stderr(&first));
    assert!((15..=48).contains(&pages), "{pages} pages");

    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    for figure in [
        "fig-q1-samples",
        "fig-q2-notebook-model",
        "fig-q2-notebook-accuracy",
        "fig-q2-wide-model",
        "fig-q2-wide-accuracy",
        "fig-q2-weight-decay",
        "fig-q2-tuned-accuracy",
        "fig-q3-model",
        "fig-q3-curves",
        "fig-q3-confusion",
        "fig-q3-misclassified",
        "fig-q3-translation",
        "fig-q3-filters",
        "fig-q3-feature-maps",
        "fig-q4-model",
        "fig-q4-loss",
        "fig-q4-examples",
        "fig-q4-mse",
        "fig-q4-accuracy",
        "fig-q4-generated",
        "fig-appendix-learning-rate",
        "fig-appendix-width",
    ] {
        assert!(html.contains(&format!("<figure id=\"{figure}\"><svg")), "no {figure} in the HTML");
        assert!(out.path().join("figures").join(format!("{}.svg", &figure[4..].replace('-', "_"))).exists());
    }
    // Digits, filters and feature maps are PNG rasters, not a rectangle per pixel.
    assert!(html.matches("data:image/png;base64,").count() >= 6, "the image grids embed PNGs");
    assert!(html.len() < 2_000_000 && pdf.len() < 1_500_000, "HTML {} bytes, PDF {} bytes", html.len(), pdf.len());
    assert!(html.contains("55,050</a></strong>"), "the computed parameter count, linked to its source");
    assert!(html.contains("<math"), "maths as MathML");
    assert!(html.contains("Not the submission."), "the smoke profile is flagged");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external requests");
    read_as_a_reader_does(out.path(), pages);
    every_number_names_the_field_that_holds_it(out.path(), &html);

    // Question 3's confusion matrix counts every test image once, and its
    // shifted-test accuracy starts from the unshifted test accuracy.
    let cache = out.path().join("cache");
    let q3 = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("q3_cnn-"));
    let q3: serde_json::Value = serde_json::from_slice(&std::fs::read(q3.expect("a q3 result")).unwrap()).unwrap();
    let result = &q3["result"];
    let test_images = q3["config"]["test_images"].as_u64().unwrap();
    let confusion: Vec<Vec<u64>> = serde_json::from_value(result["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), test_images);
    let correct: u64 = (0..10).map(|k| confusion[k][k]).sum();
    assert_eq!(result["errors"].as_u64().unwrap(), test_images - correct);
    let first_test = result["replicates"][0]["test_accuracy"].as_f64().unwrap();
    assert_eq!(result["translation"]["chosen_cnn"]["mean"][0].as_f64().unwrap(), first_test);
    assert_eq!(first_test, correct as f64 / test_images as f64);

    // The second run trains nothing and renders the same report.
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before: Vec<_> = cached.iter().map(|p| modified(p)).collect();
    let second = mnist_writeup(out.path(), &["build-report"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stderr(&second).matches(" cached (").count(), 7, "{}", stderr(&second));
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

/// Every number the answers print links to its source, whose field holds
/// that value in the cached results (or in the findings computed from them).
fn every_number_names_the_field_that_holds_it(out: &Path, html: &str) {
    let results: std::collections::BTreeMap<String, serde_json::Value> = std::fs::read_dir(out.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let id = p.file_name().unwrap().to_string_lossy().rsplit_once('-').unwrap().0.to_owned();
            (id, serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        })
        .collect();
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..].split('"').next()?.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    };
    let links: Vec<&str> = html.split("<a class=\"n").skip(1).collect();
    assert!(links.len() > 300, "{} numbers linked", links.len());
    let (mut checked, mut elsewhere) = (0, 0);
    for link in &links {
        let (tag, rest) = link.split_once('>').unwrap();
        let text = rest.split("</a>").next().unwrap();
        assert!(!tag.starts_with(" untraced"), "a number computed in a template, not read from a result: {text} ({tag})");
        let path = attribute(tag, "data-path").unwrap_or_else(|| panic!("no source for {text}: {tag}"));
        let value: serde_json::Value = serde_json::from_str(&attribute(tag, "data-value").unwrap()).unwrap();
        let source = tag.split(" href=\"#").nth(1).unwrap().split('"').next().unwrap();
        assert!(html.contains(&format!("<tr id=\"{source}\">")), "{text} links to no row");
        let root = path.split(['.', '[']).next().unwrap();
        match results.get(root) {
            Some(entry) => {
                // `LIST | length`: how many items the list holds.
                let (field, counted) = path[root.len()..].strip_suffix(" | length").map_or((&path[root.len()..], false), |f| (f, true));
                let mut at = &entry["result"];
                for part in field.split('.').filter(|p| !p.is_empty()) {
                    let (name, indices) = part.split_once('[').map_or((part, ""), |(n, i)| (n, i));
                    if !name.is_empty() {
                        at = &at[name];
                    }
                    for index in indices.split('[').filter(|i| !i.is_empty()) {
                        let index = index.trim_end_matches(']');
                        at = match index.parse::<usize>() {
                            Ok(i) => &at[i],
                            Err(_) => &at[index.trim_matches('"')],
                        };
                    }
                }
                let held = if counted { serde_json::json!(at.as_array().map(Vec::len)) } else { at.clone() };
                assert_eq!(held, value, "{path} holds {held}, not {value} as printed ({text})");
                checked += 1;
            }
            None => elsewhere += 1,
        }
    }
    assert!(checked > 100 && elsewhere > 10, "{checked} checked against the results, {elsewhere} elsewhere (findings, run, configs)");
}

/// The HTML at a phone's and a desktop's width, and the PDF on paper.
fn read_as_a_reader_does(out: &Path, pages: usize) {
    if let Some(widths) = reader::browse(&out.join("report.html"), &[360, 1024], &out.join("report.png")) {
        for page in widths {
            let at = page.width;
            assert!(page.images >= 6 && page.broken.is_empty(), "at {at} px, images that did not load: {:?}", page.broken);
            assert!(page.maths > 50, "at {at} px, {} maths elements", page.maths);
            assert!(page.raw_tex.is_empty(), "at {at} px, maths left as TeX: {:?}", page.raw_tex);
            assert!(page.wide.is_empty(), "at {at} px, wider than the page: {:#?}", page.wide);
            assert!(page.requests.is_empty(), "at {at} px, requests that left the file: {:?}", page.requests);
        }
        assert!(std::fs::metadata(out.join("report.png")).unwrap().len() > 20_000, "a screenshot with content");
    }
    if let Some(widths) = reader::accessibility(&out.join("report.html"), &[390, 1280]) {
        for (width, violations) in widths {
            for v in &violations {
                eprintln!(
                    "axe at {width} px: {} ({}): {}, {} elements: {:?}",
                    v.id,
                    v.impact.as_deref().unwrap_or("?"),
                    v.help,
                    v.nodes,
                    v.targets
                );
            }
            let serious: Vec<_> = violations.iter().filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical"))).collect();
            assert!(serious.is_empty(), "at {width} px, axe-core finds serious violations: {serious:#?}");
        }
    }
    if let Some(ran) = reader::scripts_run(&out.join("report.html")) {
        assert!(!ran, "a script added to the report ran: its policy must forbid every script");
    }
    if let Some(words) = reader::words(&out.join("report.pdf")) {
        assert_eq!(words.len(), pages);
        assert!(words.iter().all(|w| !w.is_empty()), "every page has text");
        let overlaps = reader::overlapping_words(&words);
        assert!(overlaps.is_empty(), "text runs into its neighbour: {overlaps:#?}");
    }
    let rendered = tempfile::tempdir().unwrap();
    if let Some(images) = reader::page_images(&out.join("report.pdf"), rendered.path()) {
        assert_eq!(images.len(), pages);
        assert!(images.iter().all(|p| std::fs::metadata(p).unwrap().len() > 1_000), "every page renders");
    }
}

#[test]
fn bad_flags_and_bad_data_get_clear_errors() {
    let out = tempfile::tempdir().unwrap();
    let unknown = mnist_writeup(out.path(), &["run", "--only", "q7_nothing"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("--only: no experiment `q7_nothing`; the experiments are: q1_preprocessing"));
    let unknown = mnist_writeup(out.path(), &["run", "--only", "q3_cnn/seed-9"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("--only: `q3_cnn` has no training `seed-9`; its trainings are: cnn-seed-1, cnn-seed-2, "),
        "{}",
        stderr(&unknown)
    );

    // A bad --out fails before anything is trained.
    let file = out.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    for command in ["run", "list"] {
        let not_a_dir = mnist_writeup(&file, &[command, "--only", "q2_notebook_mlp"]);
        assert!(!not_a_dir.status.success(), "{command}");
        assert!(stderr(&not_a_dir).contains("a-file: is not a directory"), "{}", stderr(&not_a_dir));
        assert!(!stderr(&not_a_dir).contains("ran in"), "{}", stderr(&not_a_dir));
    }

    // Too few images for the profile: refused before training, nothing cached.
    for images in [0u32, 5] {
        let tiny = tempfile::tempdir().unwrap();
        for (name, shape) in [
            ("train-images-idx3-ubyte", vec![images, 28, 28]),
            ("train-labels-idx1-ubyte", vec![images]),
            ("t10k-images-idx3-ubyte", vec![images, 28, 28]),
            ("t10k-labels-idx1-ubyte", vec![images]),
        ] {
            let mut bytes = vec![0, 0, 8, shape.len() as u8];
            bytes.extend(shape.iter().flat_map(|d| d.to_be_bytes()));
            bytes.resize(bytes.len() + shape.iter().product::<u32>() as usize, 0);
            std::fs::write(tiny.path().join(name), bytes).unwrap();
        }
        let small = mnist_writeup(out.path(), &["run", "--data-dir", tiny.path().to_str().unwrap()]);
        assert!(!small.status.success(), "{images} images");
        let said = stderr(&small);
        assert!(
            said.contains(&format!("has {images} training and {images} test images; the smoke profile needs at least 2000 and 1000")),
            "{said}"
        );
        assert!(
            !out.path().join("cache").exists() || std::fs::read_dir(out.path().join("cache")).unwrap().next().is_none(),
            "nothing cached"
        );
    }

    let empty = tempfile::tempdir().unwrap();
    // `package` needs no data: it fails for want of a report, not of MNIST.
    let package = mnist_writeup(out.path(), &["package", "--data-dir", empty.path().to_str().unwrap()]);
    assert!(!package.status.success());
    assert!(stderr(&package).contains("report.pdf: missing; run `build-report`"), "{}", stderr(&package));
    let missing = mnist_writeup(out.path(), &["list", "--data-dir", empty.path().to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("train-images-idx3-ubyte: not found"), "{}", stderr(&missing));

    let bad_profile = Command::new(env!("CARGO_BIN_EXE_mnist-writeup")).args(["list", "--profile", "huge"]).output().unwrap();
    assert!(!bad_profile.status.success());
    assert!(stderr(&bad_profile).contains("possible values: full, quick, smoke"), "{}", stderr(&bad_profile));
}

/// `value` without the timings (keys containing "second": seconds, per
/// second), which differ between any two runs.
fn without_timings(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !k.contains("second"))
            .map(|(k, v)| (k.clone(), without_timings(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        serde_json::Value::Array(items) => items.iter().map(without_timings).collect(),
        other => other.clone(),
    }
}

fn cached_results(out: &Path) -> Vec<(String, serde_json::Value)> {
    let mut files: Vec<_> = std::fs::read_dir(out.join("cache")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let entry: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), without_timings(&entry))
        })
        .collect()
}

#[test]
fn same_seed_same_numbers_and_a_grader_can_check_them() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let only = ["build-report"];
    for out in [&a, &b] {
        let run = mnist_writeup(out.path(), &only);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    // Same keys, same results to the bit, timings aside.
    assert_eq!(cached_results(a.path()), cached_results(b.path()));

    // Identical results render to an identical PDF.
    let pdf = std::fs::read(a.path().join("report.pdf")).unwrap();
    let render = mnist_writeup(a.path(), &["render"]);
    assert!(render.status.success(), "{}", stderr(&render));
    assert_eq!(std::fs::read(a.path().join("report.pdf")).unwrap(), pdf);

    // The manifest holds what a grader needs.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.path().join("manifest.json")).unwrap()).unwrap();
    for key in ["profile", "seed", "versions", "run", "machine", "data", "experiments", "outputs", "report_sources"] {
        assert!(manifest.get(key).is_some(), "manifest lacks {key}");
    }
    assert_eq!(manifest["versions"]["libtorch"], "2.13.0");
    assert!(manifest["versions"]["libtorch_build"].as_str().unwrap().starts_with("2.13.0"), "{}", manifest["versions"]);
    assert!(manifest["outputs"]["report.pdf"].as_str().unwrap().len() == 64);
    // ...the machine's features, and the precision chosen with its reason.
    let machine = &manifest["machine"];
    for feature in ["avx2", "avx512f", "avx512_bf16", "amx_bf16"] {
        assert!(machine["cpu_features"][feature].is_boolean(), "no {feature} in {machine}");
    }
    let precision = machine["precision"]["precision"].as_str().unwrap();
    assert!(["float32", "bfloat16"].contains(&precision), "{machine}");
    assert_eq!(machine["precision"]["requested"], "auto");
    assert!(!machine["precision"]["reason"].as_str().unwrap().is_empty());
    let native = machine["cpu_features"]["avx512_bf16"] == true || machine["cpu_features"]["amx_bf16"] == true;
    assert_eq!(precision == "bfloat16", native, "auto picks bfloat16 exactly where it is native: {machine}");
    let records = manifest["experiments"].as_array().unwrap();
    let q3 = records.iter().find(|r| r["id"] == "q3_cnn").unwrap();
    assert_eq!(q3["precision"], precision);
    assert_eq!(q3["config"]["chosen"]["network"]["cnn"]["precision"], precision);
    // The notebook's 64-64 MLP stays in float32 (too small for bfloat16 to
    // pay), and question 1 trains nothing; every other experiment computes
    // in the run's precision.
    for r in records {
        let expected = if ["q1_preprocessing", "q2_notebook_mlp"].contains(&r["id"].as_str().unwrap()) { "float32" } else { precision };
        assert_eq!(r["precision"], expected, "{}", r["id"]);
    }
    let sweep = records.iter().find(|r| r["id"] == "q2_weight_decay_sweep").unwrap();
    assert_eq!(sweep["config"]["recipe"]["network"]["mlp"]["precision"], precision);
    let html = std::fs::read_to_string(a.path().join("report.html")).unwrap();
    assert!(html.contains(&format!("cpu, 1 thread, {precision}")), "the front page names the precision");

    // The front page names the threads that computed the numbers, not the
    // ones a later render was given.
    let rerendered = Command::new(env!("CARGO_BIN_EXE_mnist-writeup"))
        .args(["render", "--profile", "smoke", "--threads", "2", "--device", "cpu", "--out"])
        .arg(a.path())
        .output()
        .unwrap();
    assert!(rerendered.status.success(), "{}", stderr(&rerendered));
    let html = std::fs::read_to_string(a.path().join("report.html")).unwrap();
    assert!(html.contains(&format!("cpu, 1 thread, {precision}")) && !html.contains("1 threads"), "threads of the results");

    // A result computed in one precision is not served for the other: the
    // CNNs and the sweep are to run again, the float32-only MLP stays cached.
    let other = if precision == "float32" { "bfloat16" } else { "float32" };
    let list = mnist_writeup(a.path(), &["list", "--precision", other]);
    assert!(list.status.success(), "{}", stderr(&list));
    let listed = String::from_utf8_lossy(&list.stdout);
    let state = |id: &str| listed.lines().find(|l| l.starts_with(id)).unwrap().split_whitespace().nth(1).unwrap().to_owned();
    let states = (state("q3_cnn"), state("q2_weight_decay_sweep"), state("q2_notebook_mlp"));
    assert_eq!(states, ("stale".into(), "stale".into(), "cached".into()), "{listed}");
    assert!(listed.contains(&format!("precision changed: {precision} → {other}")), "list says why: {listed}");
    let same = mnist_writeup(a.path(), &["list", "--precision", precision]);
    assert!(
        String::from_utf8_lossy(&same.stdout).lines().skip(1).take_while(|l| !l.is_empty()).all(|l| l.contains(" cached ")),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );

    // verify passes on an untouched output...
    let verify = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(verify.status.success(), "{}{}", stderr(&verify), String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("ok"));
    // ...and writes a certificate a grader can attach.
    let certificate = |out: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("verify/certificate.json")).unwrap()).unwrap()
    };
    let issued = certificate(a.path());
    assert_eq!(issued["reproduced"], true, "{issued}");
    assert!(issued["verdict"].as_str().unwrap().starts_with("reproduced: all 1 experiments"), "{issued}");
    assert_eq!(issued["experiments"][0]["id"], "q2_notebook_mlp");
    assert_eq!(issued["experiments"][0]["recorded_result_sha256"], issued["experiments"][0]["rerun_result_sha256"]);
    assert_eq!(issued["recorded_on"]["precision"], precision);
    assert!(issued["outputs_checked"].as_array().unwrap().iter().any(|o| o[0] == "report.pdf"), "{issued}");
    let certificate_html = std::fs::read_to_string(a.path().join("verify/certificate.html")).unwrap();
    assert!(certificate_html.contains("Certificate of reproducible computation") && certificate_html.contains("q2_notebook_mlp"));

    // A grader on another class of machine (here: MKL capped to AVX2) is
    // told not to expect bit-identity, with a tolerance drawn from the
    // spread the re-run measured: a spread inflated in the submission (its
    // hashes fixed, its report rendered) does not widen it.
    let tuned = manifest["experiments"].as_array().unwrap().iter().find(|r| r["id"] == "q2_tuned_mlp").unwrap();
    let tuned_file = a.path().join(tuned["cache_file"].as_str().unwrap());
    let honest_tuned = std::fs::read_to_string(&tuned_file).unwrap();
    let mut inflated: serde_json::Value = serde_json::from_str(&honest_tuned).unwrap();
    inflated["result"]["test_accuracy_std"] = 0.25.into();
    inflated["result_sha256"] = sha256_of_result(&without_timings(&inflated["result"])).into();
    std::fs::write(&tuned_file, inflated.to_string()).unwrap();
    assert!(mnist_writeup(a.path(), &["render"]).status.success());
    let class = manifest["machine"]["cpu_class"].as_str().unwrap().to_owned();
    let mut capped = Command::new(env!("CARGO_BIN_EXE_mnist-writeup"));
    capped.env("MKL_ENABLE_INSTRUCTIONS", "AVX2");
    let across = smoke_run(capped, a.path(), &["verify", "--only", "q2_tuned_mlp"]);
    let printed = String::from_utf8_lossy(&across.stdout);
    let first_line = printed.lines().next().unwrap_or("");
    assert!(
        first_line.starts_with(&format!("recorded on {class}, re-run on "))
            && first_line.contains("capped by MKL_ENABLE_INSTRUCTIONS=AVX2")
            && first_line.contains("bit-identity is not expected"),
        "{printed}{}",
        stderr(&across)
    );
    assert!(
        first_line.contains("compared within") && first_line.contains("policy: ") && first_line.contains("test_accuracy_std"),
        "{first_line}"
    );
    assert!(!first_line.contains("5.0e-1") && !first_line.contains("2.5e-1"), "from the re-run, not the submission: {first_line}");
    assert!(!across.status.success() && stderr(&across).contains("q2_tuned_mlp test_accuracy_std: 0.25 recorded"), "{}", stderr(&across));
    std::fs::write(&tuned_file, &honest_tuned).unwrap();
    assert!(mnist_writeup(a.path(), &["render"]).status.success());
    // The honest result, re-run on the other class, is within that tolerance, and says so.
    let mut capped = Command::new(env!("CARGO_BIN_EXE_mnist-writeup"));
    capped.env("MKL_ENABLE_INSTRUCTIONS", "AVX2");
    let outcome_path = a.path().join("outcome.json");
    let honest_across = smoke_run(capped, a.path(), &["verify", "--only", "q2_tuned_mlp", "--outcome", outcome_path.to_str().unwrap()]);
    assert!(honest_across.status.success(), "{}", stderr(&honest_across));
    let outcome: serde_json::Value = serde_json::from_slice(&std::fs::read(&outcome_path).unwrap()).unwrap();
    assert_eq!(outcome["verdict"], "tolerance", "never called bit-identical across classes: {outcome}");
    assert!(outcome["tolerance"].as_f64().unwrap() > 0.0 && outcome["tolerance_reason"].as_str().unwrap().contains("policy"), "{outcome}");
    std::fs::remove_file(&outcome_path).unwrap();
    let restored: serde_json::Value = serde_json::from_slice(&std::fs::read(a.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(restored, manifest, "the honest result renders the same report again");
    // A class written into the manifest by hand is not the one its report states.
    let mut elsewhere = manifest.clone();
    elsewhere["machine"]["cpu_class"] = "AVX-512+AMX-BF16 (elsewhere)".into();
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&elsewhere).unwrap()).unwrap();
    let spoofed = mnist_writeup(a.path(), &["verify", "--only", "q2_tuned_mlp"]);
    assert!(
        !spoofed.status.success()
            && stderr(&spoofed).contains("the manifest describes its run otherwise than its results do (cpu_class:")
            && !stderr(&spoofed).contains("re-running"),
        "{}",
        stderr(&spoofed)
    );
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    for bad in ["-1", "nan"] {
        let refused = mnist_writeup(a.path(), &["verify", "--tolerance", bad]);
        let said = stderr(&refused);
        assert!(
            !refused.status.success()
                && said.contains(&format!("--tolerance {}: give a finite difference", bad.to_uppercase().replace("NAN", "NaN"))),
            "{said}"
        );
        assert!(!said.contains("re-running"), "checked before anything runs: {said}");
    }

    // ...and re-runs only the recorded run: flags that ask for another are refused.
    let another_run = Command::new(env!("CARGO_BIN_EXE_mnist-writeup"))
        .args(["verify", "--profile", "full", "--seed", "999", "--threads", "1", "--device", "cpu", "--out"])
        .arg(a.path())
        .output()
        .unwrap();
    let said = stderr(&another_run);
    assert!(!another_run.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "these flags differ from it: --profile full (recorded: smoke), --seed 999 (recorded: {})",
            manifest["seed"]
        )),
        "{said}"
    );
    assert!(!said.contains("re-running"), "{said}");

    // ...refuses a result edited by hand before re-running anything, and
    // so does `render` (it would otherwise re-approve it in a new manifest)...
    let record = manifest["experiments"].as_array().unwrap().iter().find(|r| r["id"] == "q2_notebook_mlp").unwrap();
    let cache_file = a.path().join(record["cache_file"].as_str().unwrap());
    let original = std::fs::read_to_string(&cache_file).unwrap();
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut entry: serde_json::Value = serde_json::from_str(&original).unwrap();
        change(&mut entry);
        std::fs::write(&cache_file, serde_json::to_string(&entry).unwrap()).unwrap();
        entry
    };
    let raise = |e: &mut serde_json::Value| {
        let accuracy = e["result"]["history"]["final_val_accuracy"].as_f64().unwrap();
        e["result"]["history"]["final_val_accuracy"] = (accuracy + 0.01).into();
    };
    edit(&raise);
    for command in ["verify", "render"] {
        let tampered = mnist_writeup(a.path(), &[command, "--only", "q2_notebook_mlp"]);
        assert!(!tampered.status.success(), "{command} accepted an edited result");
        assert!(stderr(&tampered).contains("its result was edited after it was computed"), "{}", stderr(&tampered));
        assert!(!stderr(&tampered).contains("re-running"), "detected before anything re-runs");
    }
    assert_eq!(std::fs::read_to_string(a.path().join("manifest.json")).unwrap(), serde_json::to_string(&manifest).unwrap());

    // ...refuses an edited config (learning rate, batch size) likewise...
    edit(&|e| {
        e["config"]["learning_rate"] = 0.005.into();
        e["config"]["batch_size"] = 32.into();
    });
    let config = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(!config.status.success() && stderr(&config).contains("was edited after it was computed"), "{}", stderr(&config));

    // ...refuses a manifest that leaves experiments out, or whose config is
    // not what the code computes...
    std::fs::write(&cache_file, &original).unwrap();
    let mut emptied = manifest.clone();
    emptied["experiments"] = serde_json::json!([]);
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&emptied).unwrap()).unwrap();
    let empty = mnist_writeup(a.path(), &["verify"]);
    assert!(!empty.status.success() && stderr(&empty).contains("the manifest lists 0 of the 7 experiments"), "{}", stderr(&empty));
    let mut reconfigured = manifest.clone();
    for r in reconfigured["experiments"].as_array_mut().unwrap() {
        if r["id"] == "q2_notebook_mlp" {
            r["config"]["learning_rate"] = 0.005.into();
        }
    }
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&reconfigured).unwrap()).unwrap();
    let other_code = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(stderr(&other_code).contains("is not the one this code computes"), "{}", stderr(&other_code));

    // ...refuses an edited report...
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    let html_path = a.path().join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    std::fs::write(&html_path, format!("{html}<!-- edited -->")).unwrap();
    let edited_output = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(
        !edited_output.status.success() && stderr(&edited_output).contains("report.html: changed after the run"),
        "{}",
        stderr(&edited_output)
    );
    std::fs::write(&html_path, &html).unwrap();

    // ...and one whose hashes a forger recomputed: an edited sentence, or a
    // PDF swapped for junk and struck from the list, differs from a
    // re-render of the recorded results...
    let pdf_path = a.path().join("report.pdf");
    let pdf = std::fs::read(&pdf_path).unwrap();
    let forge = |file: &Path, bytes: &[u8], listed: bool| {
        std::fs::write(file, bytes).unwrap();
        let mut forged = manifest.clone();
        let name = file.file_name().unwrap().to_str().unwrap();
        match listed {
            true => forged["outputs"][name] = sha256_of(bytes).into(),
            false => drop(forged["outputs"].as_object_mut().unwrap().remove(name)),
        }
        std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&forged).unwrap()).unwrap();
        mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"])
    };
    let sentence = html.find("<p>").expect("a paragraph") + "<p>".len();
    let reworded = format!("{}Beyond doubt, {}", &html[..sentence], &html[sentence..]);
    for (file, bytes, listed, expected) in
        [(&html_path, reworded.as_bytes(), true, "submitted `"), (&pdf_path, &b"%PDF-1.7 junk"[..], false, "it was edited after rendering")]
    {
        let forged = forge(file, bytes, listed);
        let said = stderr(&forged);
        assert!(!forged.status.success(), "{}: a forged report was certified", file.display());
        assert!(said.contains("differs from a re-render of the recorded results") && said.contains(expected), "{said}");
        assert!(!said.contains("re-running"), "caught before training: {said}");
        std::fs::write(&html_path, &html).unwrap();
        std::fs::write(&pdf_path, &pdf).unwrap();
    }
    // ...where the answers that rendered it are not these, it says which.
    let mut other_answers = manifest.clone();
    other_answers["report_sources"]["answers/q1.md"] = "0".repeat(64).into();
    std::fs::write(&html_path, &reworded).unwrap();
    other_answers["outputs"]["report.html"] = sha256_of(reworded.as_bytes()).into();
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&other_answers).unwrap()).unwrap();
    let said = stderr(&mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]));
    assert!(said.contains("rendered from other answers or templates than these (answers/q1.md differ"), "{said}");
    std::fs::write(&html_path, &html).unwrap();
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();

    // ...gives no false alarm after a legitimate re-run (new timings, same numbers)...
    let rerun = mnist_writeup(a.path(), &["run", "--force", "--only", "q2_notebook_mlp"]);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert_ne!(std::fs::read_to_string(&cache_file).unwrap(), original, "new timings");
    // The report quotes the timings, so it is rendered again.
    let stale = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(stale.status.success() || stderr(&stale).contains("or not rendered again after a re-run"), "{}", stderr(&stale));
    let rendered = mnist_writeup(a.path(), &["render"]);
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(a.path().join("manifest.json")).unwrap()).unwrap();
    let after_rerun = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(after_rerun.status.success(), "{}{}", stderr(&after_rerun), String::from_utf8_lossy(&after_rerun.stdout));

    // ...and, when a forger fixed every hash to match, names the metric that differs.
    let forged = edit(&|e| {
        raise(e);
        e["result_sha256"] = sha256_of_result(&without_timings(&e["result"])).into();
    });
    let mut doctored = manifest.clone();
    for r in doctored["experiments"].as_array_mut().unwrap() {
        if r["id"] == "q2_notebook_mlp" {
            r["result_sha256"] = forged["result_sha256"].clone();
        }
    }
    std::fs::write(a.path().join("manifest.json"), serde_json::to_string(&doctored).unwrap()).unwrap();
    // The report still states the true number: the re-render shows it, before training.
    let unrendered = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    let said = stderr(&unrendered);
    assert!(!unrendered.status.success() && said.contains("differs from a re-render") && !said.contains("re-running"), "{said}");
    // A forger who renders the forged result too is caught by the re-run.
    let forged_report = mnist_writeup(a.path(), &["render"]);
    assert!(forged_report.status.success(), "{}", stderr(&forged_report));
    let mismatch = mnist_writeup(a.path(), &["verify", "--only", "q2_notebook_mlp"]);
    assert!(!mismatch.status.success());
    let table = String::from_utf8_lossy(&mismatch.stdout);
    assert!(table.contains("history.final_val_accuracy") && table.contains("MISMATCH"), "{table}{}", stderr(&mismatch));
    let refused = certificate(a.path());
    assert_eq!(refused["reproduced"], false, "{refused}");
    assert_eq!(refused["experiments"][0]["largest_difference_metric"], "history.final_val_accuracy", "{refused}");
    assert_ne!(refused["experiments"][0]["recorded_result_sha256"], refused["experiments"][0]["rerun_result_sha256"]);

    // A render that fails (here: a forged result it cannot draw) leaves the
    // previous outputs and manifest together, as they were.
    let before: Vec<Vec<u8>> =
        ["report.html", "report.pdf", "manifest.json"].iter().map(|f| std::fs::read(a.path().join(f)).unwrap()).collect();
    edit(&|e| {
        e["result"].as_object_mut().unwrap().remove("history");
        e["result_sha256"] = sha256_of_result(&without_timings(&e["result"])).into();
    });
    let failed_render = mnist_writeup(a.path(), &["render"]);
    assert!(!failed_render.status.success(), "{}", stderr(&failed_render));
    let after: Vec<Vec<u8>> =
        ["report.html", "report.pdf", "manifest.json"].iter().map(|f| std::fs::read(a.path().join(f)).unwrap()).collect();
    assert!(before == after, "a failed render changed the outputs: {}", stderr(&failed_render));
}

fn sha256_of_result(result: &serde_json::Value) -> String {
    sha256_of(result.to_string().as_bytes())
}

fn sha256_of(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn package_writes_the_three_artifacts_and_the_code_zip() {
    let out = tempfile::tempdir().unwrap();
    let early = mnist_writeup(out.path(), &["package"]);
    assert!(!early.status.success());
    assert!(stderr(&early).contains("run `build-report`"), "{}", stderr(&early));
    assert!(!out.path().join("submission").exists(), "a failed package leaves no submission behind");
    let built = mnist_writeup(out.path(), &["build-report"]);
    assert!(built.status.success(), "{}", stderr(&built));
    // The repository's report.toml is the template: its placeholders are refused, and nothing is written.
    let placeholders = mnist_writeup(out.path(), &["package"]);
    assert!(!placeholders.status.success());
    assert!(
        stderr(&placeholders).contains("still to fill in before handing in: group = \"Group (fill in report.toml)\""),
        "{}",
        stderr(&placeholders)
    );
    assert!(stderr(&placeholders).contains("q4_noisy_hard_from"), "{}", stderr(&placeholders));
    assert!(!out.path().join("submission").exists(), "a refused package leaves no submission behind");
    // What `verify` would reject without training is not packaged either.
    let manifest_path = out.path().join("manifest.json");
    let manifest = std::fs::read(&manifest_path).unwrap();
    std::fs::write(&manifest_path, r#"{"not":"a manifest"}"#).unwrap();
    let not_a_manifest = mnist_writeup(out.path(), &["package", "--draft"]);
    assert!(
        !not_a_manifest.status.success() && stderr(&not_a_manifest).contains("is not a manifest written by this program"),
        "{}",
        stderr(&not_a_manifest)
    );
    std::fs::write(&manifest_path, &manifest).unwrap();
    let html_path = out.path().join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    let edited = html.replacen("<p>", "<p>Beyond doubt, ", 1);
    std::fs::write(&html_path, &edited).unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    forged["outputs"]["report.html"] = sha256_of(edited.as_bytes()).into();
    std::fs::write(&manifest_path, forged.to_string()).unwrap();
    let hand_edited = mnist_writeup(out.path(), &["package", "--draft"]);
    assert!(!hand_edited.status.success() && stderr(&hand_edited).contains("differs from a re-render"), "{}", stderr(&hand_edited));
    assert!(!out.path().join("submission").exists(), "nothing packaged");
    std::fs::write(&html_path, &html).unwrap();
    std::fs::write(&manifest_path, &manifest).unwrap();

    let run = mnist_writeup_with_umask("022", out.path(), &["package", "--draft"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("warning: a draft"), "{}", stderr(&run));
    let submission = out.path().join("submission");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&submission).unwrap().permissions()) & 0o777, 0o755);
    for (path, mode) in modes(&submission) {
        assert_eq!(mode, 0o644, "{}", path.display());
    }
    // The submission alone is verifiable: its results, figures and code are in it.
    let committed = Command::new("git")
        .args(["status", "--porcelain", "--", "src", "answers", "templates", "report.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.is_empty());
    let alone = mnist_writeup(&submission, &["verify", "--only", "q2_notebook_mlp"]);
    if committed {
        assert!(alone.status.success(), "{}", stderr(&alone));
        assert!(stderr(&alone).contains("code.zip: all ") && stderr(&alone).contains("re-rendered the report"), "{}", stderr(&alone));
    } else {
        eprintln!("skipped: verifying the submission alone needs a checkout without uncommitted code, answers or templates");
    }
    std::fs::remove_dir_all(submission.join("verify")).ok();
    // A code.zip whose answers are not those that rendered the report, or
    // with an entry that leaves its folder, is refused before anything runs.
    let zip = submission.join("code.zip");
    let honest_zip = std::fs::read(&zip).unwrap();
    for (change, expected) in [("edit", "answers/q1.md (not the one that rendered the report)"), ("escape", "leaves it")] {
        let forged = out.path().join("forged.zip");
        let script = "import sys, zipfile\n\
                      src, dst, change = sys.argv[1:4]\n\
                      with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, 'w') as b:\n\
                      \x20   for i in a.infolist():\n\
                      \x20       data = a.read(i)\n\
                      \x20       if change == 'edit' and i.filename == 'mnist-writeup/answers/q1.md': data += b'One more sentence.'\n\
                      \x20       b.writestr(i, data)\n\
                      \x20   if change == 'escape': b.writestr('mnist-writeup/../../evil.txt', 'x')\n";
        let made = Command::new("python3").args(["-c", script]).arg(&zip).arg(&forged).arg(change).status().unwrap();
        assert!(made.success());
        std::fs::copy(&forged, &zip).unwrap();
        let refused = mnist_writeup(&submission, &["verify", "--only", "q2_notebook_mlp"]);
        let said = stderr(&refused);
        assert!(!refused.status.success() && said.contains("code.zip") && said.contains(expected), "{change}: {said}");
        assert!(!said.contains("re-running"), "{said}");
        assert!(!out.path().join("evil.txt").exists() && !submission.join("evil.txt").exists());
    }
    std::fs::write(&zip, &honest_zip).unwrap();
    // A package refused (a report newer than its manifest), or killed while
    // the old submission stood aside, leaves the complete one in place.
    let complete: Vec<_> =
        ["report.pdf", "report.html", "manifest.json"].iter().map(|f| std::fs::read(submission.join(f)).unwrap()).collect();
    let pdf = std::fs::read(out.path().join("report.pdf")).unwrap();
    std::fs::write(out.path().join("report.pdf"), "a newer pdf").unwrap();
    let refused = mnist_writeup(out.path(), &["package", "--draft"]);
    assert!(!refused.status.success() && stderr(&refused).contains("report.pdf: changed after the run"), "{}", stderr(&refused));
    std::fs::rename(&submission, out.path().join(".submission-previous-1")).unwrap();
    let after_kill = mnist_writeup(out.path(), &["package", "--draft"]);
    assert!(!after_kill.status.success());
    let after: Vec<_> = ["report.pdf", "report.html", "manifest.json"].iter().map(|f| std::fs::read(submission.join(f)).unwrap()).collect();
    assert_eq!(after, complete, "old and new outputs are never mixed");
    std::fs::write(out.path().join("report.pdf"), &pdf).unwrap();
    for file in ["report.pdf", "report.html", "manifest.json", "code.zip"] {
        assert!(submission.join(file).exists(), "{file}");
    }
    let listing = Command::new("python3").args(["-m", "zipfile", "-l"]).arg(submission.join("code.zip")).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for expected in [
        "mnist-writeup/src/main.rs",
        "mnist-writeup/answers/q1.md",
        "mnist-writeup/Cargo.toml",
        "mnist-writeup/templates/report.typ",
        "mnist-writeup/PERFORMANCE.md",
    ] {
        assert!(listing.contains(expected), "{expected} not in\n{listing}");
    }
    for excluded in ["data/mnist", "target/", "out/"] {
        assert!(!listing.contains(excluded), "{excluded} in\n{listing}");
    }
}

#[test]
fn bench_times_what_the_machine_computes_natively_and_runs_the_peer() {
    let out = tempfile::tempdir().unwrap();
    let bench = mnist_writeup(out.path(), &["bench", "--peers"]);
    let printed = String::from_utf8_lossy(&bench.stdout);
    assert!(bench.status.success(), "{printed}{}", stderr(&bench));
    let native = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|i| i.contains("avx512_bf16") || i.contains("amx_bf16"));
    if native {
        assert!(printed.contains("bfloat16") && !printed.contains("bfloat16 paths skipped"), "{printed}");
    } else {
        // No emulated bfloat16 is timed by default: one line says why.
        assert_eq!(printed.matches("bfloat16 paths skipped").count(), 1, "{printed}");
        assert!(!printed.lines().any(|l| l.contains(" bfloat16 ") && l.contains("conv net,")), "{printed}");
    }
    assert!(!printed.contains("peers on this machine: PyTorch 15 s"), "no typed peer figures");
    assert!(printed.contains("seeds side by side: skipped: they are timed on the CPU with 2 threads or more"), "{printed}");
    // The full profile projected from these paths, kept for build-report.
    assert!(out.path().join("bench.json").is_file(), "{printed}");
    let total = printed.lines().find(|l| l.starts_with("total: ours ")).unwrap_or_else(|| panic!("no projection in\n{printed}"));
    assert!(printed.contains("full profile, projected"), "{printed}");
    if printed.contains("peers: skipped") {
        assert!(total.contains("PyTorch eager not timed"), "{total}");
        eprintln!("skipped: the PyTorch peer needs the venv of scripts/setup.sh");
        return;
    }
    // The peer ran on the same data and each of its workloads has a measured ratio.
    let workloads = [
        "pytorch 64-64 MLP epoch",
        "pytorch 500-300 MLP model-epoch",
        "pytorch 500-300 MLP epoch, both alone",
        "pytorch reference conv net epoch",
    ];
    for workload in workloads {
        let line = printed.lines().find(|l| l.starts_with(workload)).unwrap_or_else(|| panic!("no {workload} in\n{printed}"));
        let ratio: f64 =
            line.split_whitespace().find(|w| w.ends_with('x') && w.contains('.')).unwrap().trim_end_matches('x').parse().unwrap();
        assert!(ratio.is_finite() && ratio > 0.0, "{line}");
    }
    assert!(printed.contains("keras peer: skipped") || printed.lines().any(|l| l.starts_with("keras ")), "{printed}");
    assert!(total.contains("x ours)"), "the peer's projection beside ours: {total}");
}

#[test]
fn every_subcommand_describes_itself_in_help() {
    let out = tempfile::tempdir().unwrap();
    let described = [
        ("build-report", "Run what is not cached, then render"),
        ("run", "Run the experiments only"),
        ("render", "Render the reports from cached results only"),
        ("list", "List the experiments"),
        ("verify", "Re-run the experiments of out/manifest.json"),
        ("package", "Write out/submission/"),
        ("bench", "Measure training throughput"),
        ("preview", "Serve the HTML report on 127.0.0.1"),
    ];
    let overview = mnist_writeup(out.path(), &["--help"]);
    let overview = String::from_utf8_lossy(&overview.stdout).into_owned();
    for (command, about) in described {
        let line = overview
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("{command} in {overview}"));
        assert!(line.contains(about), "{command}: {line}");
        let help = mnist_writeup(out.path(), &[command, "--help"]);
        assert!(help.status.success());
        let text = String::from_utf8_lossy(&help.stdout).into_owned();
        assert!(text.starts_with(about), "{command} --help starts: {}", text.lines().next().unwrap_or(""));
        // Only the shared flags it reads: `package` trains nothing.
        let shown = |flag: &str| text.contains(&format!("{flag} ")) || text.contains(&format!("{flag}\n"));
        let trains = !["package", "list", "render", "preview"].contains(&command);
        assert_eq!(shown("--threads"), trains, "{command}: {text}");
        assert_eq!(shown("--force"), ["build-report", "run"].contains(&command), "{command}: {text}");
        assert!(shown("--out"), "{command}: {text}");
        assert_eq!(shown("--device") && text.contains("Where the networks train"), command != "package", "{command}: {text}");
    }
}

/// Each experiment's key and result hash, as a manifest records them.
fn manifest_results(out: &Path) -> Vec<(String, String, String)> {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let field = |e: &serde_json::Value, name: &str| e[name].as_str().unwrap().to_owned();
    manifest["experiments"].as_array().unwrap().iter().map(|e| (field(e, "id"), field(e, "key"), field(e, "result_sha256"))).collect()
}

/// The trainings kept under `out`.
fn kept_trainings(out: &Path) -> usize {
    std::fs::read_dir(out.join("cache/trainings"))
        .map_or(0, |files| files.filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|e| e == "json")).count())
}

#[test]
fn a_run_killed_after_a_training_trains_only_the_rest_and_gets_the_same_numbers() {
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole");
    let listed = mnist_writeup(&whole, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let q3 = listed.as_array().unwrap().iter().find(|e| e["id"] == "q3_cnn").unwrap();
    let trainings = q3["trainings"].as_array().unwrap().len();
    assert!(trainings >= 3, "question 3 keeps each training: {q3}");
    let uninterrupted = mnist_writeup(&whole, &["run", "--only", "q3_cnn"]);
    assert!(uninterrupted.status.success(), "{}", stderr(&uninterrupted));
    assert_eq!(kept_trainings(&whole), trainings, "each training is kept: other experiments reuse it");
    // Question 4 classifies with question 3's CNNs and question 2 D's MLPs,
    // which question 3 also uses: it trains its autoencoder and nothing else.
    let listed = mnist_writeup(&whole, &["list"]);
    let table = String::from_utf8_lossy(&listed.stdout).into_owned();
    let row = table.lines().find(|l| l.starts_with("q3_cnn/cnn-seed-1 ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("kept") && row.ends_with("q3_cnn, q4_denoising_autoencoder"), "one row, every user: {table}");
    assert_eq!(table.matches("cnn-seed-1 ").count(), 1, "{table}");
    let q4 = mnist_writeup(&whole, &["run", "--only", "q4_denoising_autoencoder"]);
    assert!(q4.status.success(), "{}", stderr(&q4));
    assert!(
        stderr(&q4).contains("(4 reused from earlier experiments: tuned-mlp-seed-1, tuned-mlp-seed-2, cnn-seed-1, cnn-seed-2)"),
        "{}",
        stderr(&q4)
    );
    assert_eq!(kept_trainings(&whole), trainings + 1, "the autoencoder");

    let killed = root.path().join("killed");
    let mut run = smoke_flags(&mut Command::new(env!("CARGO_BIN_EXE_mnist-writeup")), &killed, &["run", "--only", "q3_cnn"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while kept_trainings(&killed) == 0 {
        assert!(run.try_wait().unwrap().is_none(), "the run ended before its first training was kept");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let kept = kept_trainings(&killed);
    assert!(kept < trainings, "killed before its last training: {kept} of {trainings} kept");
    let resumed = mnist_writeup(&killed, &["run", "--only", "q3_cnn"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains(&format!("({kept} of {trainings} trainings kept from before")), "{}", stderr(&resumed));
    let question_3 = |out: &Path| cached_results(out).into_iter().filter(|(file, _)| file.starts_with("q3_cnn-")).collect::<Vec<_>>();
    assert_eq!(question_3(&killed).len(), 1);
    assert_eq!(question_3(&killed), question_3(&whole), "the same result as a run never stopped");
    assert_eq!(kept_trainings(&killed), trainings);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn jobs_run_apart_merge_into_the_report_of_one_run_and_disagreeing_results_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let single = root.path().join("single");
    let one_run = mnist_writeup(&single, &["build-report"]);
    assert!(one_run.status.success(), "{}", stderr(&one_run));

    // A job matrix from `list --json`: one job per unit (an experiment, or
    // one training of a study), two at a time.
    let listed = mnist_writeup(&root.path().join("listed"), &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let experiments = listed.as_array().unwrap();
    assert_eq!(experiments.len(), 7, "{listed}");
    assert!(experiments.iter().all(|e| e["state"] == "to run" && e["key"].as_str().unwrap().len() == 64), "{listed}");
    let ids: Vec<String> =
        experiments.iter().flat_map(|e| e["units"].as_array().unwrap()).map(|u| u.as_str().unwrap().to_owned()).collect();
    let trainings = ids.iter().filter(|id| id.contains('/')).count();
    assert!(ids.contains(&"q3_cnn/cnn-seed-1".to_owned()) && ids.contains(&"q2_tuned_mlp/tuned-mlp-seed-2".to_owned()), "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a training that several experiments use is one job: {ids:?}");
    assert_eq!(ids.len() - trainings, 3, "the experiments without trainings are units of their own: {ids:?}");
    assert!(ids.contains(&"appendix_earlier_edition/width-1000".to_owned()), "a batched training is a unit: {ids:?}");
    let jobs: Vec<std::path::PathBuf> = ids.iter().map(|id| root.path().join(format!("job-{}", id.replace('/', "-")))).collect();
    for pair in ids.iter().zip(&jobs).collect::<Vec<_>>().chunks(2) {
        let running: Vec<_> = pair
            .iter()
            .map(|(id, dir)| {
                smoke_flags(&mut Command::new(env!("CARGO_BIN_EXE_mnist-writeup")), dir, &["run", "--only", id]).spawn().unwrap()
            })
            .collect();
        for job in running {
            let done = job.wait_with_output().unwrap();
            assert!(done.status.success(), "{}", stderr(&done));
        }
    }
    let merged = root.path().join("merged");
    let mut merge_args = vec!["merge"];
    merge_args.extend(jobs.iter().map(|j| j.to_str().unwrap()));
    let merging = mnist_writeup(&merged, &merge_args);
    assert!(merging.status.success(), "{}", stderr(&merging));
    let expected = format!("merged 3 results and {trainings} trainings from {} directories", ids.len());
    assert!(stderr(&merging).contains(&expected), "{}", stderr(&merging));
    assert!(stderr(&merging).contains("q3_cnn                   ran in "), "assembled from its parts: {}", stderr(&merging));
    assert_eq!(manifest_results(&merged), manifest_results(&single), "the same keys and result hashes as one run");
    let pages = |out: &Path| pdf_page_count(&std::fs::read(out.join("report.pdf")).unwrap());
    assert_eq!(pages(&merged), pages(&single));

    // A job run with another seed is refused, and its file named.
    let other_seed = root.path().join("other-seed");
    let job = mnist_writeup(&other_seed, &["run", "--only", "q1_preprocessing", "--seed", "406"]);
    assert!(job.status.success(), "{}", stderr(&job));
    let refused = mnist_writeup(&root.path().join("refused"), &["merge", jobs[1].to_str().unwrap(), other_seed.to_str().unwrap()]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("other-seed/cache/q1_preprocessing-") && err.contains("seed changed: "), "{err}");
    // So is a training of another seed.
    let other_seed = root.path().join("other-seed-training");
    let job = mnist_writeup(&other_seed, &["run", "--only", "q3_cnn/reference-cnn", "--seed", "406"]);
    assert!(job.status.success(), "{}", stderr(&job));
    let trained = &jobs[ids.iter().position(|id| id == "q3_cnn/reference-cnn").unwrap()];
    let refused = mnist_writeup(&root.path().join("refused"), &["merge", trained.to_str().unwrap(), other_seed.to_str().unwrap()]);
    let err = stderr(&refused);
    assert!(!refused.status.success() && err.contains("trainings/reference-cnn-") && err.contains("seed changed: "), "{err}");
    // And one whose weights were replaced.
    let replaced = root.path().join("replaced");
    copy_dir(trained, &replaced);
    let weights = std::fs::read_dir(replaced.join("cache/trainings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().unwrap() == "weights")
        .unwrap();
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let refused = mnist_writeup(&root.path().join("refused"), &["merge", replaced.to_str().unwrap()]);
    let err = stderr(&refused);
    assert!(
        !refused.status.success() && err.contains("replaced/cache/trainings/reference-cnn-") && err.contains("its weights are not"),
        "{err}"
    );
    // A merge without every training of a study says which are missing.
    let missing = mnist_writeup(&root.path().join("missing"), &["merge", trained.to_str().unwrap()]);
    let err = stderr(&missing);
    assert!(!missing.status.success() && err.contains("q2_tuned_mlp: its result waits for") && err.contains("tuned-mlp-seed-1"), "{err}");
    // So is a result edited after it was computed.
    let edited = root.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    let original = std::fs::read_dir(jobs[0].join("cache")).unwrap().map(|e| e.unwrap().path()).next().unwrap();
    let mut entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&original).unwrap()).unwrap();
    entry["result"]["raw_train"]["mean"] = 40.0.into();
    std::fs::write(edited.join(original.file_name().unwrap()), serde_json::to_vec(&entry).unwrap()).unwrap();
    let refused = mnist_writeup(&root.path().join("refused"), &["merge", edited.to_str().unwrap()]);
    let err = stderr(&refused);
    assert!(!refused.status.success() && err.contains("edited/q1_preprocessing-") && err.contains("its result was edited"), "{err}");
    // So is one from another profile: its config differs.
    let quick = Command::new(env!("CARGO_BIN_EXE_mnist-writeup"))
        .args(["merge", jobs[0].to_str().unwrap(), "--profile", "quick", "--threads", "1", "--out"])
        .arg(root.path().join("refused"))
        .output()
        .unwrap();
    let err = stderr(&quick);
    assert!(!quick.status.success() && err.contains("q1_preprocessing-") && err.contains("config changed: "), "{err}");
}

#[test]
fn fashion_mnist_gets_a_report_of_its_own_that_claims_nothing_of_digits() {
    let fashion = Path::new("/usr/share/datasets/fashion-mnist");
    if !fashion.is_dir() {
        eprintln!("skipped: {} is absent (Debian's dataset-fashion-mnist; .ci/run installs it)", fashion.display());
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let built = mnist_writeup(out.path(), &["build-report", "--data-dir", fashion.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    // The assignment's questions are quoted as asked; the answers are what must fit the data.
    let mut answers = String::new();
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<blockquote>") {
        answers.push_str(&rest[..start]);
        rest = &rest[start..][rest[start..].find("</blockquote>").expect("a closed quote") + "</blockquote>".len()..];
    }
    answers.push_str(rest);
    // What a reader reads: the text outside tags (SVG attributes such as `stroke` are not prose).
    if let (Some(start), Some(end)) = (answers.find("<style"), answers.find("</style>")) {
        answers.replace_range(start..end, "");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in answers.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let answers = text;
    for expected in ["Not MNIST", "Fashion-MNIST (IDX files, checksums recorded)", "9 Ankle boot", "Zalando"] {
        assert!(answers.contains(expected), "the Fashion-MNIST report lacks \"{expected}\"");
    }
    let lower = answers.to_lowercase();
    for digits_only in ["digit", "handwrit", "stroke", "hinton's 98", "lecun's page"] {
        if let Some(at) = lower.find(digits_only) {
            let around: String =
                lower[..at].chars().rev().take(200).collect::<Vec<_>>().into_iter().rev().chain(lower[at..].chars().take(200)).collect();
            panic!("the Fashion-MNIST report says \"{digits_only}\": …{around}…");
        }
    }
}

/// Whether the checkout has no uncommitted code, answers or templates: only
/// then is the code.zip that `package` makes (from the last commit) the
/// code that made the report.
fn committed() -> bool {
    Command::new("git")
        .args(["status", "--porcelain", "--", "src", "answers", "templates", "report.toml", "build.rs", "Cargo.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.is_empty())
}

/// A zip of the folder `dir`, its entries under `prefix`, made as a student
/// would, with Python's zipfile; `extra` adds one entry by name.
fn zip_as_a_student(dir: &Path, zip: &Path, extra: Option<&str>) {
    let script = "import os, sys, zipfile\n\
                  src, dst, extra = sys.argv[1], sys.argv[2], sys.argv[3]\n\
                  with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as z:\n\
                  \x20   for root, _, files in os.walk(src):\n\
                  \x20       for f in files:\n\
                  \x20           p = os.path.join(root, f)\n\
                  \x20           z.write(p, 'submission/' + os.path.relpath(p, src))\n\
                  \x20   if extra: z.writestr(extra, 'x')\n";
    let made = Command::new("python3").args(["-c", script]).arg(dir).arg(zip).arg(extra.unwrap_or("")).status().unwrap();
    assert!(made.success());
}

#[test]
fn verify_a_class_marks_each_submission_and_writes_nothing_outside_its_folders() {
    if !committed() {
        eprintln!("skipped: an honest submission's code.zip needs a checkout without uncommitted code, answers or templates");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let honest = root.path().join("honest");
    let built = mnist_writeup(&honest, &["build-report"]);
    assert!(built.status.success(), "{}", stderr(&built));
    // A result raised by hand, its hashes recomputed and its report rendered
    // again from it, as a student who read the code would.
    let edited = root.path().join("edited-result");
    assert!(Command::new("cp").arg("-r").arg(&honest).arg(&edited).status().unwrap().success());
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(edited.join("manifest.json")).unwrap()).unwrap();
    let tuned = manifest["experiments"].as_array().unwrap().iter().find(|r| r["id"] == "q2_tuned_mlp").unwrap();
    let tuned_file = edited.join(tuned["cache_file"].as_str().unwrap());
    let mut raised: serde_json::Value = serde_json::from_slice(&std::fs::read(&tuned_file).unwrap()).unwrap();
    raised["result"]["test_accuracy_mean"] = 0.9955.into();
    raised["result_sha256"] = sha256_of_result(&without_timings(&raised["result"])).into();
    std::fs::write(&tuned_file, raised.to_string()).unwrap();
    let rendered = mnist_writeup(&edited, &["render"]);
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let subs = root.path().join("subs");
    std::fs::create_dir(&subs).unwrap();
    for out in [&honest, &edited] {
        let packaged = mnist_writeup(out, &["package", "--draft"]);
        assert!(packaged.status.success(), "{}", stderr(&packaged));
        let name = out.file_name().unwrap().to_str().unwrap();
        std::fs::copy(out.join("submission.zip"), subs.join(format!("{name}.zip"))).unwrap();
    }
    // A report edited after packaging, every hash in the manifest recomputed.
    let text = root.path().join("edited-text");
    assert!(Command::new("cp").arg("-r").arg(honest.join("submission")).arg(&text).status().unwrap().success());
    let html = std::fs::read_to_string(text.join("report.html")).unwrap().replacen("<p>", "<p>Beyond doubt, ", 1);
    std::fs::write(text.join("report.html"), &html).unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&std::fs::read(text.join("manifest.json")).unwrap()).unwrap();
    forged["outputs"]["report.html"] = sha256_of(html.as_bytes()).into();
    std::fs::write(text.join("manifest.json"), forged.to_string()).unwrap();
    zip_as_a_student(&text, &subs.join("edited-text.zip"), None);
    zip_as_a_student(&honest.join("submission"), &subs.join("escape.zip"), Some("submission/../../../evil.txt"));
    let whole = std::fs::read(subs.join("honest.zip")).unwrap();
    std::fs::write(subs.join("truncated.zip"), &whole[..whole.len() / 2]).unwrap();

    let class = root.path().join("class");
    let args = ["verify", subs.to_str().unwrap(), "--audit", "1", "--audit-seed", "7", "--class-dir", class.to_str().unwrap()];
    let verified = mnist_writeup(&root.path().join("unused"), &args);
    let said = format!("{}{}", String::from_utf8_lossy(&verified.stdout), stderr(&verified));
    assert!(!verified.status.success() && said.contains("4 of 5 submissions were not verified"), "{said}");
    let table = std::fs::read_to_string(class.join("verification.csv")).unwrap();
    let verdict = |name: &str| -> String {
        let line = table.lines().find(|l| l.starts_with(&format!("{name},"))).unwrap_or_else(|| panic!("no row {name}: {table}"));
        line.split(',').nth(1).unwrap().to_owned()
    };
    assert_eq!(
        verdict("honest"),
        "verified",
        "{table}\n{}",
        std::fs::read_to_string(class.join("rows/honest/log.txt")).unwrap_or_default()
    );
    assert_eq!(verdict("edited-result"), "mismatch", "{table}");
    assert!(table.contains("q2_tuned_mlp test_accuracy_mean: 0.9955 recorded"), "{table}");
    assert_eq!(verdict("edited-text"), "tampered", "{table}");
    assert_eq!(verdict("escape"), "broken", "{table}");
    assert!(table.contains("leaves the submission's folder"), "{table}");
    assert_eq!(verdict("truncated"), "broken", "{table}");
    assert!(table.contains("corrupt or truncated"), "{table}");
    assert!(table.contains("1 of "), "the trainings audited: {table}");
    let page = std::fs::read_to_string(class.join("verification.html")).unwrap();
    assert!(page.contains("Content-Security-Policy") && page.contains("rows&#x2f;honest&#x2f;certificate.html"), "{page}");
    assert!(table.contains("tampered,\"report.html: differs from a re-render"), "the submission's own paths: {table}");
    let row = class.join("rows/honest");
    assert!(row.join("certificate.json").exists() && !row.join("submission").exists() && !row.join("tmp").exists());
    // Nothing outside the scratch folders: no escaped entry, no certificate in a handed-in folder.
    let mut left: Vec<String> =
        std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["class", "edited-result", "edited-text", "honest", "subs"]);
    assert_eq!(stderr(&verified).matches("(decided before, kept)").count(), 0);
    assert!(!class.parent().unwrap().join("evil.txt").exists() && !text.join("verify").exists());
    // A training fabricated (another seed's weights, its hashes fixed) and
    // every result assembled and rendered from it again: every evaluation
    // agrees with the weights, and only re-training it shows the fraud.
    let fabricated = root.path().join("fabricated");
    assert!(Command::new("cp").arg("-r").arg(&honest).arg(&fabricated).status().unwrap().success());
    let trainings = fabricated.join("cache/trainings");
    let file_of = |prefix: &str| -> std::path::PathBuf {
        std::fs::read_dir(&trainings)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix) && p.extension().unwrap() == "json")
            .unwrap()
    };
    let (victim, donor) = (file_of("tuned-mlp-seed-2-"), file_of("tuned-mlp-seed-1-"));
    let weights = std::fs::read(donor.with_extension("weights")).unwrap();
    std::fs::write(victim.with_extension("weights"), &weights).unwrap();
    let mut entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&victim).unwrap()).unwrap();
    entry["weights_sha256"] = sha256_of(&weights).into();
    let hashed = serde_json::json!({ "history": entry["history"], "weights_sha256": entry["weights_sha256"] });
    entry["result_sha256"] = sha256_of_result(&without_timings(&hashed)).into();
    std::fs::write(&victim, entry.to_string()).unwrap();
    for result in std::fs::read_dir(fabricated.join("cache")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()) {
        std::fs::remove_file(result).unwrap();
    }
    let reassembled = mnist_writeup(&fabricated, &["build-report"]);
    assert!(reassembled.status.success(), "{}", stderr(&reassembled));
    let unsampled = mnist_writeup(&fabricated, &["verify", "--audit", "0"]);
    assert!(unsampled.status.success(), "evaluations alone cannot see it: {}", stderr(&unsampled));
    let sampled = mnist_writeup(&fabricated, &["verify", "--audit", "99", "--audit-seed", "1"]);
    assert!(
        !sampled.status.success() && stderr(&sampled).contains("training tuned-mlp-seed-2: its weights differ from the submitted ones"),
        "{}",
        stderr(&sampled)
    );

    // The same command again keeps every decided row.
    let again = mnist_writeup(&root.path().join("unused"), &args);
    assert_eq!(stderr(&again).matches("(decided before, kept)").count(), 5, "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(class.join("verification.csv")).unwrap(), table);
}

/// `GET path` from a server on loopback: the body.
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    // HTTP/1.0, so that a long page comes whole rather than in chunks.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).expect("the preview answers in UTF-8");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}

#[test]
fn preview_renders_each_save_without_training_and_names_what_is_stale_or_broken() {
    use std::io::BufRead;
    let out = tempfile::tempdir().unwrap();
    let run = mnist_writeup(out.path(), &["run", "--precision", "float32"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let cached = std::fs::read_dir(out.path().join("cache")).unwrap().count();
    // A scratch copy of what the group edits (and of the code it quotes).
    let project = tempfile::tempdir().unwrap();
    for dir in ["answers", "templates", "src"] {
        std::fs::create_dir_all(project.path().join(dir)).unwrap();
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &project.path().join(dir));
    }
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("report.toml"), project.path().join("report.toml")).unwrap();

    // The results were computed in float32: asked for bfloat16, those with
    // a bfloat16 path are stale, and shown so.
    let mut child = smoke_flags(
        &mut Command::new(env!("CARGO_BIN_EXE_mnist-writeup")),
        out.path(),
        &["preview", "--port", "0", "--precision", "bfloat16", "--project", project.path().to_str().unwrap()],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut said = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut said).unwrap();
    let address = said.trim().strip_prefix("preview: http://").and_then(|a| a.split_once('/')).map(|(a, _)| a.to_owned());
    let address = address.unwrap_or_else(|| panic!("no address: {said}"));
    let page = http_get(&address, "/");
    assert!(page.contains("Preview: not the current results."), "{page}");
    assert!(page.contains("<code>q3_cnn</code>: shown from an earlier run") && page.contains("precision changed: float32 → bfloat16"));
    assert!(page.contains("build-report --profile smoke --precision bfloat16"), "the command that refreshes them");
    assert!(page.contains("stale: precision changed"), "a stale number's source says so");
    assert!(http_get(&address, "/__preview/live.js").contains("location.reload()"));

    // A save shows in the page within seconds.
    let wait_for = |what: &str| {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(20) {
            let page = http_get(&address, "/");
            if page.contains(what) {
                return page;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("never served: {what}");
    };
    let q1 = project.path().join("answers/q1.md");
    let text = std::fs::read_to_string(&q1).unwrap();
    std::fs::write(&q1, format!("{text}\nA sentence written while the preview ran.\n")).unwrap();
    wait_for("A sentence written while the preview ran.");

    // A broken template shows its file, line and column; the next good save clears it.
    let broken = format!("{text}\n\n{{{{ q1_preprocessing.no_such_field | pct }}}}\n");
    let line = broken.lines().position(|l| l.contains("no_such_field")).unwrap() + 1;
    std::fs::write(&q1, broken).unwrap();
    let broken = wait_for("The report did not render");
    assert!(broken.contains(&format!("q1.md:{line}:")) && broken.contains("no_such_field"), "{broken}");
    std::fs::write(&q1, &text).unwrap();
    wait_for("Where each number comes from");

    // Ctrl-C stops it cleanly; nothing trained.
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let finished = child.wait_with_output().unwrap();
    let told = String::from_utf8_lossy(&finished.stderr);
    assert!(finished.status.success() && told.contains("preview: stopped"), "{told}");
    assert!(!told.contains(" ran in "), "{told}");
    assert_eq!(std::fs::read_dir(out.path().join("cache")).unwrap().count(), cached, "nothing new in the cache");
}
