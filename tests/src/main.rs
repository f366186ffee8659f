//! `virtus-run`: boots Virtus under QEMU and judges its test report.
//! See `virtus-run --help`, or [`virtus_tests::cli::USAGE`].

use std::process::ExitCode;

use virtus_tests::cli::{self, Request};
use virtus_tests::commands;

fn main() -> ExitCode {
    let invocation = match cli::parse(std::env::args().skip(1)) {
        Ok(Request::Run(invocation)) => invocation,
        Ok(Request::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("virtus-run: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match commands::execute(&invocation) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("virtus-run: {message}");
            ExitCode::from(2)
        }
    }
}
