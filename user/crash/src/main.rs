//! `crash KIND`: faults on purpose, to show the kernel contains a faulting
//! process (it is killed with a diagnostic; its parent's wait sees 256 +
//! the vector). It prints `crash: about to KIND` first, and `crash: survived
//! KIND` and exits 1 if the CPU let it through.
#![no_std]
#![no_main]

mod faults;

use core::hint::black_box;
use rt::println;

rt::main!(main);

const KINDS: &[(&str, &str)] = &[
    ("read-kernel", "read the kernel heap at 0xffff900000000000"),
    (
        "write-kernel",
        "write the kernel heap at 0xffff900000000000",
    ),
    ("read-low", "read the kernel's identity map at 0x100000"),
    ("exec-data", "jump into a buffer on the stack (NX)"),
    ("gp", "execute hlt at CPL 3 (#GP)"),
    ("ud", "execute ud2 (#UD)"),
    ("divide", "divide by zero (#DE)"),
    ("null", "read address 0"),
];

fn main(args: &[&str]) -> i32 {
    let Some(&kind) = args.get(1) else {
        return usage();
    };
    if !KINDS.iter().any(|(name, _)| *name == kind) {
        return usage();
    }
    println!("crash: about to {kind}");
    // black_box: the addresses and the divisor are opaque to the compiler.
    match kind {
        "read-kernel" => faults::read(black_box(faults::KERNEL_HEAP)),
        "write-kernel" => faults::write(black_box(faults::KERNEL_HEAP)),
        "read-low" => faults::read(black_box(faults::IDENTITY_MAP)),
        "exec-data" => {
            let ret = black_box([0xc3u8]); // `ret`, on the stack
            faults::execute(&ret);
        }
        "gp" => faults::privileged(),
        "ud" => faults::invalid_opcode(),
        "divide" => faults::divide(black_box(0)),
        "null" => faults::read(black_box(0)),
        _ => unreachable!("checked against KINDS above"),
    }
    println!("crash: survived {kind}");
    1
}

fn usage() -> i32 {
    println!("usage: crash KIND, one of:");
    for (name, what) in KINDS {
        println!("  {name:13} {what}");
    }
    2
}
