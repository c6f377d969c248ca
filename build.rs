//! Puts libtorch's lib dir into the binary's rpath, so that no user ever sets
//! LD_LIBRARY_PATH, and refuses a libtorch of the wrong version.

use std::path::Path;

const TORCH_VERSION: &str = "2.13.0";
const FIX: &str = "run `scripts/setup.sh` (it installs torch==2.13.0 into a venv under ~/.cache and links it as .libtorch)";

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report where libtorch is: {FIX}");
    };
    let lib_dir = Path::new(&lib_dir);
    let version_py = lib_dir.join("../version.py");
    if let Ok(text) = std::fs::read_to_string(&version_py) {
        let found = text
            .lines()
            .find_map(|l| l.strip_prefix("__version__ = "))
            .map(|v| v.trim_matches(['\'', '"']).split('+').next().unwrap_or("").to_owned());
        if let Some(found) = found {
            if found != TORCH_VERSION {
                panic!("libtorch at {} is version {found}, this build needs {TORCH_VERSION}: {FIX}", lib_dir.display());
            }
        }
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    // Keep libtorch_cuda linked although no symbol of it is named, so that
    // `Device::cuda_if_available` sees a GPU when there is one.
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
