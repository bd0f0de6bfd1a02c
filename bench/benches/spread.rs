//! Per-round figures summarised (median and quartiles) and judged
//! against a limit: shared by the `compare`, `delivery` and `patterns`
//! benches.

/// A per-round figure, summarised: the median over the interleaved rounds
/// and the quartiles (the run-to-run spread).
#[derive(Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub q1: f64,
    pub q3: f64,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Spread {
        v.retain(|x| !x.is_nan());
        if v.is_empty() {
            return Spread { median: f64::NAN, q1: f64::NAN, q3: f64::NAN };
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let x = q * (v.len() - 1) as f64;
            let (i, f) = (x.floor() as usize, x.fract());
            v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * f
        };
        Spread { median: at(0.5), q1: at(0.25), q3: at(0.75) }
    }

    /// `met` when even the upper quartile is within `limit`, `missed` when
    /// even the lower quartile is beyond it, else `within noise`: a margin
    /// smaller than the spread between rounds is no verdict.
    pub fn verdict(&self, limit: f64) -> Verdict {
        if self.q3 <= limit {
            Verdict::Met
        } else if self.q1 > limit || self.median.is_nan() {
            Verdict::Missed
        } else {
            Verdict::Noise
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}x [{:.2}–{:.2}]", self.median, self.q1, self.q3)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Met,
    Noise,
    Missed,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Noise => "within noise",
            Verdict::Missed => "missed",
        }
    }
}

/// Per-round ratios `mesh / peer` over `rounds` interleaved rounds (which
/// runs first alternates), with the medians of each side's figure.
#[allow(dead_code)] // not every bench that includes this file uses it
pub fn rounds(
    rounds: usize,
    mut mesh: impl FnMut() -> f64,
    mut peer: impl FnMut() -> f64,
) -> (Spread, f64, f64) {
    let (mut ratios, mut ms, mut ps) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        // Alternate which goes first, so neither always runs on a warm
        // (or a throttled) core.
        let (m, p) = if r % 2 == 0 {
            let m = mesh();
            (m, peer())
        } else {
            let p = peer();
            (mesh(), p)
        };
        ratios.push(m / p);
        ms.push(m);
        ps.push(p);
    }
    (Spread::of(ratios), Spread::of(ms).median, Spread::of(ps).median)
}
