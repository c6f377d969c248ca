//! Summary statistics of replicates.

/// Two-sided 95 % critical values of Student's t for 1 to 10 degrees of freedom.
const T_CRITICAL_95: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/// Paired t statistic of `gains` and whether it is significant at 95 %.
pub fn paired_t(gains: &[f64]) -> (Option<f64>, bool) {
    let (mean, std) = mean_std(gains);
    let n = gains.len();
    if n < 2 || std == 0.0 || !std.is_finite() {
        return (None, false);
    }
    let t = mean / (std / (n as f64).sqrt());
    (Some(t), t.abs() > T_CRITICAL_95[(n - 2).min(T_CRITICAL_95.len() - 1)])
}

pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_t_tests_the_mean_gain_against_its_spread() {
        assert_eq!(mean_std(&[1.0, 2.0, 3.0]), (2.0, 1.0));
        let (t, significant) = paired_t(&[0.010, 0.011, 0.012]);
        assert!((t.unwrap() - 0.011 / (0.001 / 3f64.sqrt())).abs() < 1e-9);
        assert!(significant);
        assert!(!paired_t(&[0.01, -0.01, 0.005]).1);
        assert_eq!(paired_t(&[0.0, 0.0]), (None, false));
    }
}
