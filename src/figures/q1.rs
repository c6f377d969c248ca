//! Question 1's figure: the first training digits with their labels.

use super::draw::{self, Classes, Figure};
use crate::experiments::q1_preprocessing::Preprocessed;

/// The sample digits, twelve a row.
pub fn preprocessing(result: &Preprocessed, classes: &Classes) -> anyhow::Result<Vec<Figure>> {
    let digits: Vec<(String, &[u8])> = result.samples.iter().map(|s| (classes.name(s.label), s.pixels.as_slice())).collect();
    Ok(vec![draw::digit_grid("q1_samples", &digits, 12)?])
}
