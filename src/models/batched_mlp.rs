//! Many fully connected classifiers of one shape trained as one model.
//!
//! Models come in `groups` (one per replicate: its own initial weights and
//! batch order) of `per_group` models each (one per weight-decay factor),
//! and the models of a group see the same mini-batches. The first layer of a
//! group is then one wide matrix product over the shared inputs, the other
//! layers batched products, so that libtorch works on a few large matrices
//! instead of many small ones.
//!
//! Training does its own backward pass instead of autograd's: for a ReLU MLP
//! under cross-entropy it is three products per layer, and it lets every
//! weight update go straight into the weights (BLAS's C += A B) instead of
//! through gradient buffers that are zeroed, accumulated into and read again.
//! In bfloat16 the products take bfloat16 copies of the weights, and their
//! updates are added to the float32 weights, as `torch.autocast` trains.

use tch::nn;
use tch::{Kind, Tensor};

use super::mlp::Mlp;
use crate::precision::Precision;

#[derive(Debug)]
pub struct BatchedMlp {
    pub groups: i64,
    pub per_group: i64,
    /// Per layer, every model's kernel in the (outputs, inputs) layout of
    /// `nn.Linear`, stacked: (models, outputs, inputs).
    kernels: Vec<Tensor>,
    /// Per layer, (models, 1, outputs).
    biases: Vec<Tensor>,
    precision: Precision,
}

/// What the backward pass reads from the forward pass, per layer: the
/// kernels it multiplied by (in the precision of the products), its input
/// (the images for the first layer) and its output before the ReLU.
struct Pass {
    kernels: Vec<Tensor>,
    inputs: Vec<Tensor>,
    pre_activations: Vec<Tensor>,
}

impl BatchedMlp {
    /// `groups` x `per_group` models with hidden widths `hidden`; the models
    /// of group g start from the weights `Mlp::new` draws after
    /// `tch::manual_seed(seeds[g])`, so each equals a model trained alone.
    /// The products compute in `precision`.
    pub fn new(device: tch::Device, hidden: &[i64], seeds: &[u64], per_group: i64, precision: Precision) -> BatchedMlp {
        let singles: Vec<Mlp> = seeds
            .iter()
            .map(|&seed| {
                tch::manual_seed(seed as i64);
                Mlp::new(&nn::VarStore::new(device).root(), hidden)
            })
            .collect();
        let stack = |pick: &dyn Fn(&Mlp) -> Tensor| {
            let per_model: Vec<Tensor> = singles.iter().flat_map(|m| (0..per_group).map(move |_| pick(m).detach().contiguous())).collect();
            Tensor::stack(&per_model, 0)
        };
        let depth = hidden.len() + 1;
        BatchedMlp {
            groups: seeds.len() as i64,
            per_group,
            kernels: (0..depth).map(|l| stack(&|m| m.hidden.get(l).unwrap_or(&m.output).kernel.tr())).collect(),
            biases: (0..depth).map(|l| stack(&|m| m.hidden.get(l).unwrap_or(&m.output).bias.unsqueeze(0))).collect(),
            precision,
        }
    }

    /// Reorders the first layer's kernel columns: column i becomes the one
    /// for input `order[i]`. Inputs given in that order may then leave out
    /// a tail of columns where every input is 0: the products skip them,
    /// and only weight decay moves their kernels, as it would unskipped.
    pub fn reorder_inputs(&self, order: &Tensor) {
        tch::no_grad(|| {
            let reordered = self.kernels[0].index_select(2, order);
            self.kernels[0].shallow_clone().copy_(&reordered);
        });
    }

    pub fn models(&self) -> i64 {
        self.groups * self.per_group
    }

