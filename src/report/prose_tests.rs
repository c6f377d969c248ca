//! The answers' interpretive sentences are chosen by the numbers they
//! interpret: each test renders a real answer file with a real result, then
//! with the same result changed so that the comparison goes the other way,
//! and checks that the sentence follows the numbers.

use indicatif::ProgressBar;
use serde_json::{Value, json};

use crate::data::Mnist;
use crate::experiment::{AnyExperiment, Context};
use crate::experiments::q4_autoencoder::DenoisingAutoencoder;
use crate::profile::Profile;
use crate::report::answers;

/// Question 4's answer rendered with `result` (its config from the smoke profile).
fn render_q4(result: &Value) -> String {
    let experiment = DenoisingAutoencoder::new(Profile::Smoke);
    let context = json!({
        "q4_denoising_autoencoder": result,
        "q4_denoising_autoencoder_run": {"config": experiment.config(), "device": "cpu", "threads": 1, "seed": 1, "wall_seconds": 1.0},
    });
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("answers/q4.md");
    let rendered = answers::render(&[file], &context).unwrap_or_else(|e| panic!("{e:#}"));
    rendered[0].markdown.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A smoke-profile result of question 4, computed once for all the tests.
fn q4_result() -> Value {
    static RESULT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    RESULT
        .get_or_init(|| {
            let data = Mnist::load_embedded().unwrap().subset(Profile::Smoke.train_images(), Profile::Smoke.test_images(), 1);
            let progress = ProgressBar::hidden();
            let ctx = Context { data: &data, device: tch::Device::Cpu, seed: 3, progress: &progress };
            DenoisingAutoencoder::new(Profile::Smoke).run(&ctx).unwrap()
        })
        .clone()
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
    }
    result
}

#[test]
fn q4_says_which_images_stay_readable_longer_as_the_numbers_say() {
    let base = q4_result();
    // Denoised readable up to 0.7, noisy only up to 0.3.
    let helps = with_levels(&base, |l| (if l < 0.35 { 0.9 } else { 0.3 }, if l < 0.75 { 0.9 } else { 0.2 }, l, l / 2.0));
    let text = render_q4(&helps);
    assert!(text.contains("noisy digits become hard to read at level **0.4**"), "{text}");
    assert!(text.contains("falls below half from level 0.8"), "{text}");
    assert!(text.contains("the denoised images keep the digit recognisable longer"), "{text}");
    assert!(text.contains("closer to the original than the noisy one at every level above 0"), "{text}");
    // The other way: denoised lost at 0.1, noisy readable until 0.5.
    let hurts = with_levels(&base, |l| {
        (if l < 0.45 { 0.9 } else { 0.3 }, if l < 0.05 { 0.9 } else { 0.2 }, l, if l < 0.25 { 2.0 * l } else { l / 2.0 })
    });
    let text = render_q4(&hurts);
    assert!(text.contains("noisy digits become hard to read at level **0.5**"), "{text}");
    assert!(text.contains("falls below half from level 0.1"), "{text}");
    assert!(text.contains("sooner than on the noisy images"), "{text}");
    assert!(!text.contains("recognisable longer"), "{text}");
    assert!(text.contains("closer to the original than the noisy one at levels 0.3, 0.4"), "{text}");
    assert!(text.contains("and farther at levels 0.1, 0.2."), "{text}");
    // Never lost at all.
    let never = with_levels(&base, |l| (0.9, 0.9, l, l));
    let text = render_q4(&never);
    assert!(text.contains("noisy digits stay readable at every level"), "{text}");
    assert!(text.contains("farther from the original than the noisy one at every level above 0"), "{text}");
}

#[test]
fn q4_says_what_denoising_costs_and_gives_as_the_numbers_say() {
    let base = q4_result();
    let classifier = base["classifier_accuracy"].as_f64().unwrap();
    // A clean-image cost of 65 points, and denoised images barely read at the training level.
    let poor = with_levels(&base, |l| match l {
        0.0 => (0.9, 0.25, 0.0, 0.1),
        1.0 => (0.1, 0.1, l, l),
        _ => (0.3, 0.15, l, l),
    });
    let text = render_q4(&poor);
    assert!(text.contains("Without noise it costs \u{2212}65.00 points, a large loss"), "{text}");
    assert!(!text.contains("costs a little"), "{text}");
    assert!(text.contains("hands it nothing it reads better than the noisy input"), "{text}");
    assert!(text.contains("both fail"), "{text}");
    // A small cost, and denoised images read almost as well as clean ones.
    let good = with_levels(&base, |l| if l == 0.0 { (0.9, 0.895, 0.0, 0.01) } else { (0.3, classifier, l, l / 2.0) });
    let text = render_q4(&good);
    assert!(text.contains("Without noise it costs a little (\u{2212}0.50 points)"), "{text}");
    assert!(text.contains("hands it something close to a clean digit"), "{text}");
    assert!(text.contains("since salt pixels land on the background"), "{text}");
    assert!(!text.contains("both fail"), "{text}");
    // No cost at all, and a partial help.
    let some = with_levels(&base, |l| if l == 0.0 { (0.9, 0.9, 0.0, 0.01) } else { (0.6, (0.7f64).min(classifier - 0.1), l, l / 2.0) });
    let text = render_q4(&some);
    assert!(text.contains("Without noise it costs nothing"), "{text}");
    assert!(text.contains("reads better than the noisy input, though still far from a clean digit"), "{text}");
    assert!(!text.contains("since salt pixels land"), "{text}");
}
