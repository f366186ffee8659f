//! `virtus-run`: boots Virtus under QEMU and judges its test report.
//! See `virtus-run --help`, or [`virtus_tests::cli::Cli`].

use std::process::ExitCode;

use clap::Parser;
use virtus_tests::{cli::Cli, commands};

fn main() -> ExitCode {
    // Help exits with 0, a mistake in the command line with 2.
    match commands::execute(Cli::parse().command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("virtus-run: {message}");
            ExitCode::from(2)
        }
    }
}
