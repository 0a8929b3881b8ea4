//! Percentiles and medians of samples.

/// The `p`-th percentile (0–100) of `samples` (sorted here), nearest rank.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Operations per second since `started`: the sum of what every worker
/// task counted.
pub async fn per_second(
    tasks: Vec<tokio::task::JoinHandle<Result<u64, String>>>,
    started: std::time::Instant,
) -> Result<f64, String> {
    let mut total = 0;
    for task in tasks {
        total += task.await.map_err(|e| e.to_string())??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// The median of `values`.
pub fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    percentile(&mut values, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut samples, 50.0), 50.0);
        assert_eq!(percentile(&mut samples, 99.0), 99.0);
        assert_eq!(percentile(&mut samples, 100.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(percentile(&mut [], 50.0).is_nan());
    }
}
