//! Processes from the ramdisk (user/): spawn and exit status, preemption,
//! faults contained, bad pointers and bad ELF files refused, SMAP. The same
//! tests run natively, under HVM and under PVH; the runner also checks the
//! programs' lines in each column's console.
//!
//! The references: a program's output is what it printed through its own
//! system calls (kept by `proc::capture`); a fault's vector is the one the
//! program said it was about to cause; memory is the frame allocator's
//! count before and after.

use alloc::format;
use alloc::string::String;

use crate::harness::{Test, TestError, TestResult};
use crate::mem::layout::USER_BASE;
use crate::proc::process::{self, KILLED};
use crate::proc::space::{Access, AddressSpace};
use crate::proc::{capture, usercopy};
use crate::{check, check_eq, skip};

pub const TESTS: &[Test] = &[
    Test {
        name: "proc_hello_runs_in_user_mode",
        run: hello_runs_in_user_mode,
    },
    Test {
        name: "proc_processes_interleave_under_preemption",
        run: processes_interleave_under_preemption,
    },
    Test {
        name: "proc_user_faults_are_contained",
        run: user_faults_are_contained,
    },
    Test {
        name: "proc_bad_user_pointers_refused",
        run: bad_user_pointers_refused,
    },
    Test {
        name: "proc_user_gs_leaves_the_kernel_per_cpu_data_alone",
        run: user_gs_leaves_the_kernel_per_cpu_data_alone,
    },
    Test {
        name: "proc_smap_blocks_kernel_access",
        run: smap_blocks_kernel_access,
    },
    Test {
        name: "proc_bad_elf_files_refused",
        run: bad_elf_files_refused,
    },
    Test {
        name: "proc_user_block_read_sees_the_host_pattern",
        run: user_block_read_sees_the_host_pattern,
    },
    Test {
        name: "proc_spawn_gives_every_frame_back",
        run: spawn_gives_every_frame_back,
    },
];

fn need_programs() -> Result<(), TestError> {
    if let Err(why) = crate::proc::programs() {
        return Err(TestError::Fail(format!(
            "{why}: the runner boots every machine with the ramdisk `make build` packs"
        )));
    }
    Ok(())
}

/// Run `name args` to its end; (status, what it printed).
fn run(name: &str, args: &str) -> Result<(i64, String), TestError> {
    capture::start();
    let pid = crate::proc::spawn(name, args, 0)
        .map_err(|e| TestError::Fail(format!("spawn {name}: {e}")))?;
    let status = crate::proc::wait(pid, 0)
        .ok_or_else(|| TestError::Fail(format!("wait for {name} (pid {pid}) failed")))?;
    let (out, _) = capture::stop();
    Ok((status, out))
}

fn hello_runs_in_user_mode() -> TestResult {
    need_programs()?;
    capture::start();
    let pid = crate::proc::spawn("hello", "one two", 0)
        .map_err(|e| TestError::Fail(format!("spawn hello: {e}")))?;
    let status = crate::proc::wait(pid, 0);
    let (out, _) = capture::stop();
    check_eq!(status, Some(0));
    let want = format!("hello from user space: pid {pid}, argv [\"hello\", \"one\", \"two\"]");
    check!(
        out.contains(&want),
        "hello printed {out:?}, expected {want:?}"
    );
    // Waited for: a second wait is not for a child any more.
    check_eq!(crate::proc::wait(pid, 0), None);
    Ok(())
}

fn processes_interleave_under_preemption() -> TestResult {
    need_programs()?;
    let (_, preempted_before) = crate::sched::counts();
    capture::start();
    let a = crate::proc::spawn("spin", "8 A", 0).map_err(|e| TestError::Fail(format!("{e}")))?;
    let b = crate::proc::spawn("spin", "8 B", 0).map_err(|e| TestError::Fail(format!("{e}")))?;
    let sa = crate::proc::wait(a, 0);
    let sb = crate::proc::wait(b, 0);
    let (out, _) = capture::stop();
    check_eq!((sa, sb), (Some(0), Some(0)));
    let (_, preempted_after) = crate::sched::counts();
    // Neither program yields or sleeps: only the timer can switch them.
    let tags: String = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|t| *t == "A" || *t == "B")
        .collect();
    check!(tags.matches('A').count() == 8, "A's lines in {out:?}");
    check!(tags.matches('B').count() == 8, "B's lines in {out:?}");
    let switches = tags.as_bytes().windows(2).filter(|w| w[0] != w[1]).count();
    check!(
        switches >= 2,
        "the two CPU-bound processes did not interleave: {tags}"
    );
    check!(
        preempted_after > preempted_before,
        "no preemption counted ({preempted_before} -> {preempted_after})"
    );
    crate::kprintln!(
        "# order {tags}: {switches} changes, {} preemptions",
        preempted_after - preempted_before
    );
    Ok(())
}

