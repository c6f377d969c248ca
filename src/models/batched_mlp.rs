//! Many fully connected classifiers of one shape trained as one model.
//!
//! Models come in `groups` (one per replicate: its own initial weights and
//! batch order) of `per_group` models each (one per weight-decay factor),
//! and the models of a group see the same mini-batches. The first layer of a
//! group is then one wide matrix product over the shared inputs, the other
//! layers batched products (`baddbmm`), so that libtorch works on a few
//! large matrices instead of many small ones.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use super::mlp::Mlp;
use crate::data::{CLASSES, PIXELS};

#[derive(Debug)]
pub struct BatchedMlp {
    pub groups: i64,
    pub per_group: i64,
    widths: Vec<i64>,
    /// Per group, its models' first-layer kernels side by side: (784, per_group * width).
    first_kernels: Vec<Tensor>,
    /// Biases and kernels of the other layers: (models, 1, out), (models, in, out).
    biases: Vec<Tensor>,
    kernels: Vec<Tensor>,
}

impl BatchedMlp {
    /// `groups` x `per_group` models with hidden widths `hidden`; the models
    /// of group g start from the weights `Mlp::new` draws after
    /// `tch::manual_seed(seeds[g])`, so each equals a model trained alone.
    pub fn new(vs: &nn::Path, hidden: &[i64], seeds: &[u64], per_group: i64) -> BatchedMlp {
        let groups = seeds.len() as i64;
        let models = groups * per_group;
        let singles: Vec<Mlp> = seeds
            .iter()
            .map(|&seed| {
                tch::manual_seed(seed as i64);
                Mlp::new(&nn::VarStore::new(vs.device()).root(), hidden)
            })
            .collect();
        let layers = |m: &Mlp| -> Vec<(Tensor, Tensor)> {
            m.hidden.iter().chain([&m.output]).map(|d| (d.kernel.detach(), d.bias.detach())).collect()
        };
        let per_model: Vec<Vec<(Tensor, Tensor)>> = singles.iter().map(layers).collect();
        let repeat = |t: &Tensor| (0..per_group).map(|_| t.shallow_clone()).collect::<Vec<_>>();
        let no_grad_var = |name: &str, value: Tensor| {
            let var = vs.var(name, &value.size(), Init::Const(0.0));
            tch::no_grad(|| var.shallow_clone().copy_(&value));
            var
        };
        let first_kernels: Vec<Tensor> = per_model
            .iter()
            .enumerate()
            .map(|(g, l)| no_grad_var(&format!("first_kernel_{g}"), Tensor::cat(&repeat(&l[0].0), 1)))
            .collect();
        let depth = per_model[0].len();
        let mut biases = Vec::new();
        let mut kernels = Vec::new();
        for layer in 0..depth {
            let stacked = |pick: &dyn Fn(&(Tensor, Tensor)) -> Tensor| {
                Tensor::stack(&per_model.iter().flat_map(|l| repeat(&pick(&l[layer]))).collect::<Vec<_>>(), 0)
            };
            biases.push(no_grad_var(&format!("bias_{layer}"), stacked(&|(_, b)| b.unsqueeze(0))));
            if layer > 0 {
                kernels.push(no_grad_var(&format!("kernel_{layer}"), stacked(&|(k, _)| k.shallow_clone())));
            }
        }
        debug_assert_eq!(biases[0].size()[0], models);
        BatchedMlp { groups, per_group, widths: hidden.to_vec(), first_kernels, biases, kernels }
    }

    pub fn models(&self) -> i64 {
        self.groups * self.per_group
    }

    /// Logits of every model, (models, batch, 10). `xs` is (groups, batch,
    /// 784), one batch per group, or (1, batch, 784), one batch for all.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let (batch, width) = (xs.size()[1], self.widths[0]);
        // One plain matrix product per group: libtorch runs these faster than
        // one batched product over the groups.
        let firsts: Vec<Tensor> = self
            .first_kernels
            .iter()
            .enumerate()
            .map(|(g, kernel)| {
                let x = xs.get(if xs.size()[0] == 1 { 0 } else { g as i64 });
                x.mm(kernel).view([batch, self.per_group, width]).transpose(0, 1)
            })
            .collect();
        let mut h = (Tensor::cat(&firsts, 0) + &self.biases[0]).relu();
        let last = self.kernels.len() - 1;
        for (i, (kernel, bias)) in self.kernels.iter().zip(&self.biases[1..]).enumerate() {
            h = bias.baddbmm(&h, kernel, 1.0, 1.0);
            if i < last {
                h = h.relu();
            }
        }
        h
    }

    /// The decayed kernels with the model axis made explicit, as
    /// (tensor, is_first_layer): (784, per_group, width) for each group's
    /// first layer, (models, in, out) for the hidden layers after it.
    fn decayed(&self) -> Vec<(Tensor, bool)> {
        let firsts = self.first_kernels.iter().map(|k| (k.shallow_clone(), true));
        let hidden = self.kernels[..self.kernels.len() - 1].iter().map(|k| (k.shallow_clone(), false));
        firsts.chain(hidden).collect()
    }

    fn per_model_view(&self, t: &Tensor, first: bool) -> Tensor {
        if first { t.view([PIXELS as i64, self.per_group, self.widths[0]]) } else { t.shallow_clone() }
    }

    /// Per model, the sum of its squared hidden-layer kernels, (models,).
    pub fn hidden_kernel_sq_sums(&self) -> Tensor {
        tch::no_grad(|| {
            let (firsts, hidden): (Vec<_>, Vec<_>) = self.decayed().into_iter().partition(|(_, first)| *first);
            let first: Vec<Tensor> = firsts
                .iter()
                .map(|(k, _)| self.per_model_view(k, true).square().sum_dim_intlist([0i64, 2].as_slice(), false, Kind::Float))
                .collect();
            hidden.iter().fold(Tensor::cat(&first, 0), |acc, (k, _)| {
                acc + k.square().sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float)
            })
        })
    }

    /// Adds the gradient of `l2[m] * sum of squared hidden kernels` of every
    /// model m to the kernels' gradients: Keras's L2 regulariser, applied
    /// without building it into the autograd graph.
    pub fn add_l2_gradients(&self, l2: &Tensor) {
        let twice = l2 * 2.0;
        tch::no_grad(|| {
            let mut group = 0;
            for (kernel, first) in self.decayed() {
                let factor = if first {
                    let f = twice.narrow(0, group * self.per_group, self.per_group).view([1, self.per_group, 1]);
                    group += 1;
                    f
                } else {
                    twice.view([self.models(), 1, 1])
                };
                let _ = self.per_model_view(&kernel.grad(), first).addcmul_(&self.per_model_view(&kernel, first), &factor);
            }
        });
    }

    /// Parameters of one model.
    pub fn parameters_per_model(&self) -> i64 {
        let mut inputs = PIXELS as i64;
        let mut total = 0;
        for &w in self.widths.iter().chain([&(CLASSES as i64)]) {
            total += inputs * w + w;
            inputs = w;
        }
        total
    }
}
