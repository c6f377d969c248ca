//! Translations of 28x28 images by whole pixels, with zeros shifted in:
//! random per-image shifts for data augmentation, and a fixed shift of the
//! whole test set for measuring robustness to translation.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::data::{PIXELS, SIDE};

/// The largest shift, in pixels along either axis, that `shift` supports.
pub const MAX_SHIFT: i64 = 4;
const PADDED: i64 = SIDE as i64 + 2 * MAX_SHIFT;

/// Images (N, 784) moved by (down, right) pixels; `offsets` is (N, 2) or
/// (1, 2) int64 rows of (down, right), each within `MAX_SHIFT`.
pub fn shift(images: &Tensor, offsets: &Tensor) -> Tensor {
    let n = images.size()[0];
    let side = SIDE as i64;
    let padded = images
        .view([n, side, side])
        .constant_pad_nd([MAX_SHIFT, MAX_SHIFT, MAX_SHIFT, MAX_SHIFT])
        .view([n, PADDED * PADDED]);
    let grid = Tensor::arange(side, (Kind::Int64, images.device()));
    let base = (grid.view([side, 1]) * PADDED + grid.view([1, side])).view([1, PIXELS as i64]);
    let down = offsets.narrow(1, 0, 1);
    let right = offsets.narrow(1, 1, 1);
    let index = base + (-down + MAX_SHIFT) * PADDED + (-right + MAX_SHIFT);
    padded.gather(1, &index.expand([n, PIXELS as i64], false), false)
}

/// Every image of the batch moved by its own random (down, right), each in
/// `-max..=max`.
pub fn random_shift(images: &Tensor, max: i64, rng: &mut ChaCha8Rng) -> Tensor {
    assert!((0..=MAX_SHIFT).contains(&max), "shifts of at most {MAX_SHIFT} pixels");
    if max == 0 {
        return images.shallow_clone();
    }
    let n = images.size()[0];
    let offsets: Vec<i64> = (0..2 * n).map(|_| rng.random_range(-max..=max)).collect();
    shift(images, &Tensor::from_slice(&offsets).view([n, 2]).to_device(images.device()))
}

/// The whole batch moved by the same (down, right).
pub fn shift_all(images: &Tensor, down: i64, right: i64) -> Tensor {
    shift(images, &Tensor::from_slice(&[down, right]).view([1, 2]).to_device(images.device()))
}

/// The four directions the robustness test moves the test set in, as unit
/// (down, right) steps with their names.
pub const DIRECTIONS: [(&str, i64, i64); 4] = [("left", 0, -1), ("right", 0, 1), ("up", -1, 0), ("down", 1, 0)];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A 28x28 image, zero but for one bright pixel at (row, col).
    fn dot(row: usize, col: usize) -> Tensor {
        let mut pixels = vec![0f32; PIXELS];
        pixels[row * SIDE + col] = 1.0;
        Tensor::from_slice(&pixels).view([1, PIXELS as i64])
    }

    fn bright_pixel(image: &Tensor) -> Option<(usize, usize)> {
        let values = Vec::<f32>::try_from(image.flatten(0, -1)).unwrap();
        let hits: Vec<usize> = values.iter().enumerate().filter(|(_, v)| **v == 1.0).map(|(i, _)| i).collect();
        assert!(hits.len() <= 1);
        hits.first().map(|&i| (i / SIDE, i % SIDE))
    }

    #[test]
    fn a_known_image_moves_by_a_known_amount() {
        let image = dot(10, 12);
        assert_eq!(bright_pixel(&shift_all(&image, 0, 0)), Some((10, 12)));
        assert_eq!(bright_pixel(&shift_all(&image, 3, 0)), Some((13, 12)));
        assert_eq!(bright_pixel(&shift_all(&image, 0, -4)), Some((10, 8)));
        assert_eq!(bright_pixel(&shift_all(&image, -2, 1)), Some((8, 13)));
        // Everything else is zero, so the sum is the one pixel.
        assert_eq!(shift_all(&image, -2, 1).sum(Kind::Float).double_value(&[]), 1.0);
    }

    #[test]
    fn pixels_shifted_out_of_the_frame_are_lost_and_zeros_come_in() {
        let corner = dot(27, 27);
        assert_eq!(bright_pixel(&shift_all(&corner, 1, 0)), None);
        assert_eq!(bright_pixel(&shift_all(&corner, 0, -4)), Some((27, 23)));
        let full = Tensor::ones([1, PIXELS as i64], tch::kind::FLOAT_CPU);
        let moved = shift_all(&full, 0, 2);
        // Two columns of zeros enter on the left.
        assert_eq!(moved.sum(Kind::Float).double_value(&[]), (PIXELS - 2 * SIDE) as f64);
        assert_eq!(moved.view([SIDE as i64, SIDE as i64]).narrow(1, 0, 2).sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn random_shifts_move_each_image_by_its_own_offset_within_the_bound() {
        let images = Tensor::cat(&[dot(14, 14), dot(14, 14), dot(14, 14), dot(14, 14)], 0);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let moved = random_shift(&images, 2, &mut rng);
        let mut positions = Vec::new();
        for i in 0..4 {
            let (r, c) = bright_pixel(&moved.get(i)).unwrap();
            assert!(r.abs_diff(14) <= 2 && c.abs_diff(14) <= 2, "({r}, {c})");
            positions.push((r, c));
        }
        let mut again = ChaCha8Rng::seed_from_u64(9);
        assert!(random_shift(&images, 2, &mut again).equal(&moved), "the same seed gives the same shifts");
        assert!(random_shift(&images, 0, &mut again).equal(&images));
    }
}
