//! The live operations' table: each figure of each scenario over the runs,
//! as a median with its range and n (see `crate::xen::lifecycle_figures`
//! for what each figure measures and on whose clock).

use super::table::Table;
use crate::bench::model::BenchReport;
use crate::bench::spread::Spread;
use crate::table::Align;

pub fn live_table(report: &BenchReport) -> Table {
    let header = [
        ("scenario", Align::Left),
        ("figure", Align::Left),
        ("median (range over runs)", Align::Right),
        ("n", Align::Right),
    ];
    // In the order the figures first came, one row per scenario and figure.
    let mut keys: Vec<(&str, &str, &str)> = Vec::new();
    for f in &report.live {
        let key = (f.scenario.as_str(), f.what.as_str(), f.unit.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let rows = keys
        .iter()
        .map(|&(scenario, what, unit)| {
            let values = report
                .live
                .iter()
                .filter(|f| f.scenario == scenario && f.what == what)
                .map(|f| f.value);
            let spread = Spread::of(values);
            vec![
                scenario.to_string(),
                what.to_string(),
                spread.text(|v| format!("{v:.2} {unit}")),
                spread.n().to_string(),
            ]
        })
        .collect();
    let title = "Live operations under Xen PVH: save, restore, checkpoint, migration, balloon";
    Table::new(title, None, &header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::model::LiveFigure;

    #[test]
    fn each_figure_of_each_scenario_is_one_row_with_its_spread_and_n() {
        let figure = |scenario: &str, what: &str, value, run| LiveFigure {
            scenario: scenario.into(),
            what: what.into(),
            value,
            unit: "s".into(),
            run,
        };
        let report = BenchReport {
            live: vec![
                figure("lc-save-restore", "`xl save` returned", 8.53, 0),
                figure("lc-checkpoint", "`xl save -c` returned", 4.62, 0),
                figure("lc-save-restore", "`xl save` returned", 8.23, 1),
                figure("lc-save-restore", "`xl save` returned", 10.58, 2),
            ],
            ..Default::default()
        };
        let table = live_table(&report);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0][0], "lc-save-restore");
        assert_eq!(table.rows[0][3], "3");
        assert!(
            table.rows[0][2].starts_with("8.53 s"),
            "{:?}",
            table.rows[0]
        );
        assert_eq!(table.rows[1][3], "1");
    }
}
