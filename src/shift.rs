//! Translations of 28x28 images by whole pixels, with zeros shifted in:
//! random per-image shifts for data augmentation, and a fixed shift of the
//! whole test set for measuring robustness to translation. Also random small
//! rotations and scalings about the centre (bilinear, zeros outside), the
//! other augmentation a digit survives.

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
    let padded = images.view([n, side, side]).constant_pad_nd([MAX_SHIFT, MAX_SHIFT, MAX_SHIFT, MAX_SHIFT]).view([n, PADDED * PADDED]);
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
    // region: random-shift
    let n = images.size()[0];
    let offsets: Vec<i64> = (0..2 * n).map(|_| rng.random_range(-max..=max)).collect();
    shift(images, &Tensor::from_slice(&offsets).view([n, 2]).to_device(images.device()))
    // endregion: random-shift
}

/// Control points per side of the elastic displacement field: a coarse grid
/// of random displacements, interpolated bilinearly in between, bends a digit
/// smoothly without a blur over a per-pixel field.
pub const ELASTIC_POINTS: i64 = 4;

/// Every image of the batch rotated by its own random angle in
/// `-max_degrees..=max_degrees`, scaled by its own factor in
/// `1 - max_scale..=1 + max_scale` about the image centre, and bent by its
/// own smooth field that moves each control point by up to `max_elastic`
/// pixels along either axis.
pub fn random_distort(images: &Tensor, max_degrees: f64, max_scale: f64, max_elastic: f64, rng: &mut ChaCha8Rng) -> Tensor {
    if max_degrees == 0.0 && max_scale == 0.0 && max_elastic == 0.0 {
        return images.shallow_clone();
    }
    let mut draw = |max: f64| if max > 0.0 { rng.random_range(-max..=max) } else { 0.0 };
    let n = images.size()[0];
    let transforms: Vec<(f64, f64)> = (0..n).map(|_| (draw(max_degrees), 1.0 + draw(max_scale))).collect();
    let displacements = (max_elastic > 0.0).then(|| {
        let points: Vec<f32> = (0..n * 2 * ELASTIC_POINTS * ELASTIC_POINTS).map(|_| draw(max_elastic) as f32).collect();
        Tensor::from_slice(&points).view([n, 2, ELASTIC_POINTS, ELASTIC_POINTS]).to_device(images.device())
    });
    warp(images, &transforms, displacements.as_ref())
}

/// Images (N, 784) each rotated counter-clockwise by its (degrees, scale)
/// pair's angle and scaled by its factor about the centre, bilinearly; then
/// each output pixel sampled further away by the displacement (in pixels, x
/// then y) that `displacements` (N, 2, k, k) gives it when interpolated over
/// the image.
fn warp(images: &Tensor, transforms: &[(f64, f64)], displacements: Option<&Tensor>) -> Tensor {
    let n = images.size()[0];
    let side = SIDE as i64;
    let device = images.device();
    // The grid maps each output pixel to where it samples the input (x to
    // the right, y down): the inverse of the transform, a 2x2 matrix per image.
    let inverses: Vec<f32> = transforms
        .iter()
        .flat_map(|&(degrees, scale)| {
            let (sin, cos) = degrees.to_radians().sin_cos();
            [cos / scale, -sin / scale, sin / scale, cos / scale].map(|v| v as f32)
        })
        .collect();
    let inverse = Tensor::from_slice(&inverses).view([n, 4, 1, 1]).to_device(device);
    // Pixel centres in the grid's units, where the image spans -1..1. Built
    // by broadcasting: `affine_grid_generator` takes a batched matrix product
    // with an inner size of 3, several times slower for the same values.
    let centres = (Tensor::arange(side, (Kind::Float, device)) * 2.0 + 1.0) / side as f64 - 1.0;
    let (across, down) = (centres.view([1, 1, side]), centres.view([1, side, 1]));
    let mut x = inverse.select(1, 0) * &across + inverse.select(1, 1) * &down;
    let mut y = inverse.select(1, 2) * &across + inverse.select(1, 3) * &down;
    if let Some(d) = displacements {
        let weights = interpolation_weights(d.size()[2]).to_device(device);
        // Bilinear over the control points, in the grid's units (a pixel is 2 / side).
        let field = Tensor::einsum("ip,ncpq,jq->ncij", &[&weights, d, &weights], None::<i64>) * (2.0 / side as f64);
        x += field.select(1, 0);
        y += field.select(1, 1);
    }
    let grid = Tensor::stack(&[x, y], 3);
    images.view([n, 1, side, side]).grid_sampler(&grid, 0, 0, false).view([n, PIXELS as i64])
}

