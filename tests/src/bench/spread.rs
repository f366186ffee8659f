//! One figure over repeated runs: its values, and how they are told.
//!
//! Every figure of the report is shown with its spread and its n: a median
//! over the runs, the least and greatest value, and how many values there
//! were. A single value says so (`n=1`) instead of passing for a result.

/// The values a figure took, one per run (non-finite values dropped).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spread {
    values: Vec<f64>,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        values.sort_by(f64::total_cmp);
        Self { values }
    }

    pub fn n(&self) -> usize {
        self.values.len()
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The middle value (the mean of the middle two for an even n).
    pub fn median(&self) -> Option<f64> {
        let n = self.values.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.values[n / 2]),
            _ => Some((self.values[n / 2 - 1] + self.values[n / 2]) / 2.0),
        }
    }

    pub fn min(&self) -> Option<f64> {
        self.values.first().copied()
    }

    pub fn max(&self) -> Option<f64> {
        self.values.last().copied()
    }

    /// `12.3 us (11.0-14.1)` with `unit` formatting each value, or the one
    /// value alone; `-` when there is none. n is told apart (see [`n_text`]).
    pub fn text(&self, unit: impl Fn(f64) -> String) -> String {
        match (self.median(), self.min(), self.max()) {
            (Some(m), Some(lo), Some(hi)) if self.n() > 1 => {
                format!("{} ({}-{})", unit(m), unit(lo), unit(hi))
            }
            (Some(m), ..) => unit(m),
            _ => "-".into(),
        }
    }

    /// [`Self::text`] followed by `, n=N`.
    pub fn text_n(&self, unit: impl Fn(f64) -> String) -> String {
        match self.n() {
            0 => "-".into(),
            n => format!("{}, n={n}", self.text(unit)),
        }
    }
}

/// `3x2000` (runs x iterations each), or `3x(11-18)` when the runs took
/// different counts; `-` for none.
pub fn n_text(iters: &[u64]) -> String {
    let (Some(lo), Some(hi)) = (iters.iter().min(), iters.iter().max()) else {
        return "-".into();
    };
    if lo == hi {
        format!("{}x{lo}", iters.len())
    } else {
        format!("{}x({lo}-{hi})", iters.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let s = Spread::of([3.0, 1.0, f64::NAN, 2.0]);
        assert_eq!(s.n(), 3);
        assert_eq!(
            (s.median(), s.min(), s.max()),
            (Some(2.0), Some(1.0), Some(3.0))
        );
        assert_eq!(Spread::of([1.0, 4.0]).median(), Some(2.5));
        assert_eq!(Spread::of([]).median(), None);
    }

    #[test]
    fn text_tells_the_range_and_n() {
        let unit = |v: f64| format!("{v:.1} s");
        assert_eq!(
            Spread::of([2.0, 1.0, 3.0]).text(unit),
            "2.0 s (1.0 s-3.0 s)"
        );
        assert_eq!(
            Spread::of([2.0, 1.0, 3.0]).text_n(unit),
            "2.0 s (1.0 s-3.0 s), n=3"
        );
        assert_eq!(Spread::of([2.0]).text_n(unit), "2.0 s, n=1");
        assert_eq!(Spread::of([]).text_n(unit), "-");
    }

    #[test]
    fn n_counts_runs_and_iterations() {
        assert_eq!(n_text(&[2000, 2000, 2000]), "3x2000");
        assert_eq!(n_text(&[11, 18]), "2x(11-18)");
        assert_eq!(n_text(&[]), "-");
    }
}