fn user_faults_are_contained() -> TestResult {
    need_programs()?;
    // Eight processes, each with two console lines: under Xen HVM every
    // byte is a trap to the device model, about half a second a case.
    crate::harness::allow_time(20 * crate::time::NS_PER_SEC);
    use crate::interrupts::vector::*;
    let nx = crate::mem::paging::nx_enabled();
    let cases: [(&str, u8, bool); 8] = [
        ("read-kernel", PAGE_FAULT, true),
        ("write-kernel", PAGE_FAULT, true),
        ("read-low", PAGE_FAULT, true),
        ("null", PAGE_FAULT, true),
        ("exec-data", PAGE_FAULT, nx),
        ("gp", GENERAL_PROTECTION, true),
        ("ud", INVALID_OPCODE, true),
        ("divide", DIVIDE_ERROR, true),
    ];
    for (kind, vector, applies) in cases {
        if !applies {
            crate::kprintln!("# {kind}: not checked, this CPU has no NX");
            continue;
        }
        let (status, out) = run("crash", kind)?;
        check!(
            out.contains(&format!("crash: about to {kind}")),
            "crash {kind} printed {out:?}"
        );
        check!(
            status == KILLED + i64::from(vector),
            "crash {kind}: status {status}, expected 256 + vector {vector}"
        );
    }
    Ok(())
}

/// The checks every system call makes, against an address space the test
/// builds (pages of known permissions), and from a real process.
fn bad_user_pointers_refused() -> TestResult {
    let mut space = AddressSpace::new().map_err(|e| TestError::Fail(format!("{e}")))?;
    let ro = Access {
        write: false,
        execute: false,
    };
    let rw = Access {
        write: true,
        execute: false,
    };
    let page = 4096u64;
    space
        .map_new(USER_BASE, ro)
        .and_then(|_| space.map_new(USER_BASE + page, rw))
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    check!(usercopy::check(&space, USER_BASE, 2 * page as usize, false).is_ok());
    check!(usercopy::check(&space, USER_BASE + page, page as usize, true).is_ok());
    // Writing the read-only page, running off the mapping, kernel
    // addresses, the identity map, wrap-around: all refused.
    let bad: [(u64, usize, bool); 6] = [
        (USER_BASE, 16, true),
        (USER_BASE + page, 2 * page as usize, false),
        (0xffff_9000_0000_0000, 8, false),
        (0x10_0000, 8, false),
        (u64::MAX - 3, 8, false),
        (0, 1, false),
    ];
    for (addr, len, write) in bad {
        check!(
            usercopy::check(&space, addr, len, write).is_err(),
            "{len} bytes at {addr:#x} (write {write}) were accepted"
        );
    }
    // From a process: `crash efault` hands the kernel a kernel address.
    if crate::proc::programs().is_ok() {
        let (status, out) = run("crash", "efault")?;
        check!(status == 0, "crash efault: status {status}, {out:?}");
        check!(out.contains("EFAULT"), "crash efault printed {out:?}");
    }
    Ok(())
}

/// A process that loads GS (zeroing its base) and then enters the kernel
/// 200 times (sleep calls, and the timer interrupts that wake it): the
/// kernel reads its per-CPU data through GS at each, so without its swaps
/// it would fault at address 0 + offset.
fn user_gs_leaves_the_kernel_per_cpu_data_alone() -> TestResult {
    need_programs()?;
    let (status, out) = run("crash", "gs")?;
    check!(status == 0, "crash gs: status {status}, {out:?}");
    check!(
        out.contains("crash: gs: 200 kernel entries with GS base 0")
            && out.contains("GS selector 0x23"),
        "crash gs printed {out:?}"
    );
    check_eq!(crate::arch::percpu::current(), 0);
    Ok(())
}

