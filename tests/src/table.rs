//! Plain-text tables for the end-of-run summaries.

use std::time::Duration;

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    /// For numbers and times, so that digits line up.
    Right,
}

/// Renders `rows` under `header`, columns separated by two spaces. The last
/// column is not padded, so a long verdict does not push trailing blanks.
pub fn render(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header
        .iter()
        .map(|(title, _)| title.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let titles: Vec<String> = header.iter().map(|(title, _)| title.to_string()).collect();
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    let mut out = String::new();
    for row in std::iter::once(&titles).chain([&rule]).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let align = header.get(i).map_or(Align::Left, |(_, align)| *align);
            let last = i + 1 == row.len();
            if i > 0 {
                line.push_str("  ");
            }
            match align {
                Align::Right => line.push_str(&format!("{cell:>width$}")),
                Align::Left if last => line.push_str(cell),
                Align::Left => line.push_str(&format!("{cell:<width$}")),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `8.1s`: tenths are enough to compare runs, more is noise under TCG.
pub fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// A time limit as given: `120s`, or `2.5s` when it is not whole.
pub fn budget(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        seconds(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let header = [
            ("configuration", Align::Left),
            ("passed", Align::Right),
            ("verdict", Align::Left),
        ];
        let rows = [
            ["q35/max/128M", "42", "PASS"],
            ["pc/qemu64/32M", "7", "FAIL: test x failed"],
        ];
        let rows: Vec<Vec<String>> = rows.map(|row| row.map(String::from).to_vec()).to_vec();
        assert_eq!(
            render(&header, &rows),
            "configuration  passed  verdict\n\
             -------------  ------  -------------------\n\
             q35/max/128M       42  PASS\n\
             pc/qemu64/32M       7  FAIL: test x failed\n"
        );
    }

    #[test]
    fn formats_seconds() {
        let times = [8149, 0].map(|ms| seconds(Duration::from_millis(ms)));
        assert_eq!(times, ["8.1s", "0.0s"]);
        let budgets = [120_000, 2500].map(|ms| budget(Duration::from_millis(ms)));
        assert_eq!(budgets, ["120s", "2.5s"]);
    }
}
