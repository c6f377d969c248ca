//! Seeds: every random choice derives from the one master seed, so the same
//! seed gives the same numbers.

use sha2::{Digest, Sha256};

/// The master seed used unless `--seed` says otherwise.
pub const DEFAULT_SEED: u64 = 405;

/// A seed for the purpose `label` (an experiment id, a replicate, a data
/// subset), independent of every other label's.
pub fn derive(master: u64, label: &str) -> u64 {
    let digest = Sha256::new().chain_update(master.to_le_bytes()).chain_update(label.as_bytes()).finalize();
    // libtorch's manual_seed takes an i64: keep the seed within it.
    u64::from_le_bytes(digest[..8].try_into().unwrap()) >> 1
}

/// The seed of the experiment `id`.
pub fn of_experiment(master: u64, id: &str) -> u64 {
    derive(master, id)
}

/// The seed of what experiments share: the validation split and the
/// trainings that several of them use.
pub fn shared(master: u64) -> u64 {
    derive(master, "shared")
}

/// The seed that draws a profile's subset of the data.
pub fn data_subset(master: u64) -> u64 {
    derive(master, "data-subset")
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_seeds_differ_by_label_and_master() {
        assert_eq!(super::derive(1, "a"), super::derive(1, "a"));
        assert_ne!(super::derive(1, "a"), super::derive(1, "b"));
        assert_ne!(super::derive(1, "a"), super::derive(2, "a"));
        assert!(super::derive(7, "x") <= i64::MAX as u64);
    }
}
