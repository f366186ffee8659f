//! Hand-written SVG: horizontal bar charts with labels, on a log scale
//! when the values span more than two decades.

/// One bar; `group` picks its colour (and its legend entry).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub group: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    /// The unit of the values, for the axis and the value labels.
    pub unit: String,
    pub bars: Vec<Bar>,
    /// One name per group; no legend if empty.
    pub legend: Vec<String>,
}

const COLOURS: [&str; 4] = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b"];
const WIDTH: f64 = 860.0;
const LABEL_W: f64 = 300.0;
const VALUE_W: f64 = 110.0;
const BAR_H: f64 = 16.0;
const GAP: f64 = 6.0;
const TOP: f64 = 52.0;

/// Text safe inside an SVG element or attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A value with three significant digits and the unit.
pub fn value_text(value: f64, unit: &str) -> String {
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else if value >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.digits$} {unit}")
}

/// Whether the chart needs a log scale: positive values spanning more than
/// two decades.
pub fn wants_log(values: &[f64]) -> bool {
    let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
    let (Some(min), Some(max)) = (
        positive.iter().copied().reduce(f64::min),
        positive.iter().copied().reduce(f64::max),
    ) else {
        return false;
    };
    max / min > 100.0
}

pub fn render(chart: &Chart) -> String {
    let values: Vec<f64> = chart
        .bars
        .iter()
        .filter_map(|b| b.value)
        .filter(|v| v.is_finite() && *v >= 0.0)
        .collect();
    let log = wants_log(&values);
    let max = values.iter().copied().fold(0.0, f64::max);
    let plot_w = WIDTH - LABEL_W - VALUE_W - 20.0;
    // The scale: a fraction of the plot width for a value.
    let (lo, hi) = if log {
        let min = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        (
            min.log10().floor(),
            max.log10().ceil().max(min.log10().floor() + 1.0),
        )
    } else {
        (0.0, if max > 0.0 { max } else { 1.0 })
    };
    let scale = |v: f64| -> f64 {
        let f = if log {
            if v <= 0.0 {
                0.0
            } else {
                (v.log10() - lo) / (hi - lo)
            }
        } else {
            v / hi
        };
        f.clamp(0.0, 1.0) * plot_w
    };
    let legend_h = if chart.legend.is_empty() { 0.0 } else { 22.0 };
    let rows_h = chart.bars.len() as f64 * (BAR_H + GAP);
    let height = TOP + legend_h + rows_h + 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n\
         <text x=\"10\" y=\"40\" fill=\"#555\">{} scale, {}; QEMU TCG software emulation, not hardware figures</text>\n",
        escape(&chart.title),
        if log { "log" } else { "linear" },
        escape(&chart.unit),
    );
    let mut y = TOP;
    if !chart.legend.is_empty() {
        let mut x = LABEL_W;
        for (i, name) in chart.legend.iter().enumerate() {
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>\n",
                COLOURS[i % COLOURS.len()],
                x + 16.0,
                y + 10.0,
                escape(name)
            ));
            x += 30.0 + 7.0 * name.len() as f64;
        }
        y += legend_h;
    }
    let plot_top = y;
    // Grid: decades on a log scale, fifths on a linear one.
    let ticks: Vec<f64> = if log {
        (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=5).map(|i| hi * f64::from(i) / 5.0).collect()
    };
    for tick in &ticks {
        let x = LABEL_W + scale(*tick);
        svg.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{plot_top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
            plot_top + rows_h,
            plot_top + rows_h + 14.0,
            escape(&tick_text(*tick))
        ));
    }
    for bar in &chart.bars {
        let text_y = y + BAR_H - 4.0;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{text_y:.1}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 6.0,
            escape(&bar.label)
        ));
        match bar.value {
            Some(v) if v.is_finite() && v >= 0.0 => {
                let w = scale(v).max(1.0);
                svg.push_str(&format!(
                    "<rect x=\"{LABEL_W}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"{text_y:.1}\">{}</text>\n",
                    COLOURS[bar.group % COLOURS.len()],
                    LABEL_W + w + 4.0,
                    escape(&label_text(v, &chart.unit))
                ));
            }
            _ => svg.push_str(&format!(
                "<text x=\"{}\" y=\"{text_y:.1}\" fill=\"#999\">no figure</text>\n",
                LABEL_W + 4.0
            )),
        }
        y += BAR_H + GAP;
    }
    svg.push_str("</svg>\n");
    svg
}

/// A bar's value: durations in ns get a readable unit.
fn label_text(v: f64, unit: &str) -> String {
    if unit == "ns" {
        super::table::ns(v)
    } else {
        value_text(v, unit)
    }
}

fn tick_text(v: f64) -> String {
    if v >= 1e6 || (v > 0.0 && v < 1e-2) {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Whether `text` is well-formed XML, by a real parser.
    pub fn well_formed_xml(text: &str) -> Result<(), String> {
        roxmltree::Document::parse(text)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn chart(values: &[Option<f64>]) -> Chart {
        Chart {
            title: "a <title> & more".into(),
            unit: "ns".into(),
            bars: values
                .iter()
                .enumerate()
                .map(|(i, v)| Bar {
                    label: format!("bar \"{i}\""),
                    value: *v,
                    group: i,
                })
                .collect(),
            legend: vec!["emulated".into(), "pv".into()],
        }
    }

    #[test]
    fn bar_charts_are_well_formed() {
        for values in [
            vec![Some(10.0), Some(20.0)],
            vec![Some(1.0), Some(1e6), None],
            vec![],
            vec![Some(0.0), Some(f64::NAN)],
        ] {
            let svg = render(&chart(&values));
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert!(svg.trim_end().ends_with("</svg>"));
            well_formed_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
            assert!(svg.contains("a &lt;title&gt; &amp; more"));
        }
        assert!(well_formed_xml("<a><b></a></b>").is_err());
        assert!(well_formed_xml("<a>x & y</a>").is_err());
    }

    #[test]
    fn log_scale_when_the_range_is_wide() {
        assert!(wants_log(&[1.0, 1000.0]));
        assert!(!wants_log(&[1.0, 50.0]));
        assert!(!wants_log(&[]));
        assert!(render(&chart(&[Some(1.0), Some(1e4)])).contains("log scale"));
        assert!(render(&chart(&[Some(1.0), Some(10.0)])).contains("linear scale"));
        // A longer bar for a larger value, on either scale.
        let svg = render(&chart(&[Some(1.0), Some(1e4)]));
        let widths: Vec<f64> = svg
            .match_indices("width=\"")
            .skip(2)
            .filter_map(|(i, _)| svg[i + 7..].split('"').next()?.parse().ok())
            .filter(|w: &f64| *w != 12.0)
            .collect();
        assert_eq!(widths.len(), 2, "{svg}");
        assert!(widths[1] > widths[0]);
    }

    #[test]
    fn values_keep_three_digits() {
        assert_eq!(value_text(1234.4, "ns"), "1234 ns");
        assert_eq!(value_text(12.34, "ns"), "12.3 ns");
        assert_eq!(value_text(1.234, "s"), "1.23 s");
        assert_eq!(value_text(0.1234, "s"), "0.123 s");
    }
}
