//! `blk DISK LBA [BYTES]`: read from a disk through the `block_read` system
//! call and say what came back: its length, its FNV-1a 64-bit hash and its
//! first 16 bytes. The kernel's test compares them with the runner's test
//! pattern; by hand it is a look at a disk from user space, which reaches
//! the device (AHCI, or blkfront under PVH) only through the kernel.
#![no_std]
#![no_main]

use rt::{print, println};

rt::main!(main);

/// The most this program reads at once: its buffer lives on the 64 KiB
/// stack (the kernel takes up to 64 KiB a call, user/ABI.md).
const MAX: usize = 16 * 1024;

fn main(args: &[&str]) -> i32 {
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(disk), Some(lba)) = (number(1), number(2)) else {
        println!(
            "usage: blk DISK LBA [BYTES] (DISK counts from 0; BYTES a whole number of sectors, at most {MAX}, default 4096)"
        );
        return 2;
    };
    let len = number(3).unwrap_or(4096) as usize;
    if len == 0 || len > MAX {
        println!("blk: BYTES must be 1..={MAX}");
        return 2;
    }
    let mut buf = [0u8; MAX];
    let data = &mut buf[..len];
    match rt::sys::block_read(disk, lba, data) {
        Ok(n) => {
            let data = &data[..n];
            print!(
                "blk: disk {disk} sector {lba}: {n} bytes, fnv1a64 {:#018x}, first",
                fnv1a64(data)
            );
            for b in data.iter().take(16) {
                print!(" {b:02x}");
            }
            println!();
            0
        }
        Err(e) => {
            println!("blk: disk {disk} sector {lba}: {}", e.name());
            1
        }
    }
}

/// FNV-1a, 64-bit (offset basis and prime from the FNV specification).
fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
