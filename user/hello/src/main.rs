//! The smallest user program: says who it is and what it was given.
#![no_std]
#![no_main]

use rt::{print, println};

rt::main!(main);

fn main(args: &[&str]) -> i32 {
    print!("hello from user space: pid {}, argv [", rt::sys::getpid());
    for (i, arg) in args.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        print!("{sep}\"{arg}\"");
    }
    println!("]");
    0
}
