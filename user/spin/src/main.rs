//! `spin N TAG`: prints `TAG i` for i in 0..N with a few milliseconds of
//! pure computation between prints, never yielding or sleeping. Two of them
//! interleave only if the kernel preempts them.
#![no_std]
#![no_main]

use core::hint::black_box;
use rt::println;

rt::main!(main);

/// Rounds of the busy loop between prints: a few ms natively and under TCG
/// a bit more, far longer than nothing and far shorter than a test timeout.
const ROUNDS: u64 = 2_000_000;

fn main(args: &[&str]) -> i32 {
    let (Some(count), Some(tag)) = (args.get(1).and_then(|n| n.parse::<u64>().ok()), args.get(2))
    else {
        println!("usage: spin N TAG");
        return 2;
    };
    let mut state = 1u64;
    for i in 0..count {
        state = busy(state);
        println!("{tag} {i}");
    }
    // Using the result keeps the loop from being optimised away.
    black_box(state);
    0
}

/// A xorshift generator run `ROUNDS` times: integer work only (no memory
/// traffic, no system call), through black_box so the compiler keeps it.
fn busy(mut x: u64) -> u64 {
    for _ in 0..ROUNDS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    x
}
