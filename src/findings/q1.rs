//! Question 1's findings: whether the classes are balanced enough for
//! accuracy to summarise a classifier.

use serde::Serialize;

use crate::experiments::q1_preprocessing::Preprocessed;

/// Classes whose largest count is at most this many times the smallest are
/// called close to balanced: accuracy then weighs every class about alike.
pub const BALANCED_RATIO: f64 = 1.5;

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub balanced: bool,
    /// The largest class's training images over the smallest's.
    pub largest_over_smallest: f64,
    /// Every class's share of the training and of the test images.
    pub train_shares: Vec<f64>,
    pub test_shares: Vec<f64>,
    /// Images of all classes, training and test.
    pub train_images: usize,
    pub test_images: usize,
    /// Inputs of a dense network: the pixels of one prepared image.
    pub pixels: i64,
}

impl Findings {
    pub fn new(p: &Preprocessed) -> Findings {
        let largest_over_smallest = ratio(&p.class_counts_train);
        let shares = |counts: &[usize]| {
            let total = counts.iter().sum::<usize>().max(1) as f64;
            counts.iter().map(|&c| c as f64 / total).collect()
        };
        Findings {
            balanced: largest_over_smallest <= BALANCED_RATIO,
            largest_over_smallest,
            train_shares: shares(&p.class_counts_train),
            test_shares: shares(&p.class_counts_test),
            train_images: p.class_counts_train.iter().sum(),
            test_images: p.class_counts_test.iter().sum(),
            pixels: p.prepared_train.shape.iter().skip(1).product(),
        }
    }
}

/// The largest count over the smallest; infinite where a class is empty.
fn ratio(counts: &[usize]) -> f64 {
    let (max, min) = (counts.iter().max().copied().unwrap_or(0), counts.iter().min().copied().unwrap_or(0));
    if min == 0 { f64::INFINITY } else { max as f64 / min as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_balanced_only_when_their_counts_are_close() {
        assert!(ratio(&[100, 120, 140]) <= BALANCED_RATIO);
        assert!(ratio(&[100, 120, 151]) > BALANCED_RATIO);
        assert_eq!(ratio(&[0, 10]), f64::INFINITY, "an empty class is the most unbalanced");
    }
}