fn smap_blocks_kernel_access() -> TestResult {
    if !crate::arch::user::smap_enabled() {
        skip!("this CPU has no SMAP");
    }
    let mut space = AddressSpace::new().map_err(|e| TestError::Fail(format!("{e}")))?;
    let frame = space
        .map_new(
            USER_BASE,
            Access {
                write: true,
                execute: false,
            },
        )
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    // SAFETY: the frame was just mapped for this space and is ours.
    unsafe { (frame as *mut u64).write(0x5eed) };
    crate::mem::switch_address_space(Some(space.root()));
    let plain = crate::interrupts::catch(false, || {
        // SAFETY: deliberately touches a user page without opening SMAP;
        // the fault is caught.
        let v = unsafe { core::ptr::read_volatile(USER_BASE as *const u64) };
        core::hint::black_box(v);
    });
    let opened = crate::arch::user::with_user_access(|| {
        // SAFETY: the page is mapped (above) and SMAP is open.
        unsafe { core::ptr::read_volatile(USER_BASE as *const u64) }
    });
    crate::mem::switch_address_space(None);
    drop(space);
    match plain {
        Err(crate::interrupts::Caught::Fault(f)) => {
            check_eq!(f.vector, crate::interrupts::vector::PAGE_FAULT);
            check_eq!(f.address, USER_BASE);
            check!(
                f.error_code & 1 != 0,
                "not a protection fault: {:#x}",
                f.error_code
            );
        }
        other => {
            return Err(TestError::Fail(format!(
                "kernel read of a user page: {other:?}"
            )));
        }
    }
    check_eq!(opened, 0x5eed);
    Ok(())
}

fn bad_elf_files_refused() -> TestResult {
    need_programs()?;
    for (name, what) in [
        ("bad-truncated", "past the end"),
        ("bad-machine", "e_machine is 3"),
    ] {
        match crate::proc::spawn(name, "", 0) {
            Err(process::SpawnError::BadElf(e)) => {
                let text = format!("{e}");
                check!(
                    text.contains(what),
                    "{name} refused, but the reason {text:?} does not name the problem"
                );
            }
            Err(e) => return Err(TestError::Fail(format!("{name}: {e}"))),
            Ok(pid) => {
                let _ = crate::proc::wait(pid, 0);
                return Err(TestError::Fail(format!("{name} was started")));
            }
        }
    }
    Ok(())
}

fn spawn_gives_every_frame_back() -> TestResult {
    need_programs()?;
    // Twelve processes that print (see `user_faults_are_contained`).
    crate::harness::allow_time(20 * crate::time::NS_PER_SEC);
    // One run first: anything allocated once (the archive's parse) is out
    // of the count.
    run("hello", "")?;
    let (free_before, _) = crate::mem::frame_stats();
    for i in 0..10 {
        let (status, _) = run("hello", "again")?;
        check!(status == 0, "run {i}: status {status}");
    }
    let (status, _) = run("crash", "null")?;
    check_eq!(status, KILLED + 14);
    let (free_after, _) = crate::mem::frame_stats();
    check!(
        free_after == free_before,
        "frames free before 11 processes {free_before}, after {free_after}"
    );
    Ok(())
}

/// A process reads the test disk through `block_read` (the kernel's driver
/// underneath: AHCI, or blkfront under PVH); what it reports must be the
/// runner's pattern, which the kernel's `block::pattern` generates too.
fn user_block_read_sees_the_host_pattern() -> TestResult {
    need_programs()?;
    let e = super::block_tests::expected()?;
    let index = crate::block::DISKS
        .iter()
        .position(|d| core::ptr::eq(d, e.disk))
        .ok_or_else(|| TestError::Fail("the test disk is not in the registry".into()))?;
    let sector_size = u64::from(e.disk.info().sector_size);
    let units = sector_size / crate::block::pattern::PATTERN_SECTOR as u64;
    // A page from the pattern half, away from the first sectors.
    let lba = (e.sectors / units / 4) & !7;
    let mut want = alloc::vec![0u8; 4096];
    crate::block::pattern::fill(e.seed, lba * units, &mut want);
    let (status, out) = run("blk", &format!("{index} {lba} 4096"))?;
    check!(status == 0, "blk ended with {status}: {out:?}");
    let hash = want.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let line = format!("blk: disk {index} sector {lba}: 4096 bytes, fnv1a64 {hash:#018x}");
    check!(
        out.contains(&line),
        "blk printed {out:?}, expected {line:?}..."
    );
    Ok(())
}
