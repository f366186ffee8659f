//! A table of the report (its title, header, rows and chart file), as the
//! terminal shows it, and the units its cells are written in. Every figure
//! carries its spread over the runs and its n; the Markdown form is in
//! [`super::markdown`].

use crate::table::{self, Align};

/// A table both the terminal and Markdown can show.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Also its Markdown section heading.
    pub title: String,
    pub header: Vec<(String, Align)>,
    pub rows: Vec<Vec<String>>,
    /// The chart's file name under the output directory, if it has one.
    pub chart_file: Option<String>,
}

impl Table {
    pub fn new<S: AsRef<str>>(
        title: &str,
        chart: Option<&str>,
        header: &[(S, Align)],
        rows: Vec<Vec<String>>,
    ) -> Self {
        let header = header
            .iter()
            .map(|(t, a)| (t.as_ref().to_string(), *a))
            .collect();
        let (title, chart_file) = (title.to_string(), chart.map(String::from));
        Self {
            title,
            header,
            rows,
            chart_file,
        }
    }

    pub fn terminal(&self) -> String {
        let header: Vec<(&str, Align)> =
            self.header.iter().map(|(t, a)| (t.as_str(), *a)).collect();
        format!("{}\n{}", self.title, table::render(&header, &self.rows))
    }
}

/// A duration in ns with a readable unit and three significant digits.
pub fn ns(value: f64) -> String {
    let (v, unit) = if value >= 1e6 {
        (value / 1e6, "ms")
    } else if value >= 1e3 {
        (value / 1e3, "us")
    } else {
        (value, "ns")
    };
    super::svg::value_text(v, unit)
}

pub fn secs(value: f64) -> String {
    format!("{value:.2} s")
}

pub fn bytes(value: Option<u64>) -> String {
    value.map_or("-".into(), |b| {
        if b >= 1 << 20 {
            format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
        } else {
            format!("{:.0} KiB", b as f64 / 1024.0)
        }
    })
}
