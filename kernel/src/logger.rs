//! `log` crate backend: records go to the console with their level and the
//! time since boot; `loglevel=` on the command line picks the threshold.

use log::LevelFilter;
#[cfg(target_os = "none")]
use log::{Log, Metadata, Record};

#[cfg(target_os = "none")]
struct ConsoleLogger;

#[cfg(target_os = "none")]
static LOGGER: ConsoleLogger = ConsoleLogger;

#[cfg(target_os = "none")]
impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ns = crate::try_platform().map_or(0, |p| p.now_ns());
        crate::kprintln!(
            "[{:>5}.{:06}] {:<5} {}",
            ns / 1_000_000_000,
            (ns / 1_000) % 1_000_000,
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Parse a `loglevel=` value.
pub fn parse_level(value: &str) -> Option<LevelFilter> {
    match value {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// Install the logger at `level`.
#[cfg(target_os = "none")]
pub fn init(level: LevelFilter) {
    // A second call (there is none in the kernel) would only fail to
    // replace the logger, which is harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("off"), Some(LevelFilter::Off));
        assert_eq!(parse_level("loud"), None);
    }
}
