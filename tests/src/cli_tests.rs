use std::time::Duration;

use clap::CommandFactory;
use clap::error::ErrorKind;

use super::*;

fn run(line: &str) -> Command {
    parse_args(&words(line)).unwrap_or_else(|error| panic!("{line}: {error}"))
}

#[test]
fn the_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn suite_and_checks() {
    let Command::Suite(args) = run("suite") else {
        panic!()
    };
    assert!(!args.quick && !args.quiet.quiet);
    assert_eq!(
        (args.jobs.jobs, args.timeout.timeout, args.image.image),
        (1, None, None)
    );
    let Command::Suite(args) = run("suite --image /k --quick --jobs=3 --quiet --timeout=30") else {
        panic!()
    };
    assert!(args.quick && args.quiet.quiet);
    assert_eq!((args.image.image, args.jobs.jobs), (Some("/k".into()), 3));
    assert_eq!(args.timeout.timeout, Some(Duration::from_secs(30)));
    let Command::Checks(args) = run("checks --jobs 2 --image=/k --quiet") else {
        panic!()
    };
    assert_eq!((args.jobs.jobs, args.image.image), (2, Some("/k".into())));
    assert!(args.quiet.quiet);
}

#[test]
fn boot_defaults_to_the_reference_machine_and_full_suite() {
    let Command::Boot(args) = run("boot") else {
        panic!()
    };
    assert_eq!(args.config(), matrix::matrix()[0]);
    assert_eq!(args.config().to_string(), "q35/max/128M");
    assert_eq!(args.append, "test=all loglevel=info");
    let mut line = words("boot --machine pc --cpu=qemu64,+x2apic --mem 32M --timeout 30s");
    line.extend(["--append", "test=heap loglevel=debug"]);
    let Ok(Command::Boot(args)) = parse_args(&line) else {
        panic!()
    };
    let config = MachineConfig::new("pc", "qemu64,+x2apic", "32M");
    assert_eq!(
        (args.config(), args.append.as_str()),
        (config, "test=heap loglevel=debug")
    );
    assert_eq!(args.timeout.timeout, Some(Duration::from_secs(30)));
}

#[test]
fn help_is_generated_for_every_command() {
    let top = parse_args(&["--help"]).unwrap_err();
    assert_eq!((top.kind(), top.exit_code()), (ErrorKind::DisplayHelp, 0));
    assert!(top.to_string().contains("xen-hvm-suite"));
    let cli = Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert_eq!(names.len(), 17, "{names:?}");
    for command in names.into_iter().chain(["both"]) {
        for flag in ["-h", "--help"] {
            let help = parse_args(&[command, flag]).unwrap_err();
            assert_eq!(help.kind(), ErrorKind::DisplayHelp, "{command} {flag}");
            let exit_status = help.to_string().contains("Exit status: 0");
            assert!(exit_status, "{command} {flag}");
        }
    }
}

#[test]
fn mistakes_are_explained() {
    mistakes(
        " => DisplayHelpOnMissingArgumentOrSubcommand
frobnicate => InvalidSubcommand
checks --quick => UnknownArgument
xen-checks --linux-proof => UnknownArgument
suite --image => InvalidValue
suite --jobs 0 => ValueValidation: invalid value '0' for '--jobs <N>'
boot --timeout 0.5 => ValueValidation: invalid value '0.5' for '--timeout <SECS>'
boot --timeout soon => ValueValidation: invalid value 'soon' for '--timeout <SECS>': not whole seconds from 1 to 86400",
    );
}
