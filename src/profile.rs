//! Run profiles: the assignment's exact settings (`full`), the same data with
//! fewer epochs (`quick`), and a small subset that runs in seconds (`smoke`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Full,
    Quick,
    Smoke,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Full => "full",
            Profile::Quick => "quick",
            Profile::Smoke => "smoke",
        }
    }

    /// Training images used (all 60,000 but in `smoke`).
    pub fn train_images(self) -> usize {
        match self {
            Profile::Smoke => 2_000,
            _ => 60_000,
        }
    }

    /// Images held out of the training images as the validation split of
    /// every study that chooses on validation accuracy: a twelfth.
    pub fn validation_images(self) -> usize {
        self.train_images() / 12
    }

    /// Test images used (all 10,000 but in `smoke`).
    pub fn test_images(self) -> usize {
        match self {
            Profile::Smoke => 1_000,
            _ => 10_000,
        }
    }

    /// Epochs for an experiment the assignment sets to `assignment_epochs`.
    pub fn epochs(self, assignment_epochs: usize) -> usize {
        match self {
            Profile::Full => assignment_epochs,
            Profile::Quick => assignment_epochs.div_ceil(4).max(2),
            Profile::Smoke => 2,
        }
    }

    /// Replicates for an experiment the assignment repeats `assignment_replicates` times.
    pub fn replicates(self, assignment_replicates: usize) -> usize {
        match self {
            Profile::Full => assignment_replicates,
            Profile::Quick | Profile::Smoke => assignment_replicates.min(2),
        }
    }
}

/// Fails with `what` unless `count` is at least one.
pub fn at_least_one(count: usize, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(count >= 1, "{what} is 0 in this profile; it must be at least 1");
    Ok(())
}
