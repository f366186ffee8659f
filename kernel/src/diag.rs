//! Crash diagnostics: what an unhandled exception prints before the machine
//! stops. Written through [`crate::console::write_crash`], which never waits
//! for the console lock a crashing context might hold (its introduction
//! says why that keeps writers serialised).

use crate::arch::trap::EXCEPTION_NAMES;
use crate::arch::trap::TrapFrame;
use core::fmt::Write;

/// Console writer that never waits for the console lock (for crash paths
/// only: the exception report and the panic message).
pub struct RawConsole;

impl Write for RawConsole {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        crate::console::write_crash(s);
        Ok(())
    }
}

/// Print everything known about an unhandled exception.
pub fn report_exception(frame: &TrapFrame, address: u64, overflow: Option<&'static str>) {
    let mut out = RawConsole;
    let vector = frame.vector as usize;
    let name = EXCEPTION_NAMES.get(vector).copied().unwrap_or("?");
    let _ = writeln!(out, "\n!!! unhandled CPU exception {vector}: {name}");
    let cpu = crate::arch::percpu::current();
    if cpu != 0 {
        let _ = writeln!(out, "!!! on cpu {cpu} (an application processor)");
    }
    if let Some(stack) = overflow {
        let _ = writeln!(
            out,
            "!!! kernel stack overflow: {stack} guard page hit at {address:#x}"
        );
    }
    let _ = write!(out, "    error code {:#x}", frame.error_code);
    if vector == 14 {
        let e = frame.error_code;
        let _ = write!(
            out,
            " ({} {} in {} mode{})",
            if e & 1 != 0 {
                "protection violation on"
            } else {
                "not-present page on"
            },
            if e & 0x10 != 0 {
                "instruction fetch"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if e & 4 != 0 { "user" } else { "kernel" },
            if e & 8 != 0 { ", reserved bit set" } else { "" },
        );
    }
    let _ = writeln!(out);
    if vector == 14 || vector == 8 {
        let _ = writeln!(out, "    faulting address (CR2) {address:#018x}");
    }
    let _ = writeln!(
        out,
        "    RIP {:#018x}  CS {:#x}  RFLAGS {:#x}",
        frame.rip, frame.cs, frame.rflags
    );
    let _ = writeln!(out, "    RSP {:#018x}  SS {:#x}", frame.rsp, frame.ss);
    let regs = [
        ("RAX", frame.rax),
        ("RBX", frame.rbx),
        ("RCX", frame.rcx),
        ("RDX", frame.rdx),
        ("RSI", frame.rsi),
        ("RDI", frame.rdi),
        ("RBP", frame.rbp),
        ("R8 ", frame.r8),
        ("R9 ", frame.r9),
        ("R10", frame.r10),
        ("R11", frame.r11),
        ("R12", frame.r12),
        ("R13", frame.r13),
        ("R14", frame.r14),
        ("R15", frame.r15),
    ];
    for row in regs.chunks(3) {
        let _ = write!(out, "   ");
        for (name, value) in row {
            let _ = write!(out, " {name} {value:#018x}");
        }
        let _ = writeln!(out);
    }
    backtrace(&mut out, frame.rbp);
}

/// Walk the frame-pointer chain (the kernel is built with frame pointers),
/// stopping at anything that does not look like a mapped stack.
pub fn backtrace(out: &mut impl Write, mut rbp: u64) {
    let _ = writeln!(out, "    backtrace:");
    for _ in 0..16 {
        if rbp == 0 || !rbp.is_multiple_of(8) || !crate::mem::stack::is_stack_address(rbp, 16) {
            break;
        }
        // SAFETY: `rbp` is 8-aligned and the 16 bytes at it lie in a mapped
        // kernel stack (checked above), so the two words can be read.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        let _ = writeln!(out, "      {ret:#018x}");
        rbp = next;
    }
}
