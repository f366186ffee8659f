//! A small interactive shell on the console, for `make run`.

use crate::platform::ExitStatus;
use crate::{harness, kprint, kprintln, time};

const HELP: &str = "\
commands:
  help             this text
  info             platform, CPU, memory and clock report
  uptime           time since boot
  test [filter]    run the in-kernel tests (all, or names containing filter)
  tests            list the tests
  bench [filter]   run the micro-benchmarks (all, or names containing filter)
  bench list       list the benchmarks and what they measure
  balloon [MIB]    memory given back to the host; with MIB, hold that much
  run PROG [ARGS]  run a program from the ramdisk and wait for it (`run sh`:
                   the user-space shell)
  ps               processes and threads
  cpus             each CPU: online or not, and an online one's answer to a call
  shutdown         power off
  reboot           start again";

/// Print `help`: the core's commands, then the backend's.
fn help() {
    kprintln!("{HELP}");
    kprintln!("{}", crate::block::shell::HELP);
    kprintln!("{}", crate::ticker::HELP);
    for command in crate::platform().shell_commands() {
        kprintln!("  {:<16} {}", command.name, command.help);
    }
}

/// Run the shell forever (until `shutdown`, `reboot` or a host request).
pub fn run() -> ! {
    // Timestamped by the kernel's own clock: the end of boot, which the
    // benchmark report reads as "ready".
    log::info!("shell ready");
    kprintln!("Virtus shell. Type 'help'.");
    let mut line = [0u8; 128];
    loop {
        kprint!("virtus> ");
        // A request from the host that arrives while the shell waits is
        // served there: between two commands is a clean place to stop.
        let len = crate::console::read_line(&mut line, crate::power::pending, crate::power::serve);
        let text = core::str::from_utf8(&line[..len]).unwrap_or("");
        let mut words = text.split_ascii_whitespace();
        match (words.next(), words.next()) {
            (None, _) => {}
            (Some("help"), _) => help(),
            (Some("info"), _) => crate::report::info(),
            (Some("uptime"), _) => {
                let ns = time::now_ns();
                kprintln!(
                    "up {}.{:03} s",
                    ns / time::NS_PER_SEC,
                    (ns / time::NS_PER_MS) % 1000
                );
            }
            (Some("test"), filter) => {
                if harness::run(filter).is_err() {
                    let _ = harness::no_match_line(
                        &mut crate::console::Writer,
                        "test",
                        filter.unwrap_or(""),
                    );
                }
            }
            (Some("tests"), _) => harness::list(),
            (Some("bench"), Some("list")) => crate::bench::list(),
            (Some("bench"), filter) => {
                if crate::bench::run(filter).is_err() {
                    let _ = harness::no_match_line(
                        &mut crate::console::Writer,
                        "benchmark",
                        filter.unwrap_or(""),
                    );
                }
            }
            (Some("ticker"), _) => crate::ticker::run(text.trim_start()[6..].trim()),
            (Some("balloon"), arg) => crate::mem::balloon::shell(arg),
            (Some("run"), Some(program)) => {
                let args = text.trim_start()[3..].trim_start()[program.len()..].trim();
                run_program(program, args);
            }
            (Some("run"), None) => kprintln!("usage: run PROGRAM [ARGS]"),
            (Some("ps"), _) => ps(),
            (Some("cpus"), _) => crate::sched::hotplug::shell(),
            (Some("disk"), _) => crate::block::shell::run(text.trim_start()[4..].trim()),
            (Some("shutdown"), _) => {
                kprintln!("powering off");
                crate::platform().shutdown(ExitStatus::Success);
            }
            (Some("reboot"), _) => {
                kprintln!("rebooting");
                crate::platform().shutdown(ExitStatus::Reboot);
            }
            (Some(cmd), _) => {
                let backend = crate::platform().shell_commands();
                match backend.iter().find(|c| c.name == cmd) {
                    Some(command) => {
                        let rest = text.trim_start()[cmd.len()..].trim();
                        (command.run)(rest);
                    }
                    None => kprintln!("unknown command '{cmd}'; try 'help'"),
                }
            }
        }
    }
}

/// `run`: start a program as the kernel's child and wait for it.
fn run_program(program: &str, args: &str) {
    match crate::proc::spawn(program, args, 0) {
        Ok(pid) => match crate::proc::wait(pid, 0) {
            Some(0) => {}
            Some(status) if status >= crate::proc::process::KILLED => {
                kprintln!(
                    "[{program}: killed by vector {}]",
                    status - crate::proc::process::KILLED
                )
            }
            Some(status) => kprintln!("[{program}: exit {status}]"),
            None => kprintln!("[{program}: lost]"),
        },
        Err(e) => kprintln!("{program}: {e}"),
    }
}

/// `ps`: the process table, then the threads.
fn ps() {
    kprintln!("  pid  parent  state     name");
    for (pid, parent, name, status) in crate::proc::process::list() {
        let parent = if parent == crate::proc::process::NO_PARENT {
            alloc::string::String::from("-")
        } else {
            alloc::format!("{parent}")
        };
        let state = match status {
            None => alloc::string::String::from("running"),
            Some(s) => alloc::format!("ended {s}"),
        };
        kprintln!("{pid:>5}  {parent:>6}  {state:<8}  {name}");
    }
    let (switches, preemptions) = crate::sched::counts();
    kprintln!("threads ({switches} switches, {preemptions} preemptions):");
    crate::sched::for_each(|id, name, state, cpu| {
        kprintln!("  {id:>3}  cpu {cpu}  {state:<8} {name}");
    });
}
