//! CPU exceptions: each expected fault is caught and identified; stack
//! overflows hit a guard page and are recognised as such.

use crate::harness::{Test, TestResult};
use crate::interrupts::{self, Caught, Fault, vector};
use crate::mem;
use crate::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test {
        name: "fault_page_fault_null",
        run: page_fault_null,
    },
    Test {
        name: "fault_page_fault_unmapped",
        run: page_fault_unmapped,
    },
    Test {
        name: "fault_write_to_kernel_text",
        run: write_to_text,
    },
    Test {
        name: "fault_execute_data_nx",
        run: execute_data,
    },
    Test {
        name: "fault_general_protection",
        run: general_protection,
    },
    Test {
        name: "fault_invalid_opcode",
        run: invalid_opcode,
    },
    Test {
        name: "fault_divide_error",
        run: divide_error,
    },
    Test {
        name: "fault_breakpoint_resumes",
        run: breakpoint,
    },
    Test {
        name: "fault_stack_overflow_hits_guard",
        run: stack_overflow,
    },
    Test {
        name: "fault_nested_catch",
        run: nested_catch,
    },
];

/// Read a u64 from `addr` (used by tests and by `crash=`).
#[inline(never)]
pub fn read_address(addr: u64) -> u64 {
    // SAFETY: deliberately unsound when `addr` is unmapped: callers use it
    // to provoke a fault inside a catch point (or to crash on purpose).
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Execute `ud2`.
pub fn undefined_instruction() {
    // SAFETY: `ud2` raises #UD and touches nothing; callers catch it.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}

/// Divide by zero with `div` (Rust's `/` would panic first).
pub fn divide_by_zero() {
    // SAFETY: raises #DE; no memory is touched.
    unsafe {
        core::arch::asm!("xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx",
            out("eax") _, out("edx") _, out("ecx") _, options(nomem, nostack));
    }
}

fn expect_fault(expected: u8, f: impl FnOnce()) -> Result<Fault, crate::harness::TestError> {
    match interrupts::catch(false, f) {
        Err(Caught::Fault(fault)) => {
            check_eq!(fault.vector, expected);
            Ok(fault)
        }
        other => Err(crate::harness::TestError::Fail(alloc::format!(
            "expected exception {expected}, got {other:?}"
        ))),
    }
}

fn page_fault_null() -> TestResult {
    let fault = expect_fault(vector::PAGE_FAULT, || {
        read_address(0x8);
    })?;
    check_eq!(fault.address, 0x8);
    check!(
        fault.error_code & 1 == 0,
        "null page should be not-present, error code {:#x}",
        fault.error_code
    );
    Ok(())
}

fn page_fault_unmapped() -> TestResult {
    let addr = mem::layout::SCRATCH_BASE + 0x1230;
    let fault = expect_fault(vector::PAGE_FAULT, || {
        read_address(addr);
    })?;
    check_eq!(fault.address, addr);
    check!(!fault.stack_overflow);
    Ok(())
}

fn write_to_text() -> TestResult {
    let target = write_to_text as *const () as u64;
    let fault = expect_fault(vector::PAGE_FAULT, || {
        // SAFETY: deliberately writes to read-only kernel text to prove the
        // mapping is read-only; the write faults before changing anything.
        unsafe { core::ptr::write_volatile(target as *mut u8, 0xcc) };
    })?;
    check_eq!(fault.address, target);
    check!(
        fault.error_code & 0b11 == 0b11,
        "expected a protection violation on write, error code {:#x}",
        fault.error_code
    );
    Ok(())
}

fn execute_data() -> TestResult {
    if !mem::paging::nx_enabled() {
        crate::skip!("CPU has no NX bit");
    }
    // A `ret` in a heap buffer: mapped, but not executable.
    let code = alloc::boxed::Box::new([0xc3u8; 16]);
    let addr = code.as_ptr() as u64;
    let fault = expect_fault(vector::PAGE_FAULT, || {
        // SAFETY: deliberately jumps to non-executable memory, which must
        // fault on the instruction fetch before anything executes.
        let f: extern "C" fn() = unsafe { core::mem::transmute(addr as usize) };
        f();
    })?;
    check_eq!(fault.address, addr);
    check!(
        fault.error_code & 0x10 != 0,
        "expected an instruction-fetch fault, error code {:#x}",
        fault.error_code
    );
    Ok(())
}

fn general_protection() -> TestResult {
    expect_fault(vector::GENERAL_PROTECTION, || {
        read_address(0x8000_0000_0000_0000);
    })?;
    Ok(())
}

fn invalid_opcode() -> TestResult {
    let fault = expect_fault(vector::INVALID_OPCODE, undefined_instruction)?;
    check!(fault.rip != 0);
    Ok(())
}

fn divide_error() -> TestResult {
    expect_fault(vector::DIVIDE_ERROR, divide_by_zero)?;
    Ok(())
}

fn breakpoint() -> TestResult {
    // int3 is a trap: the catch point sees it right after the instruction.
    expect_fault(vector::BREAKPOINT, || {
        // SAFETY: int3 raises #BP and touches nothing.
        unsafe { core::arch::asm!("int3", options(nomem, nostack)) };
    })?;
    Ok(())
}

/// Recurse until the stack runs out (the exit is never taken).
#[inline(never)]
pub fn recurse(depth: u64) -> u64 {
    let pad = [depth; 32];
    core::hint::black_box(&pad);
    if core::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + core::hint::black_box(pad[3])
}

extern "C" fn overflow_on_this_stack() {
    core::hint::black_box(recurse(0));
}

fn stack_overflow() -> TestResult {
    let stack = mem::stack::allocate("test stack", 4).map_err(|e| {
        crate::harness::TestError::Fail(alloc::format!("cannot allocate a stack: {e}"))
    })?;
    // The first fault on the guard page cannot push its frame (no stack
    // left), so the CPU escalates to a double fault on its IST stack.
    let fault = match interrupts::catch(false, || {
        mem::stack::run_on_stack(stack.top, overflow_on_this_stack)
    }) {
        Err(Caught::Fault(f)) => f,
        other => {
            return Err(crate::harness::TestError::Fail(alloc::format!(
                "expected a fault, got {other:?}"
            )));
        }
    };
    check!(
        fault.vector == vector::DOUBLE_FAULT || fault.vector == vector::PAGE_FAULT,
        "vector {}",
        fault.vector
    );
    check!(
        fault.stack_overflow,
        "fault at {:#x} not recognised as a guard-page hit",
        fault.address
    );
    check!(fault.address >= stack.guard && fault.address < stack.guard + mem::PAGE_SIZE);
    Ok(())
}

fn nested_catch() -> TestResult {
    let mut inner_seen = None;
    let outer = interrupts::catch(false, || {
        inner_seen = Some(interrupts::catch(false, undefined_instruction));
        divide_by_zero();
    });
    check!(
        matches!(
            inner_seen,
            Some(Err(Caught::Fault(Fault {
                vector: vector::INVALID_OPCODE,
                ..
            })))
        ),
        "inner: {inner_seen:?}"
    );
    check!(
        matches!(
            outer,
            Err(Caught::Fault(Fault {
                vector: vector::DIVIDE_ERROR,
                ..
            }))
        ),
        "outer: {outer:?}"
    );
    Ok(())
}
