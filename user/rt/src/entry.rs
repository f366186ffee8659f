//! The program's first instruction and the walk over the stack the kernel
//! built (user/ABI.md, "Entry"): `rsp` points at argc, then argc pointers to
//! NUL-terminated strings. The arguments become a `&[&str]` for `main`.

use core::arch::global_asm;

/// The most arguments a program gets: spawn's argument string is at most
/// 1024 bytes, so at most 513 words split at single spaces, plus argv[0].
const MAX_ARGS: usize = 514;

// `rsp` is 16-byte aligned at entry; `call` pushes the return address, so
// `start_rust` sees the alignment every function expects (rsp + 8 aligned).
// rbp is 0 from the kernel: the end of the frame-pointer chain.
global_asm!(
    ".section .text.start, \"ax\"",
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "call {start_rust}",
    "ud2",
    start_rust = sym start_rust,
);

unsafe extern "Rust" {
    /// The program's `main`, defined by [`crate::main!`].
    fn __virtus_main(args: &[&str]) -> i32;
}

/// Reads argc and argv from the entry stack at `sp` and runs `main`.
extern "C" fn start_rust(sp: *const u64) -> ! {
    let mut args: [&str; MAX_ARGS] = [""; MAX_ARGS];
    // SAFETY: the kernel put argc at `sp`, in the stack it mapped for us.
    let argc = unsafe { sp.read() } as usize;
    if argc > MAX_ARGS {
        crate::println!("rt: {argc} arguments, more than the {MAX_ARGS} this runtime takes");
        crate::sys::exit(127);
    }
    for (i, arg) in args.iter_mut().enumerate().take(argc) {
        // SAFETY: argv[i] follows argc on the entry stack (i < argc), and
        // points at a NUL-terminated string the kernel copied there, which
        // stays mapped and unmodified for the life of the process.
        let text = unsafe {
            let ptr = sp.add(1 + i).read() as *const core::ffi::c_char;
            core::ffi::CStr::from_ptr(ptr)
        };
        *arg = text.to_str().unwrap_or("<not utf-8>");
    }
    // SAFETY: __virtus_main is the program's `main` with this signature,
    // defined once by the `main!` macro (a missing one fails to link).
    let code = unsafe { __virtus_main(&args[..argc]) };
    crate::sys::exit(code)
}
