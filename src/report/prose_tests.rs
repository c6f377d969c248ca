//! The answers' interpretive sentences are chosen by the numbers they
//! interpret: each test renders a real answer file with a real result, then
//! with the same result changed so that the comparison goes the other way,
//! and checks that the sentence follows the numbers.

use indicatif::ProgressBar;
use serde_json::{Value, json};

use crate::data::{DataSet, FASHION_MNIST_SHA256, Mnist};
use crate::experiment::{AnyExperiment, Context};
use crate::experiments::earlier_edition::EarlierEdition;
use crate::experiments::q1_preprocessing::Preprocessing;
use crate::experiments::q2_mlp::{NotebookMlp, TunedMlp, WeightDecaySweep};
use crate::experiments::q3_cnn::ConvolutionalNetwork;
use crate::experiments::q4_autoencoder::DenoisingAutoencoder;
use crate::precision::Precision;
use crate::profile::Profile;
use crate::report::answers;

/// What `experiment` computes on the smoke profile's data.
fn smoke_result(experiment: &dyn AnyExperiment) -> Value {
    let data = Mnist::load_embedded().unwrap().subset(Profile::Smoke.train_images(), Profile::Smoke.test_images(), 1);
    let progress = ProgressBar::hidden();
    let ctx = Context {
        data: &data,
        device: tch::Device::Cpu,
        seed: 3,
        shared_seed: 4,
        progress: &progress,
        checkpoints: &crate::checkpoint::NoCheckpoints,
    };
    experiment.run(&ctx).unwrap()
}

/// What an answer sees of how `experiment` ran, as `<id>_run`.
fn run_of(experiment: &dyn AnyExperiment) -> Value {
    json!({"config": experiment.config(), "device": "cpu", "threads": 1, "seed": 1, "wall_seconds": 1.0})
}

thread_local! {
    /// The data set the answers of this test's thread are rendered for (MNIST unless set).
    static DATA_SET: std::cell::RefCell<Option<DataSet>> = const { std::cell::RefCell::new(None) };
}

