//! The notebook's salt-and-pepper noise, drawn from rand_chacha.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// At `level` p, each pixel is kept with probability 1 - p; otherwise it is
/// set to 1 (salt) with probability p and to 0 (pepper) with 1 - p, exactly
/// as the notebook's `input * a + (a == 0) * b` with `a ~ B(1, 1-p)` and
/// `b ~ B(1, p)`. `images` holds values in [0, 1]; the result has its shape.
pub fn salt_and_pepper(images: &Tensor, level: f64, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pixels = Vec::<f32>::try_from(images.to_device(tch::Device::Cpu).flatten(0, -1)).expect("float32 images");
    // region: salt-and-pepper
    let noisy: Vec<f32> = pixels
        .iter()
        .map(|&x| {
            let keep = rng.random_bool(1.0 - level);
            let salt = rng.random_bool(level);
            if keep {
                x
            } else if salt {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    // endregion: salt-and-pepper
    Tensor::from_slice(&noisy).view(images.size().as_slice()).to_device(images.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn replaces_a_fraction_p_of_which_a_fraction_p_becomes_salt() {
        // Pixels of 0.5, so that kept ones are told apart from replaced ones.
        let n = 200_000;
        let images = Tensor::full([n / 784 + 1, 784], 0.5, (Kind::Float, Device::Cpu));
        let total = images.numel() as f64;
        for level in [0.1, 0.4, 0.8] {
            let noisy = salt_and_pepper(&images, level, 7);
            let replaced = noisy.ne(0.5).sum(Kind::Float).double_value(&[]) / total;
            let salt = noisy.eq(1.0).sum(Kind::Float).double_value(&[]) / total;
            // Four standard errors of a binomial proportion.
            let tolerance = |p: f64| 4.0 * (p * (1.0 - p) / total).sqrt();
            assert!((replaced - level).abs() < tolerance(level), "level {level}: replaced {replaced}");
            assert!((salt - level * level).abs() < tolerance(level * level), "level {level}: salt {salt}");
        }
    }

    #[test]
    fn the_extremes_and_the_seed() {
        let images = Tensor::rand([10, 784], (Kind::Float, Device::Cpu));
        assert!(salt_and_pepper(&images, 0.0, 1).equal(&images));
        assert!(salt_and_pepper(&images, 1.0, 1).equal(&images.ones_like()));
        assert!(salt_and_pepper(&images, 0.5, 1).equal(&salt_and_pepper(&images, 0.5, 1)));
        assert!(!salt_and_pepper(&images, 0.5, 1).equal(&salt_and_pepper(&images, 0.5, 2)));
    }
}
