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
            assert!(files.contains_key("src/experiments/mod.rs"), "{name}: the Experiment trait and Context");
            assert!(files.values().all(|h| h.len() == 64), "{name}: {files:?}");
            for drawing in ["src/figures.rs", "src/report/mod.rs", "src/manifest.rs", "src/runner.rs", "src/main.rs"] {
                assert!(!files.contains_key(drawing), "{name} depends on {drawing}");
            }
        }
        // Through `use crate::train::...` and `crate::models::cnn::...`.
        assert!(q2.contains_key("src/train.rs") && q2.contains_key("src/models/batched_mlp.rs"), "{q2:?}");
        assert!(q3.contains_key("src/models/cnn.rs") && q3.contains_key("src/shift.rs"), "{q3:?}");
        assert!(!q2.contains_key("src/noise.rs") && !q3.contains_key("src/models/autoencoder.rs"), "{q2:?} {q3:?}");
        assert!(q4.contains_key("src/noise.rs") && q4.contains_key("src/models/autoencoder.rs"), "{q4:?}");
        assert!(!q1.contains_key("src/models/cnn.rs"));
        assert!(fingerprint("src/experiments/nothing.rs").is_empty());
    }

    #[test]
    fn every_computing_file_is_hashed_as_it_is_now() {
        use sha2::Digest;
        for (file, hash) in SOURCES {
            let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + file).unwrap();
            let code: Vec<&str> = text.split("#[cfg(test)]").next().unwrap().lines().filter(|l| !l.trim_start().starts_with("//")).collect();
            assert_eq!(crate::data::hex(&sha2::Sha256::digest(code.join("\n").as_bytes())), *hash, "{file}: comments and tests aside");
        }
    }
}
