//! The in-kernel test harness: runs registered tests in order, each inside a
//! catch point with a watchdog, and reports KTAP on the console.
//!
//! A test that panics, takes an unexpected CPU exception or outlives the
//! watchdog is reported `not ok` with the reason, and the run goes on.

pub mod ktap;
mod test;

pub use test::{Test, TestError, TestResult};

#[cfg(target_os = "none")]
mod runner;
#[cfg(target_os = "none")]
pub use runner::{WATCHDOG_NS, all_tests, list, run};
