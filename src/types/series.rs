//! Min/max-preserving downsampling of metric series, for the charts.

use super::tracking::Metric;

/// Downsample a series (sorted by step) to about `max_points`, keeping each bucket's first,
/// smallest, largest and last point, so spikes survive.
pub fn downsample(points: Vec<Metric>, max_points: usize) -> (Vec<Metric>, bool) {
    let mut d = Downsampler::new(points.len(), max_points);
    for p in points {
        d.push(p);
    }
    d.finish()
}

/// [`downsample`] one point at a time, for series streamed from the store: memory stays at a
/// bucket's four points plus the output, whatever the series' length.
pub struct Downsampler {
    /// Points per bucket (0: keep every point, the series is short enough).
    per: usize,
    /// Index of the next point within its bucket.
    at: usize,
    /// The current bucket's first, lowest, highest and last points, with their indexes.
    first: Option<Metric>,
    lo: Option<(usize, Metric)>,
    hi: Option<(usize, Metric)>,
    last: Option<(usize, Metric)>,
    out: Vec<Metric>,
}

impl Downsampler {
    /// For a series of `total` points.
    pub fn new(total: usize, max_points: usize) -> Downsampler {
        let per = if total <= max_points {
            0
        } else {
            let buckets = (max_points / 4).max(1);
            total.div_ceil(buckets)
        };
        Downsampler {
            per,
            at: 0,
            first: None,
            lo: None,
            hi: None,
            last: None,
            out: Vec::with_capacity(total.min(max_points.saturating_add(4))),
        }
    }

    pub fn push(&mut self, m: Metric) {
        if self.per == 0 {
            self.out.push(m);
            return;
        }
        let value = |m: &Metric| {
            if m.value.0.is_nan() {
                f64::NEG_INFINITY
            } else {
                m.value.0
            }
        };
        let i = self.at;
        if i == 0 {
            self.first = Some(m.clone());
        }
        if self.lo.as_ref().is_none_or(|(_, lo)| value(&m) < value(lo)) {
            self.lo = Some((i, m.clone()));
        }
        if self.hi.as_ref().is_none_or(|(_, hi)| value(&m) > value(hi)) {
            self.hi = Some((i, m.clone()));
        }
        self.last = Some((i, m));
        self.at += 1;
        if self.at == self.per {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut picked: Vec<(usize, Metric)> = Vec::with_capacity(4);
        picked.extend(self.first.take().map(|m| (0, m)));
        picked.extend(self.last.take());
        picked.extend(self.lo.take());
        picked.extend(self.hi.take());
        picked.sort_by_key(|(i, _)| *i);
        picked.dedup_by_key(|(i, _)| *i);
        self.out.extend(picked.into_iter().map(|(_, m)| m));
        self.at = 0;
    }

    /// The kept points, and whether any were dropped.
    pub fn finish(mut self) -> (Vec<Metric>, bool) {
        if self.at > 0 {
            self.flush();
        }
        (self.out, self.per != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MetricValue;

    #[test]
    fn downsampling_keeps_spikes() {
        let pts: Vec<Metric> = (0..100_000)
            .map(|i| Metric {
                key: "m".into(),
                value: MetricValue(if i == 54_321 { 1000.0 } else { (i % 7) as f64 }),
                timestamp: i,
                step: i,
                run_id: None,
            })
            .collect();
        let (d, down) = downsample(pts, 1000);
        assert!(down);
        assert!(d.len() <= 1000);
        assert!(d.iter().any(|m| m.value.0 == 1000.0), "the spike survives");
        assert_eq!(d[0].step, 0);
        assert_eq!(d.last().unwrap().step, 99_999);
        assert!(d.windows(2).all(|w| w[0].step < w[1].step));
    }
}
