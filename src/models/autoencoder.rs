//! The notebook's denoising autoencoder: 784-128-96 encoder, 96-128-784
//! decoder, ReLU inside and a sigmoid output, Keras initialisation.

use tch::Tensor;
use tch::nn;

use super::mlp::Dense;

#[derive(Debug)]
pub struct Autoencoder {
    encoder: Vec<Dense>,
    decoder: Vec<Dense>,
    /// Widths from input to output, e.g. [784, 128, 96, 128, 784].
    pub widths: Vec<i64>,
}

impl Autoencoder {
    /// `widths` runs from the input through the latent code (the middle
    /// entry) back to the output.
    pub fn new(vs: &nn::Path, widths: &[i64]) -> Autoencoder {
        assert!(widths.len() % 2 == 1, "an odd number of widths, the latent one in the middle");
        let middle = widths.len() / 2;
        let layers: Vec<Dense> = widths.windows(2).enumerate().map(|(i, w)| Dense::new(&(vs / format!("dense_{i}")), w[0], w[1])).collect();
        let mut layers = layers.into_iter();
        let encoder = layers.by_ref().take(middle).collect();
        Autoencoder { encoder, decoder: layers.collect(), widths: widths.to_vec() }
    }

    pub fn latent_dim(&self) -> i64 {
        self.widths[self.widths.len() / 2]
    }

    // region: autoencoder
    /// The latent code of `xs`, (N, latent).
    pub fn encode(&self, xs: &Tensor) -> Tensor {
        self.encoder.iter().fold(xs.shallow_clone(), |h, d| d.forward(&h).relu())
    }

    /// Output logits for latent codes; the image is their sigmoid.
    pub fn decode_logits(&self, codes: &Tensor) -> Tensor {
        let last = self.decoder.len() - 1;
        self.decoder.iter().enumerate().fold(codes.shallow_clone(), |h, (i, d)| {
            let h = d.forward(&h);
            if i < last { h.relu() } else { h }
        })
    }

    /// Images in [0, 1] for latent codes: the decoder on its own.
    pub fn decode(&self, codes: &Tensor) -> Tensor {
        self.decode_logits(codes).sigmoid()
    }

    /// The reconstruction (denoised image) of `xs`.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        self.decode(&self.encode(xs))
    }
    // endregion: autoencoder

    pub fn parameters(&self) -> i64 {
        self.widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn the_decoder_maps_latent_codes_to_images() {
        let vs = nn::VarStore::new(Device::Cpu);
        let ae = Autoencoder::new(&vs.root(), &[784, 128, 96, 128, 784]);
        assert_eq!(ae.latent_dim(), 96);
        let x = Tensor::rand([5, 784], (Kind::Float, Device::Cpu));
        assert_eq!(ae.encode(&x).size(), vec![5, 96]);
        let images = ae.decode(&Tensor::randn([7, 96], (Kind::Float, Device::Cpu)));
        assert_eq!(images.size(), vec![7, 784]);
        assert!(images.min().double_value(&[]) >= 0.0 && images.max().double_value(&[]) <= 1.0);
        assert_eq!(ae.parameters(), 784 * 128 + 128 + 128 * 96 + 96 + 96 * 128 + 128 + 128 * 784 + 784);
        let trainable: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(trainable, ae.parameters());
    }
}
