//! Puts libtorch's lib dir into the binary's rpath, so that no user ever sets
//! LD_LIBRARY_PATH, and refuses a libtorch of the wrong version.

use std::path::Path;

const TORCH_VERSION: &str = "2.13.0";
const FIX: &str = "run `scripts/setup.sh` (it installs torch==2.13.0 into a venv under ~/.cache and links it as .libtorch)";

fn main() {
    record_versions();
    fingerprint_sources();
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report where libtorch is: {FIX}");
    };
    let lib_dir = Path::new(&lib_dir);
    let version_py = lib_dir.join("../version.py");
    println!("cargo:rerun-if-changed={}", version_py.display());
    let text = std::fs::read_to_string(&version_py).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix('=').map(|v| v.trim().trim_matches(['\'', '"']).to_owned()))
    };
    if let Some(found) = field("__version__") {
        if found.split('+').next() != Some(TORCH_VERSION) {
            panic!("libtorch at {} is version {found}, this build needs {TORCH_VERSION}: {FIX}", lib_dir.display());
        }
        // The build a grader needs to know of: the full version (with its
        // CUDA tag) and the commit it was built from.
        let commit = field("git_version").map(|c| format!(", git {}", &c[..c.len().min(12)])).unwrap_or_default();
        println!("cargo:rustc-env=MNIST_WRITEUP_LIBTORCH_BUILD={found}{commit}");
    } else {
        println!("cargo:rustc-env=MNIST_WRITEUP_LIBTORCH_BUILD={TORCH_VERSION} (build unknown)");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    // Keep libtorch_cuda linked although no symbol of it is named, so that
    // `Device::cuda_if_available` sees a GPU when there is one.
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}

/// The versions a grader needs to reproduce a run, as compile-time
/// environment variables: rustc's, and tch's and typst's from Cargo.lock.
fn record_versions() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("cargo:rustc-env=MNIST_WRITEUP_RUSTC={version}");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (krate, var) in [("tch", "TCH"), ("typst", "TYPST")] {
        let needle = format!("name = \"{krate}\"\nversion = \"");
        let found = lock.find(&needle).map(|at| {
            let rest = &lock[at + needle.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        });
        println!("cargo:rustc-env=MNIST_WRITEUP_{var}={}", found.unwrap_or_else(|| "unknown".into()));
    }
    println!("cargo:rustc-env=MNIST_WRITEUP_LIBTORCH={TORCH_VERSION}");
}

/// Modules that draw, render, store or report results: editing them never
/// changes a number, so no experiment's fingerprint covers them.
const NOT_COMPUTING: &[&str] = &["figures", "findings", "report", "manifest", "bench", "runner", "package", "cache", "main", "preview"];

/// Writes `$OUT_DIR/sources.rs`: the SHA-256 of the code of every source
/// file on the computing side (see `code_of`), and for each experiment file the files it reaches
/// through `crate::` and `super::` paths (itself included, tests left out).
fn fingerprint_sources() {
    use sha2::{Digest, Sha256};
    use std::collections::{BTreeMap, BTreeSet};
    println!("cargo:rerun-if-changed=src");
    let mut files = Vec::new();
    collect_rs(Path::new("src"), &mut files);
    let computing: BTreeMap<String, String> = files
        .iter()
        .filter(|f| {
            let module = f.trim_start_matches("src/").split(['/', '.']).next().unwrap_or("");
            !NOT_COMPUTING.contains(&module)
        })
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            (f.clone(), code_of(&text))
        })
        .collect();
    let hashes: BTreeMap<&String, String> =
        computing.iter().map(|(f, code)| (f, Sha256::digest(code.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())).collect();
    let mut out = String::from("/// (file, SHA-256 of its code without tests) for every computing source file.\n");
    out += "pub const SOURCES: &[(&str, &str)] = &[\n";
    for (f, h) in &hashes {
        out += &format!("    ({f:?}, {h:?}),\n");
    }
    out += "];\n\n/// Per experiment file, every computing file it depends on, itself included.\n";
    out += "pub const CLOSURES: &[(&str, &[&str])] = &[\n";
    // Experiments' files, and the recipe's: a training shared by experiments is keyed by the code that trains it.
    for root in computing.keys().filter(|f| (f.starts_with("src/experiments/") && !f.ends_with("mod.rs")) || *f == "src/recipe.rs") {
        let mut seen = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(f) = todo.pop() {
            if !seen.insert(f.clone()) {
                continue;
            }
            for dep in imports(&f, &computing[&f]) {
                if computing.contains_key(&dep) && !seen.contains(&dep) {
                    todo.push(dep);
                }
            }
        }
        out += &format!("    ({root:?}, &{:?}),\n", seen.iter().collect::<Vec<_>>());
    }
    out += "];\n\n/// Per source file (tests left out), the source files it imports.\n";
    out += "#[cfg_attr(not(test), allow(dead_code))]\npub const IMPORTS: &[(&str, &[&str])] = &[\n";
    for f in &files {
        let code = code_of(&std::fs::read_to_string(f).unwrap_or_default());
        let mut deps: Vec<String> = imports(f, &code).into_iter().filter(|d| d != f).collect();
        deps.sort();
        deps.dedup();
        out += &format!("    ({f:?}, &{deps:?}),\n");
    }
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("sources.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// What of a source file can change a result: its lines before the tests,
/// without comment lines (doc comments included).
fn code_of(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    before_tests.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn collect_rs(dir: &Path, files: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path.display().to_string());
        }
    }
}

/// The source files that the `crate::` and `super::` paths in `code` (the
/// text of `file`) name: a module's file, and its child module's file where
/// the path goes on into one (`crate::models::cnn::Cnn`, or an item of a
/// `{...}` group, `crate::models::{self, cnn::Cnn}`).
fn imports(file: &str, code: &str) -> Vec<String> {
    // The directory that `super::` names for this file's module.
    let parent = Path::new(file).parent().unwrap_or(Path::new("src"));
    let super_dir = if file.ends_with("mod.rs") { parent.parent().unwrap_or(Path::new("src")) } else { parent };
    let module_file = |dir: &Path, name: &str| -> Vec<String> {
        [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")]
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect()
    };
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Path::new("src")), ("super::", super_dir)] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let (base, rest) = if prefix == "super::" {
                // `super::x` names the sibling module x where there is one,
                // else an item of the parent module (its mod.rs).
                if module_file(base, &ident(rest)).is_empty() {
                    found.extend(module_file(base.parent().unwrap_or(base), base.file_name().map_or("", |n| n.to_str().unwrap_or(""))));
                }
                (base.to_path_buf(), rest)
            } else {
                let top = ident(rest);
                found.extend(module_file(base, &top));
                (base.join(&top), rest[top.len()..].strip_prefix("::").unwrap_or(""))
            };
            let children: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group.split(',').map(|item| ident(item.trim())).collect()
            } else {
                vec![ident(rest)]
            };
            for child in children.iter().filter(|c| !c.is_empty() && c.as_str() != "self") {
                found.extend(module_file(&base, child));
            }
        }
    }
    // A module's own children, named without a prefix (`answers::render`
    // in report/mod.rs after `pub mod answers;`).
    let own_dir = if file.ends_with("mod.rs") || file == "src/main.rs" {
        parent.to_path_buf()
    } else {
        parent.join(Path::new(file).file_stem().unwrap_or_default())
    };
    for line in code.lines() {
        let decl = line.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
        if let Some(child) = decl.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')) {
            let used = code
                .match_indices(&format!("{child}::"))
                .any(|(at, _)| !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':'));
            if used {
                found.extend(module_file(&own_dir, child));
            }
        }
    }
    found
}
