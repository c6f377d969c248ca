//! The code that computes each result: build.rs hashes every source file on
//! the computing side and, for each experiment's file, the files it reaches
//! through its imports. A result is keyed by those hashes, so editing a
//! module re-runs exactly the experiments that use it, while edits to the
//! figures, the report, the answers or the templates keep every result.

use std::collections::BTreeMap;

include!(concat!(env!("OUT_DIR"), "/sources.rs"));
// SOURCES hashes each file's code without its comment lines and tests, so
// that documenting a module keeps every result.

/// The computing files behind the experiment defined in `experiment_file`
/// (as `file!()` names it), each with its SHA-256.
pub fn fingerprint(experiment_file: &str) -> BTreeMap<String, String> {
    let closure = CLOSURES.iter().find(|(root, _)| *root == experiment_file).map_or(&[][..], |(_, files)| *files);
    closure
        .iter()
        .map(|file| {
            let hash = SOURCES.iter().find(|(f, _)| f == file).map_or("", |(_, h)| *h);
            ((*file).to_owned(), hash.to_owned())
        })
        .collect()
}

/// What of a source file's `text` is fingerprinted, as build.rs reads it:
/// its lines before the tests, without comment lines.
pub fn code_of(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    before_tests.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The SHA-256 by which a source file's `text` is fingerprinted.
pub fn hash_of_source(text: &str) -> String {
    use sha2::Digest;
    crate::data::hex(&sha2::Sha256::digest(code_of(text).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_experiment_covers_its_own_file_and_what_it_imports_and_nothing_that_only_draws() {
        let q1 = fingerprint("src/experiments/q1_preprocessing.rs");
        let q2 = fingerprint("src/experiments/q2_mlp.rs");
        let q3 = fingerprint("src/experiments/q3_cnn.rs");
        let q4 = fingerprint("src/experiments/q4_autoencoder.rs");
        for (name, files) in [("q1", &q1), ("q2", &q2), ("q3", &q3), ("q4", &q4)] {
            assert!(files.keys().any(|f| f.starts_with(&format!("src/experiments/{name}_"))), "{name}: {files:?}");
            assert!(files.contains_key("src/experiment.rs"), "{name}: the Experiment trait and Context");
            assert!(files.values().all(|h| h.len() == 64), "{name}: {files:?}");
            for drawing in [
                "src/findings/mod.rs",
                "src/findings/shared.rs",
                "src/figures/mod.rs",
                "src/figures/draw.rs",
                "src/figures/q3.rs",
                "src/report/mod.rs",
                "src/manifest.rs",
                "src/runner.rs",
                "src/main.rs",
            ] {
                assert!(!files.contains_key(drawing), "{name} depends on {drawing}");
            }
        }
        // Through `use crate::train::...` and `crate::models::cnn::...`.
        assert!(q2.contains_key("src/train/mod.rs") && q2.contains_key("src/models/batched_mlp.rs"), "{q2:?}");
        assert!(q3.contains_key("src/models/cnn.rs") && q3.contains_key("src/shift.rs"), "{q3:?}");
        assert!(!q2.contains_key("src/noise.rs") && !q3.contains_key("src/models/autoencoder.rs"), "{q2:?} {q3:?}");
        assert!(q4.contains_key("src/noise.rs") && q4.contains_key("src/models/autoencoder.rs"), "{q4:?}");
        assert!(!q1.contains_key("src/models/cnn.rs"));
        assert!(fingerprint("src/experiments/nothing.rs").is_empty());
    }

    /// A cycle of imports among the source files, if there is one.
    fn find_cycle() -> Option<Vec<&'static str>> {
        fn visit(
            file: &'static str,
            path: &mut Vec<&'static str>,
            done: &mut std::collections::BTreeSet<&'static str>,
        ) -> Option<Vec<&'static str>> {
            if let Some(at) = path.iter().position(|f| *f == file) {
                return Some([&path[at..], &[file]].concat());
            }
            if done.contains(file) {
                return None;
            }
            path.push(file);
            let deps = IMPORTS.iter().find(|(f, _)| *f == file).map_or(&[][..], |(_, d)| *d);
            for dep in deps {
                if let Some(cycle) = visit(dep, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(file);
            None
        }
        let mut done = std::collections::BTreeSet::new();
        IMPORTS.iter().find_map(|(file, _)| visit(file, &mut Vec::new(), &mut done))
    }

    #[test]
    fn the_modules_import_in_one_direction_and_no_question_imports_another() {
        assert!(IMPORTS.len() > 30, "every source file is scanned: {}", IMPORTS.len());
        assert_eq!(find_cycle(), None);
        let imports_of = |file: &str| IMPORTS.iter().find(|(f, _)| *f == file).map_or(&[][..], |(_, d)| *d);
        let questions: Vec<&str> = IMPORTS.iter().map(|(f, _)| *f).filter(|f| f.starts_with("src/experiments/q")).collect();
        assert_eq!(questions.len(), 4, "{questions:?}");
        for q in &questions {
            let others: Vec<&&str> = imports_of(q).iter().filter(|d| d.starts_with("src/experiments/")).collect();
            assert!(others.is_empty(), "{q} imports {others:?}");
        }
        // The layers below the experiments never reach up into them, the
        // runner, the report or the manifest.
        for lower in ["src/train/mod.rs", "src/recipe.rs", "src/study.rs", "src/networks.rs", "src/models/cnn.rs", "src/checkpoint.rs"] {
            for upper in ["src/experiment.rs", "src/experiments/mod.rs", "src/runner.rs", "src/report/mod.rs", "src/manifest.rs"] {
                assert!(!imports_of(lower).contains(&upper), "{lower} imports {upper}");
            }
        }
        // The scan sees what it must: a question's shared layers, and a
        // module's use of its own children.
        assert!(imports_of("src/experiments/q3_cnn.rs").contains(&"src/study.rs"));
        assert!(imports_of("src/report/mod.rs").contains(&"src/report/markdown.rs"));
        assert!(imports_of("src/experiments/mod.rs").contains(&"src/experiments/q2_mlp.rs"));
    }

    #[test]
    fn nothing_that_computes_or_caches_a_result_imports_the_figures() {
        let imports_of = |file: &str| IMPORTS.iter().find(|(f, _)| *f == file).map_or(&[][..], |(_, d)| *d);
        let computing: Vec<&str> =
            IMPORTS.iter().map(|(f, _)| *f).filter(|f| f.starts_with("src/experiments/") || *f == "src/experiment.rs").collect();
        assert!(computing.len() >= 6, "{computing:?}");
        for file in computing.into_iter().chain(["src/runner.rs", "src/cache.rs"]) {
            let drawing: Vec<&&str> = imports_of(file).iter().filter(|d| d.starts_with("src/figures")).collect();
            assert!(drawing.is_empty(), "{file} imports {drawing:?}");
        }
        // The scan sees the figures' own imports: the dispatch reads the
        // experiments' types, and each question's module the helpers.
        assert!(imports_of("src/figures/mod.rs").contains(&"src/experiments/q3_cnn.rs"));
        assert!(imports_of("src/figures/q3.rs").contains(&"src/figures/draw.rs"));
    }

    /// What changes a number: drawing data or seeds, or computing with
    /// tensors. A module outside every fingerprint may not do it, or a
    /// result would stay cached after an edit that changes it.
    const CHANGES_NUMBERS: &[&str] = &[
        "seed::derive(",
        ".subset(",
        "manual_seed",
        "Tensor::",
        "tch::nn",
        "VarStore",
        ".forward(",
        ".forward_t(",
        "ChaCha",
        "SeedableRng",
    ];

    fn numbers_changed_in(file: &str) -> Vec<&'static str> {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        CHANGES_NUMBERS.iter().copied().filter(|call| code.contains(call)).collect()
    }

    #[test]
    fn no_file_outside_the_fingerprints_draws_data_or_seeds_or_computes_with_tensors() {
        // `bench` times trainings and writes no result; `runner` asks the
        // computing modules for the seeds and the profile's subset by name.
        let computing: Vec<&str> = SOURCES.iter().map(|(f, _)| *f).collect();
        let mut outside = Vec::new();
        for (file, _) in IMPORTS.iter().filter(|(f, _)| !computing.contains(f) && !f.starts_with("src/bench/") && !f.ends_with("_tests.rs"))
        {
            let found = numbers_changed_in(file);
            if !found.is_empty() {
                outside.push(format!("{file}: {}", found.join(", ")));
            }
        }
        assert!(outside.is_empty(), "move these into a computing module (see build.rs NOT_COMPUTING): {outside:#?}");
        // The check sees what it guards against.
        assert!(numbers_changed_in("src/data.rs").contains(&".subset("));
    }

    #[test]
    fn every_computing_file_is_hashed_as_it_is_now() {
        for (file, hash) in SOURCES {
            let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + file).unwrap();
            assert_eq!(hash_of_source(&text), *hash, "{file}: comments and tests aside");
        }
        assert_ne!(hash_of_source("fn a() {}"), hash_of_source("fn a() { 1; }"));
        assert_eq!(hash_of_source("fn a() {}\n// note"), hash_of_source("fn a() {}\n#[cfg(test)]\nmod tests {}"));
    }
}
