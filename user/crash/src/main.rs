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
    (
        "efault",
        "hand the kernel bad pointers: each call must fail with EFAULT",
    ),
    (
        "gs",
        "load GS with a user selector (base 0), then call the kernel and sleep",
    ),
];

fn main(args: &[&str]) -> i32 {
    let Some(&kind) = args.get(1) else {
        return usage();
    };
    if !KINDS.iter().any(|(name, _)| *name == kind) {
        return usage();
    }
    if kind == "efault" {
        return efault();
    }
    if kind == "gs" {
        return user_gs();
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

/// Bad pointers to four calls; the kernel must refuse each with EFAULT and
/// carry on (no fault: the kernel checks before it touches user memory).
fn efault() -> i32 {
    use rt::sys::{nr, raw};
    let code = main as *const () as u64; // mapped, but not writable
    // SAFETY: the pointers are meant to be bad; the kernel checks them
    // against this process's page tables and touches nothing.
    let calls = unsafe {
        [
            (
                "write from the kernel heap",
                raw::syscall2(nr::WRITE, faults::KERNEL_HEAP, 16),
            ),
            (
                "read_line into the kernel heap",
                raw::syscall2(nr::READ_LINE, faults::KERNEL_HEAP, 16),
            ),
            (
                "read_line into read-only code",
                raw::syscall2(nr::READ_LINE, code, 16),
            ),
            (
                "spawn with a null name",
                raw::syscall4(nr::SPAWN, 0, 5, 0, 0),
            ),
        ]
    };
    let mut all = true;
    for (what, result) in calls {
        let ok = result == -14;
        all &= ok;
        println!(
            "crash: efault: {what}: {}",
            if ok { "EFAULT" } else { "NOT REFUSED" }
        );
        if !ok {
            println!("crash: efault: {what} returned {result}");
        }
    }
    if all { 0 } else { 1 }
}

/// GS is the one segment register whose base the kernel keeps per CPU: a
/// process that loads its own selector (which zeroes the base) must not
/// disturb the kernel, which swaps GS on every entry and exit.
fn user_gs() -> i32 {
    faults::load_user_gs();
    let before = rt::sys::clock();
    for _ in 0..100 {
        // A system call, then an interrupt into a sleeping process.
        let _ = rt::sys::sleep(100_000);
    }
    let elapsed = rt::sys::clock().saturating_sub(before);
    println!(
        "crash: gs: 200 kernel entries with GS base 0, {elapsed} ns; GS selector {:#x}",
        faults::gs_selector()
    );
    0
}
