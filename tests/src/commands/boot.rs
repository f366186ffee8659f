//! `virtus-run boot`: one boot for a developer, streamed, then judged by
//! what the command line asked the kernel to do.

use std::path::Path;
use std::time::Duration;

use super::{boot_streamed, fault_site, print_indented};
use crate::checks::Check;
use crate::console::say;
use crate::qemu::MachineConfig;
use crate::table;

pub fn run(
    image: &Path,
    config: &MachineConfig,
    append: &str,
    timeout: Duration,
    quiet: bool,
) -> bool {
    let label = config.to_string();
    let boot = match boot_streamed(&label, config, image, append, timeout, quiet) {
        Ok(boot) => boot,
        Err(error) => {
            say(&format!("[{label}] FAIL: {error}"));
            return false;
        }
    };
    // `test=list` and `crash=` runs are meant to end without a summary
    // line; judging them as a suite run would call every one a failure.
    if let Some(check) = Check::for_cmdline(append) {
        let assessment = check.assess(&boot, fault_site(image, &boot).as_deref());
        let (name, observed) = (check.name(), &assessment.observed);
        say(&format!("[{label}] {name}: {observed}"));
        say(&format!("[{label}] expected: {}", check.expectation()));
        match assessment.problems.split_first() {
            None => say(&format!("[{label}] PASS")),
            Some((first, rest)) => {
                say(&format!("[{label}] FAIL: {first}"));
                print_indented(rest);
            }
        }
        return assessment.behaved();
    }
    let verdict = boot.verdict();
    let (counted, time) = (boot.transcript.counted(), boot.time_to_result());
    let time = table::seconds(time);
    let end = boot.termination;
    say(&format!("[{label}] {counted} in {time}; {end}"));
    say(&format!("[{label}] {}", verdict.headline()));
    print_indented(&verdict.details());
    verdict.passed()
}
