//! What the soaks share: the spread of a series of timings, dom0's report
//! lines (`@@dom0| soak-... KEY=VALUE ... -- TEXT`) taken apart, and a
//! word quoted for dom0's shell.

use crate::xen::protocol::{Event, Stamped};

/// Median, least and most of a series, and its length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// `None` for an empty series. An even series' median is the mean of
    /// its two middle values.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            n,
        })
    }

    /// `median M (range A..B, n=N) UNIT`, with `decimals` digits.
    pub fn show(&self, unit: &str, decimals: usize) -> String {
        format!(
            "median {:.d$} {unit} (range {:.d$}..{:.d$}, n={})",
            self.median,
            self.min,
            self.max,
            self.n,
            d = decimals
        )
    }
}

/// One report line of a soak's dom0 script, after its tag.
#[derive(Clone, Debug, PartialEq)]
pub struct SoakLine {
    pub verb: String,
    pub fields: Vec<(String, String)>,
    pub text: String,
}

impl SoakLine {
    /// `TAG VERB [KEY=VALUE...] [-- TEXT]`; `None` if the line is not
    /// `tag`'s.
    pub fn parse(tag: &str, line: &str) -> Option<Self> {
        let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
        let (head, text) = match rest.split_once(" --") {
            Some((head, text)) => (head, text.strip_prefix(' ').unwrap_or(text)),
            None => (rest, ""),
        };
        let mut words = head.split_whitespace();
        let verb = words.next()?.to_string();
        let fields = words
            .filter_map(|word| word.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Self {
            verb,
            fields,
            text: text.to_string(),
        })
    }

    pub fn field(&self, key: &str) -> Option<&str> {
        let found = self.fields.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }

    /// The field as a number; `None` if it is missing or not one.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.field(key)?.parse().ok()
    }
}

/// Every line of `tag` that dom0 reported in a run, in order.
pub fn soak_lines(tag: &str, events: &[Stamped]) -> Vec<SoakLine> {
    let lines = events.iter().filter_map(|stamped| match &stamped.event {
        Event::Dom0Output { text } => SoakLine::parse(tag, text),
        _ => None,
    });
    lines.collect()
}

/// `word` as one single-quoted word of dom0's shell.
pub fn shell_word(word: &str) -> Result<String, String> {
    if word.contains(['\n', '\r', '\0']) {
        return Err(format!("`{}` must be one line", word.escape_debug()));
    }
    Ok(format!("'{}'", word.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_series() {
        let odd = Spread::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max, odd.n), (3.0, 1.0, 5.0, 3));
        let even = Spread::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(even.median, 3.0);
        assert_eq!(even.show("s", 1), "median 3.0 s (range 1.0..10.0, n=4)");
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn lines_are_taken_apart_by_tag() {
        let line = SoakLine::parse("soak-lc", "soak-lc leak n=3 kind=xenstore -- /vm/abc").unwrap();
        assert_eq!(line.verb, "leak");
        assert_eq!(line.number("n"), Some(3));
        assert_eq!(line.field("kind"), Some("xenstore"));
        assert_eq!(line.text, "/vm/abc");
        assert_eq!(SoakLine::parse("soak-lc", "soak-lcx done"), None);
        assert_eq!(SoakLine::parse("soak-lc", "lifecycle x step=1"), None);
        let done = SoakLine::parse("soak-lc", "soak-lc done cycles=5").unwrap();
        assert_eq!((done.verb.as_str(), done.text.as_str()), ("done", ""));
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_word("Type 'help'.").unwrap(), r"'Type '\''help'\''.'");
        assert!(shell_word("a\nb").is_err());
    }
}
