//! The live view: console lines streamed to the terminal as they arrive,
//! each prefixed with the configuration it came from, so that runs stay
//! readable even when several machines print at once.

use std::io::Write;
use std::sync::Arc;

use crate::ktap::{self, KtapLine};
use crate::process::Stream;
use crate::symbols::Symbols;

/// Streams one boot's output to our stdout.
#[derive(Clone, Debug)]
pub struct LiveConsole {
    label: String,
    quiet: bool,
    /// The image's functions, named after the addresses of a crash report.
    symbols: Option<Arc<Symbols>>,
}

impl LiveConsole {
    /// `quiet` hides the console entirely (only verdicts are printed).
    pub fn new(label: impl Into<String>, quiet: bool) -> Self {
        Self {
            label: label.into(),
            quiet,
            symbols: None,
        }
    }

    /// Names the functions of a crash report from these symbols.
    pub fn with_symbols(mut self, symbols: Option<Arc<Symbols>>) -> Self {
        self.symbols = symbols;
        self
    }

    /// The terminal line for one line of output, if it is shown at all.
    /// `# running:` lines are bookkeeping for the runner, and every test
    /// has one: showing them would double the output for no information.
    pub fn render(&self, stream: Stream, line: &str) -> Option<String> {
        if self.quiet {
            return None;
        }
        let line = ktap::clean(line);
        match stream {
            Stream::Stdout if matches!(KtapLine::parse(&line), KtapLine::Running(_)) => None,
            Stream::Stdout => Some(format!(
                "[{}] {line}{}",
                self.label,
                with_function(self.symbols.as_deref(), &line)
            )),
            Stream::Stderr => {
                // QEMU names itself at the start of its messages; say it once.
                let message = ["qemu-system-x86_64: ", "qemu: "]
                    .iter()
                    .find_map(|name| line.strip_prefix(name))
                    .unwrap_or(&line);
                Some(format!("[{}] qemu: {message}", self.label))
            }
        }
    }

    pub fn show(&self, stream: Stream, line: &str) {
        if let Some(text) = self.render(stream, line) {
            say(&text);
        }
    }
}

/// `  in <function> (<file:line>)` after a crash-report line whose address
/// the symbols name; empty otherwise.
pub fn with_function(symbols: Option<&Symbols>, line: &str) -> String {
    match symbols.and_then(|symbols| symbols.annotate(line)) {
        Some(function) => format!("  in {function}"),
        None => String::new(),
    }
}

/// Prints one line to stdout. Write errors are ignored: a closed pipe
/// (`virtus-run suite | head`) must not abort the run and leave QEMU behind.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_console_lines_with_the_configuration() {
        let console = LiveConsole::new("q35/max/128M", false);
        let ok = console.render(Stream::Stdout, "ok 1 frame_alloc_basic\r");
        assert_eq!(ok.unwrap(), "[q35/max/128M] ok 1 frame_alloc_basic");
        let warning = console.render(Stream::Stderr, "warning: TCG doesn't support x2apic");
        let expected = "[q35/max/128M] qemu: warning: TCG doesn't support x2apic";
        assert_eq!(warning.unwrap(), expected);
    }

    #[test]
    fn hides_running_markers_and_everything_when_quiet() {
        let console = LiveConsole::new("pc/qemu64/32M", false);
        assert_eq!(console.render(Stream::Stdout, "# running: heap_vec"), None);
        assert!(console.render(Stream::Stdout, "# other").is_some());
        let quiet = LiveConsole::new("pc/qemu64/32M", true);
        assert_eq!(quiet.render(Stream::Stdout, "ok 1 a"), None);
    }
}
