//! The loop that trains many MLPs of one shape as one `BatchedMlp`: the
//! same epoch driver, batches and metrics as `fit` gives each model alone.
//! The pixels that are 0 in every training image stay out of the first
//! layer's products, which they would only add zeros to.

use indicatif::ProgressBar;
use tch::{Kind, Tensor};

use super::{Batch, Batches, EpochMetrics, EpochTotals, History, Schedule, StepOutcome, drive, finite, in_chunks, summarise};
use crate::models::batched_mlp::BatchedMlp;

/// Options for training many models at once (see `BatchedMlp`).
pub struct BatchedFitOptions<'a> {
    pub epochs: usize,
    /// One per model: its rate of plain SGD, constant.
    pub learning_rates: &'a [f64],
    pub batch_size: i64,
    /// One per group: seeds the group's batch order, as `shuffle_seed` does in `fit`.
    pub group_seeds: &'a [u64],
    /// One per model: its L2 factor on the hidden kernels.
    pub l2: &'a [f64],
    /// One per group, or none: the standard deviation of the Gaussian noise
    /// added to the group's training images (Keras's `GaussianNoise`, in
    /// training only), drawn anew for every batch. The groups share each
    /// draw, scaled by their own deviation: they then differ by the deviation
    /// alone, and a batch costs one draw instead of one per group.
    pub input_noise: Option<&'a [f64]>,
    pub progress: &'a ProgressBar,
}

/// Trains every model of `model` as `fit` would train each alone (same
/// batches, same loss, same metrics), and returns one history per model.
pub fn fit_batched(model: &BatchedMlp, train: &Batches, val: &Batches, o: &BatchedFitOptions) -> anyhow::Result<Vec<History>> {
    let device = train.images.device();
    let (groups, per_group, models) = (model.groups, model.per_group, model.models());
    anyhow::ensure!(
        o.group_seeds.len() as i64 == groups
            && o.l2.len() as i64 == models
            && o.learning_rates.len() as i64 == models
            && o.input_noise.is_none_or(|n| n.len() as i64 == groups),
        "one seed (and noise level) per group, and one L2 factor and learning rate per model"
    );
    let n = train.len();
    // Without input noise, the pixels that are 0 in every training image
    // add nothing to the first layer's products or to its gradient: the
    // model orders them last, the training images leave them out, and the
    // validation images keep them, in the same order.
    let reordered = o.input_noise.is_none().then(|| live_inputs_first(train.images)).flatten();
    let images = reordered
        .as_ref()
        .map(|(live, order)| (train.images.index_select(1, &order.narrow(0, 0, *live)), val.images.index_select(1, order)));
    let (train, val) = match &images {
        Some((train_images, val_images)) => {
            (Batches { images: train_images, labels: train.labels }, Batches { images: val_images, labels: val.labels })
        }
        None => (Batches { ..*train }, Batches { ..*val }),
    };
    if let Some((_, order)) = &reordered {
        model.reorder_inputs(order);
    }
    let per_model = |values: &[f64]| Tensor::from_slice(values).to_kind(Kind::Float).to_device(device);
    let rates = per_model(o.learning_rates);
    let l2 = o.l2.iter().any(|&factor| factor != 0.0).then(|| per_model(o.l2));
    let noise = o.input_noise.map(|stds| per_model(stds).view([groups, 1, 1]));
    let mut epochs: Vec<Vec<EpochMetrics>> = vec![Vec::new(); models as usize];
    let mut diverged_at = vec![None; models as usize];
    let mut failure = None;
    let schedule = Schedule { epochs: o.epochs, batch_size: o.batch_size, shuffle_seeds: o.group_seeds };
    let step = |batch: &Batch| {
        let len = batch.len;
        let idx = batch.indices.reshape([groups * len]);
        let mut xs = train.images.index_select(0, &idx).view([groups, len, -1]);
        if let Some(stds) = &noise {
            xs = &xs + Tensor::randn([1, len, xs.size()[2]], (Kind::Float, device)) * stds;
        }
        let ys = train.labels.index_select(0, &idx).view([groups, 1, len]).expand([groups, per_group, len], false);
        let (loss, hits) = model.sgd_step(&xs, &ys.reshape([models, len]), &rates, l2.as_ref());
        StepOutcome { loss, correct: Some(hits) }
    };
    let end_epoch = |totals: EpochTotals| {
        let (val_loss, val_correct) = match evaluate_batched(model, &val) {
            Ok(v) => v,
            Err(e) => {
                failure = Some(e);
                return false;
            }
        };
        for m in 0..models as usize {
            if diverged_at[m].is_some() {
                continue;
            }
            let metrics = EpochMetrics {
                epoch: totals.epoch,
                train_loss: finite(totals.train_loss[m]),
                train_accuracy: totals.train_correct[m] as f64 / n as f64,
                val_loss: finite(val_loss[m]),
                val_accuracy: val_correct[m] as f64 / val.len() as f64,
                train_seconds: totals.train_seconds,
            };
            if metrics.train_loss.is_none() {
                diverged_at[m] = Some(totals.epoch);
            }
            epochs[m].push(metrics);
        }
        let best = epochs.iter().map(|e| e.last().map_or(0.0, |e| e.val_accuracy)).fold(0.0, f64::max);
        o.progress.set_message(format!("epoch {}/{}: best validation accuracy {best:.4}", totals.epoch, o.epochs));
        true
    };
    let driven = drive(n, device, &schedule, o.progress, step, end_epoch);
    if let Some((_, order)) = &reordered {
        model.reorder_inputs(&order.argsort(0, false));
    }
    driven?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(epochs.into_iter().zip(diverged_at).map(|(e, d)| summarise(e, d, n)).collect())
}

