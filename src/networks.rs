//! The named networks the questions and `bench` share, each as the recipe
//! that trains it: the notebook's 784-64-64-10 MLP, the wide 784-500-300-10
//! MLP of question 2 D trained the same way and as tuned there, the
//! reference CNN (Keras's MNIST example network) and question 3's chosen
//! CNN; and the labels of the studies that several questions reuse.

use crate::models::cnn::{CnnConfig, ConvBlock};
use crate::precision::Precision;
use crate::recipe::{Network, Optimiser, Recipe};

/// The notebook's training: SGD without momentum at 0.1, batches of 128,
/// no schedule and no augmentation.
pub fn notebook_training(precision: Precision, hidden: &[i64], epochs: usize) -> Recipe {
    Recipe {
        network: Network::Mlp { hidden: hidden.to_vec(), dropout: 0.0, precision },
        optimiser: Optimiser::Sgd { momentum: 0.0 },
        epochs,
        batch_size: 128,
        learning_rate: 0.1,
        one_cycle: false,
        max_shift: 0,
        max_rotation: 0.0,
        max_scale: 0.0,
        max_elastic: 0.0,
        l2: 0.0,
    }
}

/// The notebook's 784-64-64-10 network (question 2 A-C), in float32 on
/// every machine: its products are too small for bfloat16 to pay (on an
/// AVX512-BF16 CPU an epoch took 0.54 s in bfloat16 against 0.48 s).
pub fn notebook_mlp(epochs: usize) -> Recipe {
    notebook_training(Precision::Float32, &[64, 64], epochs)
}

/// The 784-500-300-10 network of question 2 D, trained as the notebook's.
pub fn wide_mlp(precision: Precision, epochs: usize) -> Recipe {
    notebook_training(precision, &[500, 300], epochs)
}

/// Question 2 D's best-effort recipe for the 784-500-300-10 network:
/// Nesterov momentum, a one-cycle learning rate and random shifts,
/// rotations, scalings and elastic bends of the training images, every
/// choice made on the validation split (dropout lost there).
pub fn tuned_wide_mlp(precision: Precision, epochs: usize) -> Recipe {
    Recipe {
        optimiser: Optimiser::Sgd { momentum: 0.9 },
        learning_rate: 0.05,
        one_cycle: true,
        max_shift: 2,
        max_rotation: 10.0,
        max_scale: 0.1,
        max_elastic: 1.5,
        ..wide_mlp(precision, epochs)
    }
}

/// The study of question 2 D's tuned MLP: its trainings' names start with it.
pub const TUNED_MLP_STUDY: &str = "tuned mlp";
/// The study of question 3's chosen CNN.
pub const CNN_STUDY: &str = "cnn";

/// Keras's MNIST example network: two unpadded 3x3 convolutions of 32 and
/// 64 filters with pooling, a dense layer of 128, dropout 0.5; Adam 1e-3.
pub fn reference_cnn(precision: Precision, epochs: usize) -> Recipe {
    Recipe {
        network: Network::Cnn(CnnConfig {
            blocks: vec![ConvBlock { filters: 32, kernel: 3, padding: 0 }, ConvBlock { filters: 64, kernel: 3, padding: 0 }],
            batch_norm: false,
            hidden: Some(128),
            dropout: 0.5,
            precision,
            channels_last: true,
        }),
        optimiser: Optimiser::Adam,
        epochs,
        batch_size: 128,
        learning_rate: 1e-3,
        one_cycle: false,
        max_shift: 0,
        max_rotation: 0.0,
        max_scale: 0.0,
        max_elastic: 0.0,
        l2: 0.0,
    }
}

/// Question 3's chosen CNN: three padded convolution blocks (24 5x5, 48 3x3,
/// 96 3x3 filters) with pooling and batch normalisation, dropout 0.3; Adam
/// with a one-cycle rate peaking at 2e-3 on batches of 32, random shifts of
/// 2 pixels. Three quarters of the earlier 32-64-128 filters, for 58 % of
/// its multiply-accumulates: the float32 budget of a machine without
/// bfloat16. Batches of 32 scored higher on the validation split than 64
/// and 128 in bfloat16, and than 128 in float32.
pub fn chosen_cnn(precision: Precision, epochs: usize) -> Recipe {
    let block = |filters, kernel| ConvBlock { filters, kernel, padding: kernel / 2 };
    Recipe {
        network: Network::Cnn(CnnConfig {
            blocks: vec![block(24, 5), block(48, 3), block(96, 3)],
            batch_norm: true,
            hidden: None,
            dropout: 0.3,
            precision,
            channels_last: true,
        }),
        optimiser: Optimiser::Adam,
        epochs,
        batch_size: 32,
        learning_rate: 2e-3,
        one_cycle: true,
        max_shift: 2,
        max_rotation: 0.0,
        max_scale: 0.0,
        max_elastic: 0.0,
        l2: 0.0,
    }
}