/// `answers/<file>` rendered with `context` (its `run.data` the data set of
/// this thread), without the quoted questions, its whitespace folded.
fn render_answer(file: &str, context: &Value) -> String {
    let data_set = DATA_SET.with(|d| d.borrow().clone()).unwrap_or_else(|| Mnist::load_embedded().unwrap().provenance.data_set);
    let mut context = context.clone();
    let run = context.as_object_mut().unwrap().entry("run").or_insert_with(|| json!({}));
    run["data"] = serde_json::to_value(data_set).unwrap();
    // The findings of the questions whose results the context holds whole
    // (a test's stand-ins for other questions' results are partial), beside
    // any the test gives itself.
    let computed: Vec<(&str, Value)> =
        crate::findings::each(&context).into_iter().filter_map(|(question, f)| f.ok().flatten().map(|f| (question, f))).collect();
    let findings = context.as_object_mut().unwrap().entry("findings").or_insert_with(|| json!({}));
    for (question, f) in computed {
        findings[question] = f;
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("answers").join(file);
    let rendered = answers::render(&[file], &context).unwrap_or_else(|e| panic!("{e:#}"));
    let plain = rendered.answers[0].plain();
    let answer = plain.lines().filter(|line| !line.starts_with('>'));
    answer.flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
}

/// Question 2's answer, rendered with smoke-profile results of its three
/// experiments after `change` edits them (notebook, sweep, tuned).
fn q2_rendered(change: impl Fn(&mut [Value; 3])) -> String {
    q2_rendered_in(Precision::Float32, change)
}

/// The same, with the configs of a run that computed in `precision` (the
/// results stay the float32 ones).
fn q2_rendered_in(precision: Precision, change: impl Fn(&mut [Value; 3])) -> String {
    static RESULTS: std::sync::OnceLock<[Value; 3]> = std::sync::OnceLock::new();
    let (notebook, sweep, tuned) =
        (NotebookMlp::new(Profile::Smoke), WeightDecaySweep::new(Profile::Smoke, precision), TunedMlp::new(Profile::Smoke, precision));
    let mut results = RESULTS
        .get_or_init(|| {
            let float32 = (WeightDecaySweep::new(Profile::Smoke, Precision::Float32), TunedMlp::new(Profile::Smoke, Precision::Float32));
            [smoke_result(&notebook), smoke_result(&float32.0), smoke_result(&float32.1)]
        })
        .clone();
    change(&mut results);
    let [n, s, t] = results;
    let context = json!({
        "q2_notebook_mlp": n, "q2_notebook_mlp_run": run_of(&notebook),
        "q2_weight_decay_sweep": s, "q2_weight_decay_sweep_run": run_of(&sweep),
        "q2_tuned_mlp": t, "q2_tuned_mlp_run": run_of(&tuned),
        "run": {"cpu_class": "AVX-512+BF16", "precision_reason": "the CPU (AVX-512+BF16) multiplies bfloat16 natively"},
    });
    render_answer("q2.md", &context)
}

#[test]
fn q2_says_whether_the_recipe_or_the_decay_moves_the_accuracy_more_as_the_numbers_say() {
    let set_spread = |recipe_gain: f64, decay_gain: f64, spread: f64| {
        move |r: &mut [Value; 3]| {
            r[1]["baseline"]["final_std"] = spread.into();
            r[2]["test_accuracy_std"] = spread.into();
            let base = r[1]["baseline"]["final_mean"].as_f64().unwrap();
            r[2]["test_accuracy_mean"] = (base + recipe_gain).into();
            for f in r[1]["decayed"].as_array_mut().unwrap() {
                f["paired_gain_mean"] = decay_gain.into();
            }
        }
    };
    let set = |recipe_gain: f64, decay_gain: f64| set_spread(recipe_gain, decay_gain, 0.0005);
    let recipe = q2_rendered(set(0.01, 0.002));
    assert!(recipe.contains("moves the result more than the decay factor does; the details follow"), "{recipe}");
    assert!(
        recipe.contains("by +1.00 percentage points, more than any weight-decay factor does (at most 0.20 points, either way)"),
        "{recipe}"
    );
    let decay = q2_rendered(set(0.001, -0.004));
    assert!(decay.contains("in this run the recipe moved the result no more than the decay factor did"), "{decay}");
    assert!(
        decay.contains("by +0.10 percentage points, no more than the largest effect of a weight-decay factor (0.40 points, either way)"),
        "{decay}"
    );
    let noisy = q2_rendered(set_spread(0.01, 0.002, 0.05));
    assert!(noisy.contains("although in this run the recipe's effect is within the replicates' spread"), "{noisy}");
    assert!(noisy.contains("by +1.00 percentage points, within the replicates' spread"), "{noisy}");
}

#[test]
fn q2_reads_a_decay_gain_by_its_t_statistic_and_says_when_there_is_none() {
    // Every decayed factor alike, the first (the top) highest on average.
    let set = |t: Option<f64>, significant: bool, gain: f64, std: f64| {
        move |r: &mut [Value; 3]| {
            for (i, f) in r[1]["decayed"].as_array_mut().unwrap().iter_mut().enumerate() {
                f["final_mean"] = (0.95 - 0.01 * i as f64).into();
                f["paired_gain_mean"] = gain.into();
                f["paired_gain_std"] = std.into();
                f["paired_t"] = t.map_or(Value::Null, Value::from);
                f["gain_significant"] = significant.into();
            }
        }
    };
    let untestable = q2_rendered(set(None, false, 0.002, 0.0));
    assert!(
        untestable.contains("Its gain over no decay, +0.20 percentage points, has no spread across 2 replicates to test it against"),
        "{untestable}"
    );
    assert!(untestable.contains("by +0.20 percentage points, with no spread across the replicates to test that against"), "{untestable}");
    assert!(!untestable.contains("not distinguishable from the spread"), "{untestable}");
    let unchanged = q2_rendered(set(None, false, 0.0, 0.0));
    assert!(unchanged.contains("It leaves every replicate's final accuracy exactly where it was without decay"), "{unchanged}");
    assert!(unchanged.contains("leaves every replicate's final accuracy where it was without decay."), "{unchanged}");
    let within = q2_rendered(set(Some(1.0), false, 0.002, 0.003));
    assert!(within.contains("+0.20 percentage points, is not distinguishable from the spread between replicates"), "{within}");
    assert!(!within.contains("has no spread across"), "{within}");
    let gain = q2_rendered(set(Some(9.0), true, 0.002, 0.0003));
    assert!(gain.contains("+0.20 percentage points, is larger than the replicate spread allows to be chance"), "{gain}");
}

#[test]
fn q2_says_the_undecayed_network_has_not_begun_to_overfit_only_where_every_replicate_agrees() {
    // The last epoch of each undecayed replicate: training accuracy below
    // validation (not overfitting) unless `above` names the replicate.
    let set = |above: Option<u64>| {
        move |r: &mut [Value; 3]| {
            for run in r[1]["runs"].as_array_mut().unwrap().iter_mut().filter(|run| run["l2"].as_f64() == Some(0.0)) {
                let lifted = Some(run["replicate"].as_u64().unwrap()) == above;
                let last = run["history"]["epochs"].as_array_mut().unwrap().last_mut().unwrap();
                let val = last["val_accuracy"].as_f64().unwrap();
                last["train_accuracy"] = if lifted { (val + 0.05).min(1.0) } else { val - 0.01 }.into();
            }
        }
    };
    let agreed = q2_rendered(set(None));
    assert!(agreed.contains("in this run the network has not begun to overfit, so weight decay has little to correct."), "{agreed}");
    assert!(agreed.contains("Both replicates without decay end this way."), "{agreed}");
    let split = q2_rendered(set(Some(1)));
    assert!(split.contains("this training has not begun to overfit."), "{split}");
    assert!(
        split
            .contains("Only 1 replicate of the 2 without decay ends this way, so this reading holds for replicate 1, not for the network."),
        "{split}"
    );
    assert!(!split.contains("in this run the network has not begun to overfit, so weight decay"), "{split}");
}

/// Question 3's answer, rendered with a smoke-profile result in float32
/// (the same work on any machine) after `change` edits it.
fn q3_rendered(change: impl Fn(&mut Value)) -> String {
    static RESULT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let experiment = ConvolutionalNetwork::new(Profile::Smoke, Precision::Float32);
    let mut result = RESULT.get_or_init(|| smoke_result(&experiment)).clone();
    change(&mut result);
    let context = json!({
        "q3_cnn": result,
        "q3_cnn_run": run_of(&experiment),
        "q2_notebook_mlp": {"history": {"train_seconds": 1.0, "epochs": [{}, {}], "final_val_accuracy": 0.9}},
        "q2_notebook_mlp_run": {"config": {"train_images": 2000}},
        "findings": {"q2": {"notebook": {"seconds_per_epoch": 0.5}}},
        "run": {"cpu_class": "AVX2", "precision_reason": "float32 by request"},
    });
    render_answer("q3.md", &context)
}

#[test]
fn q3_says_whether_the_network_reaches_the_questions_bar_as_the_numbers_say() {
    let below = q3_rendered(|r| r["test_accuracy_mean"] = 0.985.into());
    assert!(below.contains("**98.50 %** test accuracy (mean of 2 seeds, Table 3), below the 99 % the question names"), "{below}");
    assert!(below.contains("percentage points over the seeds), below the 99 % the question mentions."), "{below}");
    let above = q3_rendered(|r| r["test_accuracy_mean"] = 0.992.into());
    assert!(above.contains("above the 99 % the question names"), "{above}");
    assert!(above.contains("above the 99 % the question mentions."), "{above}");
    let goal = q3_rendered(|r| r["test_accuracy_mean"] = 0.996.into());
    assert!(goal.contains("above the 99 % the question mentions and above 99.5 %."), "{goal}");
}

#[test]
fn q3_says_its_cnns_trained_side_by_side_only_where_they_did() {
    let together = q3_rendered(|r| r["side_by_side"] = 2.into());
    assert!(together.contains("This question's CNNs train on one CPU thread each, up to 2 side by side"), "{together}");
    assert!(together.contains("included, add up to") && !together.contains("seeds took"), "{together}");
    assert!(together.contains("the CNNs' on one thread each, up to 2 side by side, the MLPs' one at a time on"), "{together}");
    let in_turn = q3_rendered(|r| r["side_by_side"] = 1.into());
    assert!(in_turn.contains("seeds took") && !in_turn.contains("side by side"), "{in_turn}");
}

#[test]
fn q3_says_whether_convolutions_generalised_and_kept_shifted_digits_as_the_numbers_say() {
    // Seeds that agree on the validation split: the noise band of the shifted
    // images is one validation image (0.6 points). The MLP's test accuracies
    // spread by 1.4 points, so the band of the means' difference is 2 points.
    let set = |cnn: f64, mlp: f64, cnn_shifted: f64, mlp_shifted: f64| {
        move |r: &mut Value| {
            r["test_accuracy_mean"] = cnn.into();
            for rep in r["replicates"].as_array_mut().unwrap() {
                rep["history"]["final_val_accuracy"] = 0.98.into();
                rep["test_accuracy"] = cnn.into();
            }
            r["wide_mlp_test_accuracies"] = json!([mlp - 0.01, mlp + 0.01]);
            r["costs"]["wide_mlp"]["test_accuracy"] = mlp.into();
            *r["translation"]["chosen_cnn"]["mean"].as_array_mut().unwrap().last_mut().unwrap() = cnn_shifted.into();
            *r["translation"]["wide_mlp"]["mean"].as_array_mut().unwrap().last_mut().unwrap() = mlp_shifted.into();
        }
    };
    let better = q3_rendered(set(0.99, 0.965, 0.9, 0.3));
    assert!(
        better.contains(
            "a higher test accuracy (99.00 % against 96.50 %, each the mean of 2 seeds), and more of it kept when the digits move (90.0 % against 30.0 %"
        ),
        "{better}"
    );
    assert!(better.contains("generalised better here (99.00 % against") && better.contains("and tolerate shifts."), "{better}");
    let worse = q3_rendered(set(0.955, 0.98, 0.2, 0.3));
    assert!(
        worse.contains("a lower test accuracy (95.50 % against 98.00 %, each the mean of 2 seeds), and less of it kept when"),
        "{worse}"
    );
    assert!(worse.contains("generalised worse here") && worse.contains("did not tolerate shifts better here."), "{worse}");
    let tied = q3_rendered(set(0.982, 0.98, 0.302, 0.3));
    assert!(
        tied.contains(
            "about the same test accuracy (98.20 % against 98.00 %, each the mean of 2 seeds, a difference within their spread), and about as much of it kept"
        ),
        "{tied}"
    );
    assert!(tied.contains("generalised no better here, within the seeds' spread"), "{tied}");
    let uneven = q3_rendered(|r: &mut Value| {
        set(0.99, 0.965, 0.9, 0.3)(r);
        r["wide_mlp_test_accuracies"] = json!([0.955, 0.965, 0.975]);
    });
    assert!(uneven.contains("a higher test accuracy (99.00 % against 96.50 %, means of 2 and 3 seeds)"), "{uneven}");
}

#[test]
fn q3_says_whether_architecture_or_augmentation_kept_shifted_digits_as_the_numbers_say() {
    // Seeds that agree on the validation split: the noise band is one validation image.
    let set = |reference: f64, mlp: f64| {
        move |r: &mut Value| {
            for rep in r["replicates"].as_array_mut().unwrap() {
                rep["history"]["final_val_accuracy"] = 0.98.into();
            }
            *r["translation"]["reference_cnn"]["mean"].as_array_mut().unwrap().last_mut().unwrap() = reference.into();
            *r["translation"]["wide_mlp"]["mean"].as_array_mut().unwrap().last_mut().unwrap() = mlp.into();
        }
    };
    let architecture = q3_rendered(set(0.9, 0.3));
    assert!(architecture.contains("keeps more than the MLP, which did: that comes from its architecture"), "{architecture}");
    let augmentation = q3_rendered(set(0.3, 0.9));
    assert!(
        augmentation.contains("keeps less than the MLP, which did: for robustness to shifts, augmentation mattered more here"),
        "{augmentation}"
    );
    let level = q3_rendered(set(0.9, 0.9));
    assert!(level.contains("keeps about as much as the MLP, which did, within the seeds' spread"), "{level}");
}

#[test]
fn q3_says_the_mlp_does_well_unshifted_only_where_it_does() {
    let set_unshifted = |chosen: f64, reference: f64, mlp: f64| {
        move |r: &mut Value| {
            for (model, accuracy) in [("chosen_cnn", chosen), ("reference_cnn", reference), ("wide_mlp", mlp)] {
                r["translation"][model]["mean"][0] = accuracy.into();
            }
        }
    };
    let lowest = q3_rendered(set_unshifted(0.99, 0.985, 0.97));
    assert!(
        lowest.contains("even unshifted, though, the MLP is the least accurate of the three (97.0 % against 99.0 % for the best)"),
        "{lowest}"
    );
    assert!(!lowest.contains("is not the least accurate"), "{lowest}");
    let level = q3_rendered(set_unshifted(0.97, 0.985, 0.98));
    assert!(
        level.contains(
            "which is why the MLP is not the least accurate of the three on the unshifted test set (98.0 %, the best reaching 98.5 %)"
        ),
        "{level}"
    );
}

#[test]
fn q3_says_whether_the_curve_settled_and_which_confusion_is_most_frequent() {
    let set_last = |change: f64| {
        move |r: &mut Value| {
            for rep in r["replicates"].as_array_mut().unwrap() {
                let epochs = rep["history"]["epochs"].as_array_mut().unwrap();
                let n = epochs.len();
                epochs[n - 2]["val_accuracy"] = 0.95.into();
                epochs[n - 1]["val_accuracy"] = (0.95 + change).into();
            }
        }
    };
    assert!(q3_rendered(set_last(0.0005)).contains("has settled by the last epoch (it moved by +0.05 percentage points in it"));
    let rising = q3_rendered(set_last(0.01));
    assert!(rising.contains("is still rising in the last epoch (+1.00 percentage points"), "{rising}");
    assert!(!rising.contains("settled"), "{rising}");
    assert!(q3_rendered(set_last(-0.01)).contains("falls in the last epoch (\u{2212}1.00 percentage points"));
    let perfect = q3_rendered(|r| {
        r["confusion"] = json!((0..10).map(|t| (0..10).map(|p| u64::from(t == p)).collect::<Vec<_>>()).collect::<Vec<_>>())
    });
    assert!(!perfect.contains("most frequent confusion"), "no error, no confusion named: {perfect}");
}

#[test]
fn the_ablations_say_when_they_train_fewer_epochs_or_images_than_the_chosen_recipes() {
    let every_image = |r: &mut Value| r["ablation_images"] = r["train_images"].clone();
    let q2_full_length = q2_rendered(|r| every_image(&mut r[2]));
    assert!(
        q2_full_length.contains("trained from the first seed; all are compared") && q2_full_length.contains("(first seed, 2 epochs each)"),
        "{q2_full_length}"
    );
    let q2_shorter = q2_rendered(|r| {
        every_image(&mut r[2]);
        r[2]["ablation_epochs"] = 1.into();
    });
    assert!(q2_shorter.contains("as is the chosen recipe once more, all for 1 of the chosen recipe's 2 epochs"), "{q2_shorter}");
    assert!(q2_shorter.contains("(first seed, 1 epochs each)"), "{q2_shorter}");
    let q2_fewer = q2_rendered(|r| {
        r[2]["ablation_images"] = 600.into();
        r[2]["ablation_epochs"] = 1.into();
    });
    assert!(
        q2_fewer.contains("all on 600 of the 1,834 training images (drawn at random, the same for every run) and for 1 of"),
        "{q2_fewer}"
    );
    assert!(q2_fewer.contains("(first seed, 1 epochs, 600 training images each)"), "{q2_fewer}");

    let q3_full_length = q3_rendered(every_image);
    assert!(q3_full_length.contains("trained from the same seed, and the reference network"), "{q3_full_length}");
    assert!(q3_full_length.contains("The reference network is"), "{q3_full_length}");
    let q3_shorter = q3_rendered(|r| {
        every_image(r);
        r["ablation_epochs"] = 1.into();
    });
    assert!(q3_shorter.contains("trained from the same seed for 1 of the chosen recipe's 2 epochs (a shorter run"), "{q3_shorter}");
    let q3_fewer = q3_rendered(|r| r["ablation_images"] = 600.into());
    assert!(q3_fewer.contains("trained from the same seed on 600 of the 1,834 training images (drawn at random"), "{q3_fewer}");
    assert!(q3_fewer.contains("The reference network, trained on all the training images for 2 epochs, reaches"), "{q3_fewer}");
    assert!(!q3_fewer.contains("| reference network"), "the reference leaves the ablation's table: {q3_fewer}");
}

/// Question 1's answer, rendered with a smoke-profile result after `change` edits it.
fn q1_rendered(change: impl Fn(&mut Value)) -> String {
    let experiment = Preprocessing::new(Profile::Smoke);
    let mut result = smoke_result(&experiment);
    change(&mut result);
    let context = json!({
        "q1_preprocessing": result,
        "q1_preprocessing_run": run_of(&experiment),
        "q2_notebook_mlp_run": run_of(&NotebookMlp::new(Profile::Smoke)),
    });
    render_answer("q1.md", &context)
}

#[test]
fn q1_calls_the_classes_balanced_only_when_their_counts_are_close() {
    let balanced = q1_rendered(|r| r["class_counts_train"] = json!([100, 110, 120, 130, 140, 100, 110, 120, 130, 149]));
    assert!(
        balanced.contains("The classes are close to balanced (Table 3: the largest has 1.49 times the images of the smallest)"),
        "{balanced}"
    );
    let skewed = q1_rendered(|r| r["class_counts_train"] = json!([100, 110, 120, 130, 140, 100, 110, 120, 130, 151]));
    assert!(skewed.contains("The classes are not balanced (Table 3: the largest has 1.51 times"), "{skewed}");
}

#[test]
fn on_other_data_the_answers_claim_nothing_of_mnist_and_name_the_classes() {
    let fashion = DataSet::identify(&FASHION_MNIST_SHA256);
    assert_eq!(fashion.name, "Fashion-MNIST");
    let mnist_q3 = q3_rendered(|_| {});
    assert!(mnist_q3.contains("which is how handwriting is structured"), "{mnist_q3}");
    let mnist_q4 = render_q4(&q4_result());
    assert!(mnist_q4.contains("the probability that it is lit (\"ink\")"), "{mnist_q4}");
    DATA_SET.with(|d| *d.borrow_mut() = Some(fashion));
    let q2 = q2_rendered(|r| r[1]["hinton"] = Value::Null);
    assert!(q2.contains("Hinton's figure is a result on MNIST, so on Fashion-MNIST there is nothing to compare with"), "{q2}");
    assert!(q2.contains("class $k$ (T-shirt/top for $k = 0$)"), "{q2}");
    let q3 = q3_rendered(|r| {
        r["confusion"] = json!(
            (0..10).map(|t| (0..10).map(|p| if (t, p) == (6, 0) { 9 } else { u64::from(t == p) }).collect::<Vec<_>>()).collect::<Vec<_>>()
        );
    });
    assert!(q3.contains("The most frequent confusion is Shirt taken for T-shirt/top (9 times)"), "{q3}");
    assert!(q3.contains("9 Ankle boot"), "{q3}");
    let q1 = q1_rendered(|_| {});
    assert!(q1.contains("| 9 Ankle boot |"), "{q1}");
    let q4 = render_q4(&q4_result());
    let appendix = appendix_rendered(|_| {});
    for (file, text) in [("q1", &q1), ("q2", &q2), ("q3", &q3), ("q4", &q4), ("appendix", &appendix)] {
        for mnist_only in ["digit", "handwrit", "stroke", "Hinton's 98", "\"ink\"", "saw ink"] {
            assert!(!text.contains(mnist_only), "{file} says \"{mnist_only}\" of Fashion-MNIST: {text}");
        }
    }
    assert!(q4.contains("garments"), "{q4}");
}

/// Question 4's answer rendered with `result` (its config from the smoke profile).
fn render_q4(result: &Value) -> String {
    render_q4_in(Precision::Float32, result)
}

/// The same, with the config of a run that computed in `precision`.
fn render_q4_in(precision: Precision, result: &Value) -> String {
    render_q4_judged(precision, result, None)
}

/// The same, with the group's own reading of the examples (`report.toml`).
fn render_q4_judged(precision: Precision, result: &Value, own: Option<f64>) -> String {
    let experiment = DenoisingAutoencoder::new(Profile::Smoke, precision);
    let context = json!({
        "q4_denoising_autoencoder": result,
        "q4_denoising_autoencoder_run": run_of(&experiment),
        "q2_weight_decay_sweep": {"baseline": {"final_mean": 0.98, "final_std": 0.001}},
        "report": {"q4_noisy_hard_from": own},
    });
    render_answer("q4.md", &context)
}

/// A smoke-profile result of question 4, computed once for all the tests.
fn q4_result() -> Value {
    static RESULT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    RESULT.get_or_init(|| smoke_result(&DenoisingAutoencoder::new(Profile::Smoke, Precision::Float32))).clone()
}

/// `result` with every level's accuracies (noisy, denoised) and squared
/// errors (noisy, denoised) set by `f` of the level.
fn with_levels(result: &Value, f: impl Fn(f64) -> (f64, f64, f64, f64)) -> Value {
    let mut result = result.clone();
    for level in result["levels"].as_array_mut().unwrap() {
        let (noisy, denoised, mse_noisy, mse_denoised) = f(level["level"].as_f64().unwrap());
        level["accuracy_noisy_mean"] = noisy.into();
        level["accuracy_denoised_mean"] = denoised.into();
        level["mse_noisy"] = mse_noisy.into();
        level["mse_denoised"] = mse_denoised.into();
        level["accuracy_noisy_std"] = 0.002.into();
        level["accuracy_denoised_std"] = 0.002.into();
    }
    result
}

#[test]
fn q4_says_where_denoising_helps_and_where_it_stops_as_the_numbers_say() {
    let base = q4_result();
    // Noisy images read up to 0.3, denoised ones up to 0.7; beyond, denoising hurts.
    let stops = with_levels(&base, |l| (if l < 0.35 { 0.9 } else { 0.3 }, if l < 0.75 { 0.9 } else { 0.2 }, l, l / 2.0));
    let text = render_q4(&stops);
    assert!(text.contains("gets fewer than half of the noisy digits right from level **0.4** (30.0 %)"), "{text}");
    assert!(text.contains("Denoising stops helping the classifier from level **0.8** (the last level where it helps beyond the spread of the noise draws is 0.7)"), "{text}");
    assert!(text.contains("and of the denoised ones from level 0.8 (20.0 %)"), "{text}");
    assert!(text.contains("closer to the original than the noisy one at every level above 0"), "{text}");
    assert!(
        text.contains(
            "**Answer.** Only in part: denoising improves the classification at levels 0.4, 0.5, 0.6, 0.7, beyond the spread of the noise draws, but not at levels 0.1, 0.2, 0.3, 0.8, 0.9, 1.0 ("
        ),
        "{text}"
    );
    assert!(
        text.contains("[Our own reading of @fig-q4-examples goes here"),
        "without a reading of its own the group is asked for one: {text}"
    );
    // Helping at every level until both versions are near chance: nothing improves there.
    let to_chance = with_levels(&base, |l| match l {
        0.0 => (0.9, 0.9, 0.0, 0.01),
        l if l < 0.85 => (0.4, 0.8, l, l / 2.0),
        l => (0.09, 0.12, l, l / 2.0),
    });
    let text = render_q4(&to_chance);
    assert!(text.contains("**Answer.** Yes: denoising improves the classification at every noise level where anything is classified; at levels 0.9, 1.0 both versions stay below 15 %, near the 10 % of guessing, whatever denoising changes there"), "{text}");
    assert!(text.contains("Denoising keeps helping the classifier up to level **0.8**; from 0.9 on, both the noisy and the denoised digits are classified below 15 %, near the 10 % of guessing"), "{text}");
    assert!(!text.contains("improves the classification at levels"), "{text}");
    // Hurting at every level, farther in squared error at the lowest levels.
    let hurts = with_levels(&base, |l| match l {
        1.0 => (0.1, 0.1, l, l / 2.0),
        l => (if l < 0.45 { 0.9 } else { 0.3 }, if l < 0.05 { 0.9 } else { 0.2 }, l, if l < 0.25 { 2.0 * l } else { l / 2.0 }),
    });
    let text = render_q4(&hurts);
    assert!(text.contains("right from level **0.5** (30.0 %)"), "{text}");
    assert!(text.contains("Denoising does not help the classifier at any noise level"), "{text}");
    assert!(text.contains("**Answer.** No: denoising improves the classification at no noise level; at level 1.0 both versions"), "{text}");
    assert!(text.contains("closer to the original than the noisy one at levels 0.3, 0.4"), "{text}");
    assert!(text.contains("and farther at levels 0.1, 0.2."), "{text}");
    // Never lost at all.
    let never = with_levels(&base, |l| (0.9, 0.9, l, l));
    let text = render_q4(&never);
    assert!(text.contains("gets fewer than half of the noisy digits right at no level up to 1.0"), "{text}");
    assert!(text.contains("farther from the original than the noisy one at every level above 0"), "{text}");
}

#[test]
fn q4_sets_the_groups_own_reading_beside_the_classifiers() {
    let stops = with_levels(&q4_result(), |l| (if l < 0.35 { 0.9 } else { 0.3 }, 0.9, l, l / 2.0));
    let later = render_q4_judged(Precision::Float32, &stops, Some(0.6));
    assert!(later.contains("To us, the noisy digits of @fig-q4-examples become difficult to identify from level **0.6**"), "{later}");
    assert!(later.contains("from level **0.4** (30.0 %): it gives up sooner than we do"), "{later}");
    assert!(!later.contains("[Our own reading"), "{later}");
    let earlier = render_q4_judged(Precision::Float32, &stops, Some(0.2));
    assert!(earlier.contains("(30.0 %): we give up sooner than it does"), "{earlier}");
    let same = render_q4_judged(Precision::Float32, &stops, Some(0.4));
    assert!(same.contains("(30.0 %), the same level"), "{same}");
}

#[test]
fn q4_names_the_model_it_classifies_with_and_why() {
    let base = q4_result();
    let text = render_q4(&base);
    let chosen = &base["classifier"];
    let named = format!("not trained again: {}, seed {}", chosen["model"].as_str().unwrap(), chosen["seed"]);
    assert!(text.contains(&named), "{text}");
    assert!(text.contains("is the highest of the 4 candidate models"), "{text}");
    assert!(text.contains("decay sweep validated on the test set"), "{text}");
    assert!(!text.contains("is a tie"), "{text}");
    // The best model of the other kind within one validation image: a tie.
    let mut tied = base.clone();
    let accuracy = chosen["validation_accuracy"].as_f64().unwrap();
    for candidate in tied["candidates"].as_array_mut().unwrap() {
        if candidate["model"] != chosen["model"] {
            candidate["validation_accuracy"] = accuracy.into();
        }
    }
    let text = render_q4(&tied);
    assert!(text.contains("so the choice between the two is a tie, settled by taking the first"), "{text}");
}

#[test]
fn q4_says_what_denoising_costs_and_gives_as_the_numbers_say() {
    let base = q4_result();
    let classifier = base["classifier"]["test_accuracy"].as_f64().unwrap();
    // A clean-image cost of 65 points, and denoised images barely read at the training level.
    let poor = with_levels(&base, |l| match l {
        0.0 => (0.9, 0.25, 0.0, 0.1),
        1.0 => (0.1, 0.1, l, l),
        _ => (0.3, 0.2, l, l),
    });
    let text = render_q4(&poor);
    assert!(text.contains("Without noise it costs 65.00 points, more than the 1 point this report counts as a little"), "{text}");
    assert!(!text.contains("costs a little"), "{text}");
    assert!(text.contains("hands it nothing it reads better than the noisy input"), "{text}");
    assert!(text.contains("both are near chance (10.0 % and 10.0 %, against 10 % for guessing)"), "{text}");
    // A small cost, and denoised images read almost as well as clean ones.
    let good = with_levels(&base, |l| if l == 0.0 { (0.9, 0.892, 0.0, 0.01) } else { (0.3, classifier, l, l / 2.0) });
    let text = render_q4(&good);
    assert!(text.contains("Without noise it costs a little (\u{2212}0.80 points)"), "{text}");
    assert!(text.contains("hands it something close to a clean digit"), "{text}");
    assert!(text.contains("since salt pixels land on the background"), "{text}");
    assert!(!text.contains("near chance"), "{text}");
    // No measurable cost (within the draws' spread), and a partial help.
    let some = with_levels(&base, |l| if l == 0.0 { (0.9, 0.898, 0.0, 0.01) } else { (0.6, (0.7f64).min(classifier - 0.1), l, l / 2.0) });
    let text = render_q4(&some);
    assert!(text.contains("Without noise it costs nothing measurable (\u{2212}0.20 points)"), "{text}");
    assert!(text.contains("reads better than the noisy input, though not as well as a clean digit"), "{text}");
    assert!(!text.contains("since salt pixels land"), "{text}");
    let everywhere = with_levels(&base, |l| (0.3, 0.6, l, l));
    assert!(render_q4(&everywhere).contains("**Answer.** Yes: denoising improves the classification at every noise level"));
}

/// The earlier edition's appendix, rendered with a smoke-profile result
/// after `change` edits it.
fn appendix_rendered(change: impl Fn(&mut Value)) -> String {
    appendix_rendered_in(Precision::Float32, change)
}

/// The same, with the config of a run that computed in `precision`.
fn appendix_rendered_in(precision: Precision, change: impl Fn(&mut Value)) -> String {
    static RESULT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let experiment = EarlierEdition::new(Profile::Smoke, precision);
    let mut result = RESULT.get_or_init(|| smoke_result(&EarlierEdition::new(Profile::Smoke, Precision::Float32))).clone();
    change(&mut result);
    let context = json!({"appendix_earlier_edition": result, "appendix_earlier_edition_run": run_of(&experiment)});
    render_answer("y_earlier_edition.md", &context)
}

/// Sets the named accuracy of every row of `rows` by `f` of its position.
fn set_each(rows: &mut Value, field: &str, f: impl Fn(usize) -> f64) {
    for (i, row) in rows.as_array_mut().unwrap().iter_mut().enumerate() {
        row[field] = f(i).into();
    }
}

#[test]
fn the_earlier_editions_learning_rate_and_width_answers_follow_the_numbers() {
    // Accuracy rising with the rate to the fifth, then falling hard; width paying off up to 100 units, wider ones worse.
    let peaked = appendix_rendered(|r| {
        set_each(&mut r["learning_rate"]["rows"], "test_accuracy_mean", |i| [0.5, 0.7, 0.8, 0.9, 0.95, 0.9, 0.8, 0.6][i]);
        r["learning_rate"]["best"]["test_accuracy_mean"] = 0.95.into();
        set_each(&mut r["width"]["rows"], "best_accuracy", |i| [0.90, 0.95, 0.97, 0.9795, 0.98, 0.9798, 0.97, 0.96, 0.95][i]);
        set_each(&mut r["width"]["rows"], "best_learning_rate", |i| if i < 4 { 0.1 } else { 0.05 });
    });
    assert!(peaked.contains("5.00 points above the next best, 0.05 (90.00 %)"), "{peaked}");
    assert!(!peaked.contains("do not tell the two rates apart"), "{peaked}");
    assert!(peaked.contains("The smallest rate, 0.001, reaches only 50.0 %"), "{peaked}");
    assert!(peaked.contains("The largest, 1.0, falls to 60.0 %"), "{peaked}");
    assert!(peaked.contains("Extra width stops paying off at **100 hidden units**"), "{peaked}");
    assert!(peaked.contains("98.00 % with 150 units (97.95 % with 100); wider is then not merely no better but worse: 500 units reach 97.00 %, 1.00 points below the best, 750 units reach 96.00 %"), "{peaked}");
    assert!(peaked.contains("and some wider networks lose accuracy"), "{peaked}");
    assert!(peaked.contains("4 of the 9 widths do best at the largest rate of the grid, 0.1"), "{peaked}");
    // A plateau from 100 units on: no wider width falls.
    let plateau = appendix_rendered(|r| {
        set_each(&mut r["width"]["rows"], "best_accuracy", |i| [0.90, 0.95, 0.97, 0.98, 0.9801, 0.9802, 0.9803, 0.9804, 0.9805][i]);
    });
    assert!(plateau.contains("Extra width stops paying off at **100 hidden units**"), "{plateau}");
    assert!(plateau.contains("past 100 units the accuracy it buys is within a tenth of a point"), "{plateau}");
    assert!(!plateau.contains("worse:"), "{plateau}");
    // Flat in the rate, a divergence at the largest; width paying off to the widest.
    let flat = appendix_rendered(|r| {
        set_each(&mut r["learning_rate"]["rows"], "test_accuracy_mean", |_| 0.9);
        r["learning_rate"]["best"]["test_accuracy_mean"] = 0.9.into();
        *r["learning_rate"]["rows"].as_array_mut().unwrap().last_mut().unwrap().get_mut("diverged").unwrap() = 1.into();
        set_each(&mut r["width"]["rows"], "best_accuracy", |i| 0.90 + 0.01 * i as f64);
        set_each(&mut r["width"]["rows"], "best_learning_rate", |_| 0.1);
    });
    assert!(flat.contains("Even the smallest rate, 0.001, reaches 90.0 %, within a percentage point of the best"), "{flat}");
    assert!(
        flat.contains(
            "points lower, within twice the standard error of that difference, so the replicates do not tell the two rates apart"
        ),
        "{flat}"
    );
    assert!(flat.contains("The largest, 1.0, diverged in 1 of 2 replicates"), "{flat}");
    assert!(flat.contains("extra width pays off up to the widest network, **1000 hidden units**"), "{flat}");
    assert!(flat.contains("Every width does best at the largest rate of the grid, 0.1"), "{flat}");
}

#[test]
fn the_earlier_editions_noise_and_l2_answers_follow_the_numbers() {
    let set = |noise: [f64; 4], l2_test: [f64; 6], train: f64, losses: [f64; 2]| {
        move |r: &mut Value| {
            set_each(&mut r["input_noise"], "test_accuracy", |i| noise[i]);
            set_each(&mut r["learning_rate"]["rows"], "test_accuracy_std", |_| 0.001);
            set_each(&mut r["hidden_l2"], "test_accuracy", |i| l2_test[i]);
            let plain = &mut r["hidden_l2"][0];
            plain["train_accuracy"] = train.into();
            plain["test_loss"] = losses[1].into();
            let epochs = plain["history"]["epochs"].as_array_mut().unwrap();
            epochs[0]["val_loss"] = losses[0].into();
            epochs[1]["val_loss"] = losses[1].into();
        }
    };
    let regularised = appendix_rendered(set([0.90, 0.92, 0.85, 0.1], [0.90, 0.91, 0.905, 0.90, 0.89, 0.85], 0.95, [0.30, 0.35]));
    assert!(
        regularised
            .contains("Noise of standard deviation **0.1** gives the best test accuracy, 92.00 % against 90.00 % without noise (+2.00"),
        "{regularised}"
    );
    assert!(regularised.contains("noise of standard deviation 10.0 drowns them"), "{regularised}");
    assert!(regularised.contains("**Answer.** Yes, a little: without L2 the training accuracy (95.00 %) ends above the test accuracy (90.00 %), and the test loss rose from its lowest, 0.3000 in epoch 1, to 0.3500"), "{regularised}");
    assert!(regularised.contains("The best factor, 0.001, raises the test accuracy by +1.00 percentage points"), "{regularised}");
    assert!(regularised.contains("The largest factor, 0.1, costs 5.00 percentage points"), "{regularised}");
    let no_help = appendix_rendered(set([0.90, 0.89, 0.895, 0.895], [0.90, 0.90, 0.899, 0.898, 0.897, 0.898], 0.85, [0.35, 0.30]));
    assert!(
        no_help.contains("No noise level beats the network without noise beyond the ±0.28 percentage points within which single runs differ by chance (90.00 %"),
        "{no_help}"
    );
    // A gain of one run over another smaller than the spread of single runs is no gain.
    let tiny = appendix_rendered(set([0.90, 0.902, 0.85, 0.1], [0.90, 0.902, 0.90, 0.90, 0.89, 0.85], 0.95, [0.30, 0.35]));
    assert!(tiny.contains("No noise level beats the network without noise beyond"), "{tiny}");
    assert!(
        tiny.contains("No factor raises the test accuracy beyond the spread of single runs (the best, 0.001, changes it by +0.20"),
        "{tiny}"
    );
    assert!(
        no_help.contains("Even noise of standard deviation 10.0, large against pixels in [0, 1], leaves the test accuracy at 89.5 %"),
        "{no_help}"
    );
    assert!(
        no_help.contains("**Answer.** No: without L2 the training accuracy (85.00 %) does not exceed the test accuracy (90.00 %)"),
        "{no_help}"
    );
    assert!(no_help.contains("No factor raises the test accuracy"), "{no_help}");
    assert!(no_help.contains("Even the largest factor, 0.1, moves the test accuracy by only \u{2212}0.20 percentage points"), "{no_help}");
    let still_falling = appendix_rendered(set([0.9; 4], [0.9; 6], 0.95, [0.35, 0.30]));
    assert!(
        still_falling
            .contains("ends above the test accuracy (90.00 %), but the test loss was still at its lowest, 0.3000, at the last epoch"),
        "{still_falling}"
    );
}

#[test]
fn the_dense_networks_are_said_to_compute_in_bfloat16_only_where_they_did() {
    for precision in [Precision::Float32, Precision::BFloat16] {
        let q2 = q2_rendered_in(precision, |_| {});
        let q4 = render_q4_in(precision, &q4_result());
        let appendix = appendix_rendered_in(precision, |_| {});
        for (file, text, says) in [
            ("q2", &q2, "products in bfloat16 with float32 master weights"),
            ("q4", &q4, "Its products compute in bfloat16"),
            ("appendix", &appendix, "products in bfloat16 with float32 master weights"),
        ] {
            assert_eq!(text.contains(says), precision == Precision::BFloat16, "{file} in {}: {text}", precision.name());
            assert_eq!(text.contains("bfloat16"), precision == Precision::BFloat16, "{file} in {}: {text}", precision.name());
        }
        assert_eq!(q2.contains("64-64 network, whose products are too small to gain, stays in float32"), precision == Precision::BFloat16);
    }
}