/// (28, k) weights that interpolate k control points linearly over a side
/// of the image, the first and last points on its edge pixels, as
/// `upsample_bilinear2d` with `align_corners` does along each axis.
fn interpolation_weights(points: i64) -> Tensor {
    let k = points as usize;
    let mut weights = vec![0f32; SIDE * k];
    for pixel in 0..SIDE {
        let at = pixel as f64 * (k - 1) as f64 / (SIDE - 1) as f64;
        let before = (at.floor() as usize).min(k - 2);
        let past = at - before as f64;
        weights[pixel * k + before] += (1.0 - past) as f32;
        weights[pixel * k + before + 1] += past as f32;
    }
    Tensor::from_slice(&weights).view([SIDE as i64, points])
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

    #[test]
    fn rotations_turn_about_the_centre_and_scalings_grow_from_it() {
        // A one-pixel dot right of the centre (x = 19.5 against 14 in pixel
        // centres; the image centre is at 13.5, 13.5).
        let image = dot(13, 19);
        let turned = warp(&image, &[(90.0, 1.0)], None);
        // Counter-clockwise on screen: from right of the centre to above it.
        let (row, col) = brightest(&turned);
        assert_eq!((row, col), (8, 13), "moved to above the centre");
        let ink = |t: &Tensor| t.sum(Kind::Float).double_value(&[]);
        assert!((ink(&turned) - 1.0).abs() < 1e-4, "a quarter turn maps pixels onto pixels");
        let doubled = warp(&image, &[(0.0, 2.0)], None);
        let (row, col) = brightest(&doubled);
        assert!((12..=13).contains(&row) && col >= 24, "twice as far from the centre: {:?}", (row, col));
        assert!(warp(&image, &[(0.0, 1.0)], None).allclose(&image, 1e-6, 1e-6, false), "identity");
    }

    #[test]
    fn a_displacement_field_moves_pixels_by_its_interpolated_value() {
        let image = dot(13, 19);
        let points = |x: f32, y: f32| {
            let field = Tensor::from_slice(&[x, y]).view([1, 2, 1, 1]);
            field.expand([1, 2, ELASTIC_POINTS, ELASTIC_POINTS], false).contiguous()
        };
        // Each pixel samples the input one pixel to its right and two below:
        // the content moves one left and two up.
        let moved = warp(&image, &[(0.0, 1.0)], Some(&points(1.0, 2.0)));
        assert_eq!(bright_pixel(&moved), Some((11, 18)));
        assert!(warp(&image, &[(0.0, 1.0)], Some(&points(0.0, 0.0))).allclose(&image, 1e-6, 1e-6, false), "no displacement");
    }

    #[test]
    fn random_bends_differ_per_image_and_stay_within_their_bound() {
        let images = Tensor::cat(&[dot(14, 14), dot(14, 14)], 0);
        let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(3), ChaCha8Rng::seed_from_u64(3));
        let bent = random_distort(&images, 0.0, 0.0, 1.5, &mut a);
        assert!(bent.equal(&random_distort(&images, 0.0, 0.0, 1.5, &mut b)), "the same seed, the same fields");
        assert!(!bent.get(0).allclose(&bent.get(1), 1e-6, 1e-6, false), "each image draws its own field");
        for i in 0..2 {
            let (row, col) = brightest(&bent.get(i));
            assert!(row.abs_diff(14) <= 2 && col.abs_diff(14) <= 2, "moved at most 1.5 pixels each way: {:?}", (row, col));
        }
    }

    #[test]
    fn random_rotations_are_drawn_per_image_from_the_seed() {
        let images = Tensor::cat(&[dot(10, 20), dot(10, 20)], 0);
        let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(5), ChaCha8Rng::seed_from_u64(5));
        let once = random_distort(&images, 10.0, 0.1, 0.0, &mut a);
        assert!(once.equal(&random_distort(&images, 10.0, 0.1, 0.0, &mut b)), "the same seed, the same transforms");
        assert!(!once.get(0).equal(&once.get(1)), "each image draws its own transform");
        assert!(random_distort(&images, 0.0, 0.0, 0.0, &mut a).equal(&images));
    }

    #[test]
    fn the_warp_samples_where_affine_grid_and_bilinear_upsampling_would() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 5;
        let images = Tensor::rand([n, PIXELS as i64], tch::kind::FLOAT_CPU);
        let transforms: Vec<(f64, f64)> = (0..n).map(|_| (rng.random_range(-30.0..30.0), rng.random_range(0.8..1.2))).collect();
        let points: Vec<f32> = (0..n * 2 * ELASTIC_POINTS * ELASTIC_POINTS).map(|_| rng.random_range(-2.0..2.0)).collect();
        let displacements = Tensor::from_slice(&points).view([n, 2, ELASTIC_POINTS, ELASTIC_POINTS]);
        let theta: Vec<f32> = transforms
            .iter()
            .flat_map(|&(degrees, scale)| {
                let (sin, cos) = f64::to_radians(degrees).sin_cos();
                [cos / scale, -sin / scale, 0.0, sin / scale, cos / scale, 0.0].map(|v| v as f32)
            })
            .collect();
        let side = SIDE as i64;
        let grid = Tensor::affine_grid_generator(&Tensor::from_slice(&theta).view([n, 2, 3]), [n, 1, side, side], false)
            + displacements.upsample_bilinear2d([side, side], true, None, None).permute([0, 2, 3, 1]) * (2.0 / side as f64);
        let library = images.view([n, 1, side, side]).grid_sampler(&grid, 0, 0, false).view([n, PIXELS as i64]);
        let ours = warp(&images, &transforms, Some(&displacements));
        let gap = (ours - &library).abs().max().double_value(&[]);
        assert!(gap < 1e-5, "the warps differ by {gap}");
        assert!(library.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }

    fn brightest(image: &Tensor) -> (usize, usize) {
        let i = image.flatten(0, -1).argmax(0, false).int64_value(&[]) as usize;
        (i / SIDE, i % SIDE)
    }
}
