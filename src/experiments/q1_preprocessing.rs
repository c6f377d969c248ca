//! Question 1: the notebook's preprocessing, measured on the data itself:
//! shapes, types and value ranges before and after, one-hot labels, class
//! balance, and sample digits for a figure.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::data::{CLASSES, SIDE, Split};
use crate::experiment::{About, Context, Experiment};
use crate::profile::Profile;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub train_images: usize,
    pub test_images: usize,
    /// Training images shown in the sample figure (the first ones).
    pub samples: usize,
    /// Labels shown one-hot encoded (the first ones).
    pub one_hot_examples: usize,
}

pub struct Preprocessing(Config);

impl Preprocessing {
    pub fn new(profile: Profile) -> Self {
        Preprocessing(Config { train_images: profile.train_images(), test_images: profile.test_images(), samples: 24, one_hot_examples: 5 })
    }
}

/// Shape, element type and value statistics of an array.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArrayStats {
    pub shape: Vec<i64>,
    pub dtype: String,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub bytes: i64,
}

impl ArrayStats {
    fn of(t: &Tensor, dtype: &str) -> ArrayStats {
        let as_f64 = t.to_kind(Kind::Double);
        ArrayStats {
            shape: t.size(),
            dtype: dtype.into(),
            min: as_f64.min().double_value(&[]),
            max: as_f64.max().double_value(&[]),
            mean: as_f64.mean(Kind::Double).double_value(&[]),
            bytes: (t.numel() * t.kind().elt_size_in_bytes()) as i64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub label: u8,
    pub pixels: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocessed {
    pub raw_train: ArrayStats,
    pub raw_test: ArrayStats,
    pub prepared_train: ArrayStats,
    pub prepared_test: ArrayStats,
    pub labels_raw: ArrayStats,
    pub labels_one_hot: ArrayStats,
    pub one_hot_examples: Vec<(u8, Vec<i64>)>,
    pub class_counts_train: Vec<usize>,
    pub class_counts_test: Vec<usize>,
    pub samples: Vec<Sample>,
}

/// The notebook's preprocessing of images: reshape to (N, 28, 28, 1),
/// float32, divide by 255.
fn prepare(split: &Split) -> Tensor {
    split.images_tensor(tch::Device::Cpu).view([split.len() as i64, SIDE as i64, SIDE as i64, 1])
}

fn raw(split: &Split) -> Tensor {
    Tensor::from_slice(&split.images).view([split.len() as i64, SIDE as i64, SIDE as i64])
}

impl Experiment for Preprocessing {
    type Config = Config;
    type Output = Preprocessed;
    const ABOUT: About = About {
        id: "q1_preprocessing",
        title: "Q1 preprocessing: shapes, ranges, one-hot labels, class balance",
        version: 1,
        source_file: file!(),
    };
    fn config(&self) -> &Config {
        &self.0
    }
    fn training_images(&self) -> u64 {
        0
    }
    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Preprocessed> {
        let (train, test) = (&ctx.data.train, &ctx.data.test);
        let labels = train.labels_tensor(tch::Device::Cpu);
        let one_hot = labels.one_hot(CLASSES as i64).to_kind(Kind::Float);
        let examples = (0..self.0.one_hot_examples)
            .map(|i| (train.labels[i], Vec::<i64>::try_from(one_hot.get(i as i64).to_kind(Kind::Int64))))
            .map(|(label, row)| Ok((label, row?)))
            .collect::<anyhow::Result<_>>()?;
        let result = Preprocessed {
            raw_train: ArrayStats::of(&raw(train), "uint8"),
            raw_test: ArrayStats::of(&raw(test), "uint8"),
            prepared_train: ArrayStats::of(&prepare(train), "float32"),
            prepared_test: ArrayStats::of(&prepare(test), "float32"),
            labels_raw: ArrayStats::of(&Tensor::from_slice(&train.labels), "uint8"),
            labels_one_hot: ArrayStats::of(&one_hot, "float32"),
            one_hot_examples: examples,
            class_counts_train: train.class_counts().to_vec(),
            class_counts_test: test.class_counts().to_vec(),
            samples: (0..self.0.samples.min(train.len()))
                .map(|i| Sample { label: train.labels[i], pixels: train.image(i).to_vec() })
                .collect(),
        };
        ctx.progress.finish_and_clear();
        Ok(result)
    }
}