/// Where some inputs are 0 in every one of `images` (N, inputs): how many
/// are not, and an order of the inputs that puts those first, each part in
/// its original order.
fn live_inputs_first(images: &Tensor) -> Option<(i64, Tensor)> {
    let live = images.ne(0.0).any_dim(0, false);
    let count = live.sum(Kind::Int64).int64_value(&[]);
    (count < images.size()[1])
        .then(|| (count, Tensor::cat(&[live.nonzero().squeeze_dim(1), live.logical_not().nonzero().squeeze_dim(1)], 0)))
}

/// Per model: mean cross-entropy (no penalty) and number of correct predictions over `data`.
fn evaluate_batched(model: &BatchedMlp, data: &Batches) -> anyhow::Result<(Vec<f64>, Vec<i64>)> {
    let n = data.len();
    let device = data.images.device();
    let mut loss = Tensor::zeros([model.models()], (Kind::Double, device));
    let mut correct = Tensor::zeros([model.models()], (Kind::Int64, device));
    for (chunk_loss, chunk_correct) in in_chunks(data.images, |xs, start, len| {
        let logits = model.forward(&xs.unsqueeze(0));
        let ys = data.labels.narrow(0, start, len).view([1, len]).expand([model.models(), len], false);
        let nll = -logits.log_softmax(-1, Kind::Float).gather(2, &ys.unsqueeze(-1), false).squeeze_dim(-1);
        (nll.sum_dim_intlist(1i64, false, Kind::Double), logits.argmax(-1, false).eq_tensor(&ys).sum_dim_intlist(1i64, false, Kind::Int64))
    }) {
        loss += chunk_loss;
        correct += chunk_correct;
    }
    Ok((Vec::<f64>::try_from(loss / n as f64)?, Vec::<i64>::try_from(correct)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_that_are_never_0_come_first_and_none_are_reordered_where_all_are_used() {
        let images = Tensor::from_slice(&[0.5f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0]).view([2, 4]);
        let (live, order) = live_inputs_first(&images).expect("two inputs are 0 throughout");
        assert_eq!((live, Vec::<i64>::try_from(order).unwrap()), (2, vec![0, 2, 1, 3]));
        assert!(live_inputs_first(&(images + 1.0)).is_none());
    }
}