    /// Logits of every model, (models, batch, 10). `xs` is (groups, batch,
    /// 784), one batch per group, or (1, batch, 784), one batch for all. Its
    /// inputs may be fewer than the kernels' columns: the columns past them
    /// then multiply inputs that are 0 (see `reorder_inputs`).
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        tch::no_grad(|| self.forward_pass(xs).pre_activations.pop().expect("layers").to_kind(Kind::Float))
    }

    /// One step of plain SGD, at rate `rates[m]` for model m, on the mean
    /// cross-entropy of the batch plus `l2[m]` times the sum of its squared
    /// hidden kernels (Keras's L2 regulariser; no `l2`: 0 for every model).
    /// `xs` is (groups, batch, 784), or fewer inputs as in `forward`,
    /// `labels` (models, batch), `rates` and `l2` (models,). Returns each
    /// model's loss (cross-entropy and penalty, before the step) and its
    /// number of correct predictions.
    pub fn sgd_step(&self, xs: &Tensor, labels: &Tensor, rates: &Tensor, l2: Option<&Tensor>) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let penalty = l2.map(|l2| l2 * self.hidden_kernel_sq_sums());
            let pass = self.forward_pass(xs);
            let logits = pass.pre_activations.last().expect("layers");
            let log_probs = logits.log_softmax(-1, Kind::Float);
            let labels = labels.unsqueeze(-1);
            let cross_entropy = -log_probs.gather(2, &labels, false).mean_dim(&[1i64, 2][..], false, Kind::Float);
            let hits = logits.argmax(-1, true).eq_tensor(&labels).sum_dim_intlist(&[1i64, 2][..], false, Kind::Int64);
            // region: batched-update
            // The gradient of the mean cross-entropy with respect to the
            // logits, times -rate: from here on every product is an update.
            let batch = labels.size()[1];
            let rates = rates.view([self.models(), 1, 1]);
            let one_hot = log_probs.zeros_like().scatter_value(2, &labels, 1.0);
            let mut delta = (log_probs.exp() - one_hot) * (&rates * (-1.0 / batch as f64));
            // w - rate (g + 2 f w) = (1 - 2 rate f) w - rate g.
            let decay = l2.map(|l2| (l2.view([self.models(), 1, 1]) * &rates * -2.0) + 1.0);
            for l in (0..self.kernels.len()).rev() {
                let delta_in = self.precision.cast(&delta);
                let previous = (l > 0).then(|| pass.pre_activations[l - 1].threshold_backward(&delta_in.bmm(&pass.kernels[l]), 0.0));
                let hidden = l + 1 < self.kernels.len();
                self.update(l, &delta_in, &pass.inputs[l], decay.as_ref().filter(|_| hidden));
                let _ = self.biases[l].shallow_clone().g_add_(&delta.sum_dim_intlist(1i64, true, Kind::Float));
                if let Some(previous) = previous {
                    delta = previous;
                }
            }
            // endregion: batched-update
            let loss = match penalty {
                Some(penalty) => cross_entropy + penalty,
                None => cross_entropy,
            };
            (loss, hits)
        })
    }

    /// Sets layer `l`'s kernels w to decay w + delta^T x (w + delta^T x
    /// without decay), x being the layer's input; the first layer's input
    /// is shared within a group. In float32 the product accumulates straight
    /// into the decayed kernels; in bfloat16 it is made in bfloat16, and one
    /// pass over the kernels decays them and adds it.
    fn update(&self, l: usize, delta: &Tensor, input: &Tensor, decay: Option<&Tensor>) {
        let float32 = self.precision == Precision::Float32;
        // The models' kernels, (models, outputs, inputs), and their updates, made by `product`.
        let apply = |mut kernels: Tensor, decay: Option<Tensor>, product: &dyn Fn(&mut Tensor) -> Tensor| {
            if float32 {
                if let Some(decay) = &decay {
                    let _ = kernels.g_mul_(decay);
                }
                let _ = product(&mut kernels);
            } else {
                let update = product(&mut kernels).view_as(&kernels);
                let _ = match &decay {
                    Some(decay) => update.addcmul_out(&kernels, &kernels, decay),
                    None => kernels.g_add_(&update),
                };
            }
        };
        if l > 0 {
            let delta_t = delta.transpose(1, 2);
            apply(self.kernels[l].shallow_clone(), decay.map(Tensor::shallow_clone), &|kernels| {
                if float32 { kernels.baddbmm_(&delta_t, input) } else { delta_t.bmm(input) }
            });
            return;
        }
        let (batch, width) = (delta.size()[1], delta.size()[2]);
        let (inputs, used) = (self.kernels[0].size()[2], input.size()[2]);
        for g in 0..self.groups {
            let models = |t: &Tensor| t.narrow(0, g * self.per_group, self.per_group);
            let delta_t = models(delta).transpose(0, 1).reshape([batch, -1]).tr();
            let x = input.get(g);
            let kernels = models(&self.kernels[0]);
            // Columns past the inputs given (see `reorder_inputs`) have no gradient: decay alone moves them.
            if let Some(decay) = decay.filter(|_| used < inputs) {
                let _ = kernels.narrow(2, used, inputs - used).g_mul_(&models(decay));
            }
            apply(kernels.narrow(2, 0, used), decay.map(models), &|kernels| {
                let flat = kernels.view([self.per_group * width, -1]);
                if float32 { flat.shallow_clone().addmm_(&delta_t, &x) } else { delta_t.mm(&x) }
            });
        }
    }

    fn forward_pass(&self, xs: &Tensor) -> Pass {
        let kernels: Vec<Tensor> = self.kernels.iter().map(|k| self.precision.cast(k)).collect();
        let biases: Vec<Tensor> = self.biases.iter().map(|b| self.precision.cast(b)).collect();
        let (batch, width, used) = (xs.size()[1], kernels[0].size()[1], xs.size()[2]);
        let xs = self.precision.cast(&xs.expand([self.groups, batch, -1], false));
        // One plain matrix product per group: libtorch runs these faster than
        // one batched product over the groups.
        let firsts: Vec<Tensor> = (0..self.groups)
            .map(|g| {
                xs.get(g)
                    .mm(&first_kernels(&kernels[0], self.per_group, g, width).narrow(1, 0, used).tr())
                    .view([batch, self.per_group, width])
                    .transpose(0, 1)
            })
            .collect();
        let mut pre_activations = vec![Tensor::cat(&firsts, 0) + &biases[0]];
        let mut inputs = vec![xs];
        for (kernel, bias) in kernels[1..].iter().zip(&biases[1..]) {
            let input = pre_activations.last().expect("first layer").relu();
            pre_activations.push(bias.baddbmm(&input, &kernel.transpose(1, 2), 1.0, 1.0));
            inputs.push(input);
        }
        Pass { kernels, inputs, pre_activations }
    }

    /// Per model, the sum of its squared hidden-layer kernels, (models,).
    pub fn hidden_kernel_sq_sums(&self) -> Tensor {
        tch::no_grad(|| self.kernels[..self.kernels.len() - 1].iter().map(squared_norms).sum())
    }
}

