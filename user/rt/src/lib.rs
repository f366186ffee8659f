//! The runtime of Virtus user programs (user/ABI.md): the entry point, one
//! function per system call, `print!`/`println!`, and a panic handler that
//! prints the message and exits with status 101.
//!
//! A program is a `#![no_std] #![no_main]` binary that names its `main`:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use rt::println;
//!
//! rt::main!(main);
//!
//! fn main(args: &[&str]) -> i32 {
//!     println!("hello, {}", args[0]);
//!     0
//! }
//! ```
#![no_std]

mod entry;
pub mod errno;
pub mod print;
pub mod sys;
mod syscall_instruction;
pub mod text;

pub use errno::Errno;

/// Makes `$main` (a `fn(&[&str]) -> i32`) the program's main function:
/// it gets argv (argv[0] is the program's name) and its result is the exit
/// status.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __virtus_main(args: &[&str]) -> i32 {
            let main: fn(&[&str]) -> i32 = $main;
            main(args)
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panic: {info}");
    sys::exit(101)
}
