//! The user-space shell: reads a line, runs a built-in or spawns the program
//! of that name and waits for it. `exit` leaves it, back to the kernel's
//! shell (the fallback when there is no ramdisk or this program fails).
#![no_std]
#![no_main]

use rt::sys::{self, Status};
use rt::{print, println};

rt::main!(main);

const HELP: &str = "\
built-ins:
  help            this text
  ls              the programs in the ramdisk
  echo WORDS      print WORDS
  pid             this shell's pid
  time [CMD ARGS] the clock, or how long CMD takes
  exit            leave (back to the kernel's shell)
anything else runs the program of that name: NAME ARGS";

fn main(_args: &[&str]) -> i32 {
    println!(
        "Virtus user shell (pid {}); 'help' for commands",
        sys::getpid()
    );
    let mut line = [0u8; 256];
    loop {
        print!("$ ");
        let len = match sys::read_line(&mut line) {
            Ok(len) => len,
            Err(e) => {
                println!("sh: read_line: {e}");
                return 1;
            }
        };
        let Ok(text) = core::str::from_utf8(&line[..len]) else {
            println!("sh: the line is not UTF-8");
            continue;
        };
        let (command, rest) = split_command(text);
        match command {
            "" => {}
            "exit" => return 0,
            "help" => println!("{HELP}"),
            "ls" => list_programs(),
            "echo" => println!("{rest}"),
            "pid" => println!("{}", sys::getpid()),
            "time" => time(rest),
            name => run(name, rest),
        }
    }
}

/// The first word and the rest of the line, both without outer spaces.
fn split_command(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.split_once(' ') {
        Some((command, rest)) => (command, rest.trim()),
        None => (line, ""),
    }
}

fn list_programs() {
    let mut name = [0u8; 64];
    for index in 0.. {
        match sys::list(index, &mut name) {
            Ok(len) => {
                let shown = &name[..len.min(name.len())];
                println!("{}", core::str::from_utf8(shown).unwrap_or("<not utf-8>"));
            }
            Err(rt::Errno::ENOENT) => break,
            Err(e) => {
                println!("ls: {e}");
                break;
            }
        }
    }
}

fn time(command: &str) {
    if command.is_empty() {
        let ns = sys::clock();
        println!(
            "{}.{:09} s since boot",
            ns / 1_000_000_000,
            ns % 1_000_000_000
        );
        return;
    }
    let start = sys::clock();
    let (name, args) = split_command(command);
    run(name, args);
    let us = sys::clock().saturating_sub(start) / 1000;
    println!("[{}.{:06} s]", us / 1_000_000, us % 1_000_000);
}

/// Spawns `name` with `args` and reports how it ended if not with 0.
fn run(name: &str, args: &str) {
    let child = match sys::spawn(name, args) {
        Ok(pid) => pid,
        Err(e) => {
            println!("sh: {name}: {e}");
            return;
        }
    };
    match sys::wait(child) {
        Ok(Status::Exited(0)) => {}
        Ok(Status::Exited(code)) => println!("[exit {code}]"),
        Ok(Status::Killed(vector)) => println!("[killed by vector {vector}]"),
        Err(e) => println!("sh: wait {child}: {e}"),
    }
}