/// Group g's first-layer kernels as one (per_group * width, 784) matrix.
fn first_kernels(kernels: &Tensor, per_group: i64, g: i64, width: i64) -> Tensor {
    kernels.narrow(0, g * per_group, per_group).view([per_group * width, -1])
}

/// Per model, the sum of the squares of a (models, ...) tensor: a batched
/// dot product, which reads the weights once and allocates nothing large.
fn squared_norms(t: &Tensor) -> Tensor {
    let flat = t.view([t.size()[0], 1, -1]);
    flat.bmm(&flat.transpose(1, 2)).view([-1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PIXELS;
    use tch::Device;

    #[test]
    fn each_model_starts_as_the_model_drawn_alone_and_counts_its_parameters() {
        let batched = BatchedMlp::new(Device::Cpu, &[16, 8], &[3, 4], 2, Precision::Float32);
        assert_eq!(batched.models(), 4);
        let per_model = batched.kernels.iter().chain(&batched.biases).map(|t| t.numel() as i64).sum::<i64>() / batched.models();
        assert_eq!(per_model, crate::models::mlp::dense_parameters(&[16, 8]));
        tch::manual_seed(4);
        let alone = Mlp::new(&nn::VarStore::new(Device::Cpu).root(), &[16, 8]);
        let xs = Tensor::rand([1, 5, PIXELS as i64], (Kind::Float, Device::Cpu));
        let logits = batched.forward(&xs);
        let expected = tch::no_grad(|| nn::ModuleT::forward_t(&alone, &xs.get(0), false));
        for m in [2, 3] {
            assert!(logits.get(m).allclose(&expected, 1e-5, 1e-6, false), "model {m}");
        }
        assert!(!logits.get(0).allclose(&expected, 1e-5, 1e-6, false));
        let sq = batched.hidden_kernel_sq_sums();
        assert!((sq.double_value(&[3]) - alone.hidden_kernel_sq_sum().double_value(&[])).abs() < 1e-3);
    }

    #[test]
    fn a_step_without_l2_factors_is_a_step_with_factors_of_zero() {
        let xs = Tensor::rand([2, 6, PIXELS as i64], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 3, 9, 1, 2, 5]).repeat([4, 1]);
        let rates = Tensor::from_slice(&[0.1f32, 0.2, 0.1, 0.2]);
        let without = BatchedMlp::new(Device::Cpu, &[16, 8], &[3, 4], 2, Precision::Float32);
        let zeros = BatchedMlp::new(Device::Cpu, &[16, 8], &[3, 4], 2, Precision::Float32);
        let decayed = BatchedMlp::new(Device::Cpu, &[16, 8], &[3, 4], 2, Precision::Float32);
        let (loss, hits) = without.sgd_step(&xs, &labels, &rates, None);
        let (zero_loss, zero_hits) = zeros.sgd_step(&xs, &labels, &rates, Some(&Tensor::zeros([4], (Kind::Float, Device::Cpu))));
        let _ = decayed.sgd_step(&xs, &labels, &rates, Some(&Tensor::full([4], 0.01, (Kind::Float, Device::Cpu))));
        assert!(loss.allclose(&zero_loss, 1e-6, 1e-7, false) && hits.equal(&zero_hits));
        for (a, b) in without.kernels.iter().zip(&zeros.kernels) {
            assert!(a.allclose(b, 1e-6, 1e-7, false));
        }
        assert!(!without.kernels[0].allclose(&decayed.kernels[0], 1e-6, 1e-7, false), "a factor above 0 decays the kernels");
    }

    #[test]
    fn inputs_left_out_where_every_input_is_0_train_as_those_zeros_would() {
        let live = 700;
        let xs = Tensor::rand([2, 6, PIXELS as i64], (Kind::Float, Device::Cpu));
        let _ = xs.narrow(2, live, PIXELS as i64 - live).zero_();
        let labels = Tensor::from_slice(&[0i64, 3, 9, 1, 2, 5]).repeat([4, 1]);
        let rates = Tensor::from_slice(&[0.1f32, 0.2, 0.1, 0.2]);
        let l2 = Tensor::from_slice(&[0.0f32, 0.01, 0.02, 0.05]);
        for precision in [Precision::Float32, Precision::BFloat16] {
            let [whole, left_out, start] = [(); 3].map(|_| BatchedMlp::new(Device::Cpu, &[16, 8], &[3, 4], 2, precision));
            let (loss, hits) = whole.sgd_step(&xs, &labels, &rates, Some(&l2));
            let (left_out_loss, left_out_hits) = left_out.sgd_step(&xs.narrow(2, 0, live), &labels, &rates, Some(&l2));
            assert!(loss.allclose(&left_out_loss, 1e-5, 1e-6, false) && hits.equal(&left_out_hits), "{precision:?}");
            for (a, b) in whole.kernels.iter().zip(&left_out.kernels) {
                assert!(a.allclose(b, 1e-5, 1e-6, false), "{precision:?}");
            }
            let tail = |m: &BatchedMlp| m.kernels[0].narrow(2, live, PIXELS as i64 - live);
            let decay = (l2.view([4, 1, 1]) * rates.view([4, 1, 1]) * -2.0) + 1.0;
            assert!(tail(&left_out).allclose(&(tail(&start) * decay), 1e-6, 1e-7, false), "only decay moves the columns left out");
        }
    }

    #[test]
    fn reordered_inputs_give_the_same_logits_and_the_inverse_order_restores_the_kernels() {
        let model = BatchedMlp::new(Device::Cpu, &[16, 8], &[3], 2, Precision::Float32);
        let before = model.kernels[0].copy();
        let xs = Tensor::rand([1, 5, PIXELS as i64], (Kind::Float, Device::Cpu));
        let logits = model.forward(&xs);
        let order = Tensor::randperm(PIXELS as i64, (Kind::Int64, Device::Cpu));
        model.reorder_inputs(&order);
        assert!(model.forward(&xs.index_select(2, &order)).allclose(&logits, 1e-5, 1e-6, false));
        assert!(!model.kernels[0].equal(&before));
        model.reorder_inputs(&order.argsort(0, false));
        assert!(model.kernels[0].equal(&before));
    }
}
