//! The address space holds what exists and nothing else: RAM mapped as
//! RAM (write-back, not executable), device registers only where the
//! backend declared them and uncached, holes and firmware space unmapped,
//! shared frames kept away from the allocator. Every check compares the
//! page tables or the allocator with an outside reference: the loader's
//! memory map, the backend's list of devices, or the CPU's own behaviour.

use crate::harness::{Test, TestError, TestResult};
use crate::interrupts::{self, Caught};
use crate::mem::{self, FrameError, PAGE_SIZE, RegionKind, SharedFrameError, paging::Flags};
use crate::{check, check_eq};
use alloc::format;
use alloc::vec::Vec;

pub const TESTS: &[Test] = &[
    Test {
        name: "mem_identity_map_is_ram_only",
        run: identity_map_is_ram_only,
    },
    Test {
        name: "mem_hole_read_faults",
        run: hole_read_faults,
    },
    Test {
        name: "mem_mmio_declared_and_uncached",
        run: mmio_declared_and_uncached,
    },
    Test {
        name: "mem_ram_not_executable",
        run: ram_not_executable,
    },
    Test {
        name: "mem_firmware_read_through_window",
        run: firmware_read_through_window,
    },
    Test {
        name: "mem_shared_frame_leaves_the_allocator",
        run: shared_frame_leaves_the_allocator,
    },
];

fn boot_map() -> Result<&'static mem::MemoryMap, TestError> {
    mem::boot_map().ok_or_else(|| TestError::Fail("no boot memory map".into()))
}

/// Every leaf mapping of the lower half (the identity map), in order.
fn identity_leaves() -> Vec<(u64, u64, u64, Flags)> {
    let mut leaves = Vec::new();
    mem::for_each_mapping(0, 1 << 47, &mut |virt, bytes, phys, flags| {
        leaves.push((virt, bytes, phys, flags));
    });
    leaves
}

/// Whether `[start, end)` lies in one usable region of `map`, whole pages.
fn in_usable(map: &mem::MemoryMap, start: u64, end: u64) -> bool {
    map.usable().any(|r| r.start <= start && end <= r.end)
}

fn identity_map_is_ram_only() -> TestResult {
    let map = boot_map()?;
    let img = mem::layout::image();
    let shared = mem::shared_frames();
    let top = map.highest_usable_end().max(4 << 30);
    let leaves = identity_leaves();
    let nx = mem::paging::nx_enabled();
    let mut mapped = 0u64;
    for &(virt, bytes, phys, flags) in &leaves {
        check!(virt == phys, "{virt:#x} maps {phys:#x}: not the identity");
        let end = virt + bytes;
        let image = virt < img.end && end > img.start;
        let is_shared = bytes == PAGE_SIZE && shared.contains(virt);
        check!(
            in_usable(map, virt, end) || image || is_shared,
            "{virt:#x}..{end:#x} is mapped but the memory map has no RAM there"
        );
        check!(
            !flags.intersects(Flags::NO_CACHE | Flags::WRITE_THROUGH),
            "RAM at {virt:#x} is mapped with caching off ({flags:?})"
        );
        let text = virt < img.text_end && end > img.start;
        if nx && !text {
            check!(
                flags.contains(Flags::NO_EXECUTE),
                "RAM at {virt:#x} ({bytes:#x} bytes) is executable"
            );
        }
        mapped += bytes;
    }
    check!(leaves.last().is_some_and(|l| l.0 + l.1 <= top.max(img.end)));
    // The other way round: every usable page is mapped, save page 0 and
    // stack guard pages.
    let mut unmapped = 0u64;
    for region in map.usable() {
        for page in (region.start..region.end).step_by(PAGE_SIZE as usize) {
            let i = leaves.partition_point(|l| l.0 + l.1 <= page);
            let covered = leaves.get(i).is_some_and(|l| l.0 <= page);
            if !covered {
                check!(
                    page == 0 || mem::stack::guard_containing(page).is_some(),
                    "usable RAM page {page:#x} is not mapped"
                );
                unmapped += 1;
            }
        }
    }
    let set_aside_shared = shared
        .frames()
        .iter()
        .filter(|&&f| !in_usable(map, f, f + PAGE_SIZE))
        .count() as u64;
    check_eq!(
        mapped,
        map.total_usable() - unmapped * PAGE_SIZE + set_aside_shared * PAGE_SIZE
    );
    Ok(())
}

/// A page-aligned address below 4 GiB in no region of the map, above RAM.
fn first_hole_above_ram(map: &mem::MemoryMap) -> Option<u64> {
    let low_ram_end = map
        .usable()
        .filter(|r| r.end <= 4 << 30)
        .map(|r| r.end)
        .max()?;
    let mut candidate = low_ram_end.next_multiple_of(PAGE_SIZE);
    while candidate < 4 << 30 {
        if !map.covers(candidate, candidate + 1) {
            return Some(candidate);
        }
        let region_end = map
            .regions()
            .iter()
            .find(|r| r.start <= candidate && candidate < r.end)?
            .end;
        candidate = region_end.next_multiple_of(PAGE_SIZE);
    }
    None
}

fn expect_not_present_fault(addr: u64) -> TestResult {
    check!(mem::translate(addr).is_none(), "{addr:#x} is mapped");
    let caught = interrupts::catch(false, || {
        super::fault_tests::read_address(addr);
    });
    match caught {
        Err(Caught::Fault(f)) => {
            check_eq!(f.vector, interrupts::vector::PAGE_FAULT);
            check_eq!(f.address, addr);
            check!(
                f.error_code & 1 == 0,
                "{addr:#x}: expected a not-present fault, error code {:#x}",
                f.error_code
            );
            Ok(())
        }
        other => Err(TestError::Fail(format!(
            "reading {addr:#x} gave {other:?}, not a page fault"
        ))),
    }
}

/// The MMIO hole is not mapped: the first hole above RAM and the local
/// APIC's architectural address fault when read through the identity map
/// (the APIC, where used as MMIO, is mapped elsewhere, uncached).
fn hole_read_faults() -> TestResult {
    let map = boot_map()?;
    let hole = first_hole_above_ram(map)
        .ok_or_else(|| TestError::Fail("no hole below 4 GiB in the memory map".into()))?;
    expect_not_present_fault(hole)?;
    expect_not_present_fault(0xfee0_0000)?;
    // Non-RAM regions (firmware, device space) are not mapped either,
    // except for frames shared with another domain.
    let shared = mem::shared_frames();
    for r in map
        .regions()
        .iter()
        .filter(|r| r.kind != RegionKind::Usable)
    {
        let page = r.start.next_multiple_of(PAGE_SIZE);
        if page + PAGE_SIZE <= r.end && !shared.contains(page) {
            check!(
                mem::translate(page).is_none(),
                "{} region page {page:#x} is mapped",
                r.kind
            );
        }
    }
    Ok(())
}

/// What the backend says it uses is what is mapped as device memory, and
/// it is mapped uncached (PCD and PWT, PAT clear: IA32_PAT entry 3, UC),
/// not executable, and not through the identity map as well.
fn mmio_declared_and_uncached() -> TestResult {
    let declared = crate::platform().mmio_regions();
    let mappings: Vec<mem::MmioMapping> = mem::mmio_mappings().collect();
    for region in &declared {
        let page = region.paddr & !(PAGE_SIZE - 1);
        let mapping = mappings
            .iter()
            .find(|m| m.paddr & !(PAGE_SIZE - 1) == page)
            .ok_or_else(|| {
                TestError::Fail(format!(
                    "{} at {:#x} is declared but not mapped",
                    region.name, region.paddr
                ))
            })?;
        let pte = mem::translate(mapping.virt_page);
        check!(
            pte.is_some_and(|(phys, _)| phys == page),
            "{} maps to {pte:?}",
            region.name
        );
        let flags = pte.map_or(Flags::empty(), |p| p.1);
        check!(
            flags.contains(Flags::NO_CACHE | Flags::WRITE_THROUGH | Flags::NO_EXECUTE)
                && !flags.contains(Flags::HUGE),
            "{} at {page:#x} is not mapped uncached: {flags:?}",
            region.name
        );
        check!(
            mem::translate(page).is_none(),
            "{} at {page:#x} is also identity-mapped",
            region.name
        );
    }
    for m in &mappings {
        check!(
            declared
                .iter()
                .any(|r| r.paddr <= m.paddr && m.paddr + m.size <= r.paddr + r.size),
            "device registers at {:#x} are mapped but not declared by the backend",
            m.paddr
        );
    }
    crate::kprintln!(
        "# {} device register block(s) declared, {} mapped",
        declared.len(),
        mappings.len()
    );
    Ok(())
}

/// A `ret` written to an ordinary RAM frame cannot be run through the
/// identity map: the CPU refuses the fetch.
fn ram_not_executable() -> TestResult {
    if !mem::paging::nx_enabled() {
        crate::skip!("CPU has no NX bit");
    }
    let frame = mem::alloc_frame().ok_or_else(|| TestError::Fail("no frame".into()))?;
    // SAFETY: the frame is ours and identity-mapped writable.
    unsafe { core::ptr::write_volatile(frame as *mut u8, 0xc3) };
    let caught = interrupts::catch(false, || {
        // SAFETY: deliberately jumps to RAM that must not be executable;
        // the fetch faults before anything runs.
        let f: extern "C" fn() = unsafe { core::mem::transmute(frame as usize) };
        f();
    });
    let _ = mem::free_frame(frame);
    match caught {
        Err(Caught::Fault(f)) => {
            check_eq!(f.address, frame);
            check!(
                f.error_code & 0x10 != 0,
                "expected an instruction-fetch fault, error code {:#x}",
                f.error_code
            );
            Ok(())
        }
        other => Err(TestError::Fail(format!(
            "running code in RAM at {frame:#x} gave {other:?}"
        ))),
    }
}

/// Firmware data outside RAM is still readable by the parsers (through
/// the read-only window), and holes are not.
fn firmware_read_through_window() -> TestResult {
    let map = boot_map()?;
    let phys = mem::phys_memory();
    let rsdp = crate::platform().boot_info().rsdp_paddr;
    if rsdp != 0 {
        let mut sig = [0u8; 8];
        check!(
            phys.read(rsdp, &mut sig),
            "cannot read the RSDP at {rsdp:#x}"
        );
        check_eq!(&sig, b"RSD PTR ");
    }
    let hole = first_hole_above_ram(map)
        .ok_or_else(|| TestError::Fail("no hole below 4 GiB in the memory map".into()))?;
    let mut byte = [0u8; 1];
    check!(
        !phys.read(hole, &mut byte),
        "read of the hole at {hole:#x} succeeded"
    );
    // The first non-RAM region that holds whole pages reads through the
    // window with the same bytes on a second read (no side effects seen).
    let Some(region) = map.regions().iter().find(|r| {
        r.kind != RegionKind::Usable
            && r.start.next_multiple_of(PAGE_SIZE) + PAGE_SIZE <= r.end
            && r.start >= 1 << 20
    }) else {
        return Ok(());
    };
    let at = region.start.next_multiple_of(PAGE_SIZE);
    let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
    check!(
        phys.read(at, &mut a) && phys.read(at, &mut b),
        "cannot read {at:#x}"
    );
    check_eq!(a, b);
    Ok(())
}

/// `reserve_shared` takes a free RAM frame out of the allocator for good,
/// refuses frames that are in use, in the image or in a hole, and
/// `release_shared` gives the frame back.
fn shared_frame_leaves_the_allocator() -> TestResult {
    let map = boot_map()?;
    let frame = mem::alloc_frame().ok_or_else(|| TestError::Fail("no frame".into()))?;
    check_eq!(
        mem::reserve_shared(frame),
        Err(SharedFrameError::InUse(frame))
    );
    check!(mem::free_frame(frame).is_ok());
    let (free_before, total_before) = mem::frame_stats();
    check_eq!(mem::reserve_shared(frame), Ok(()));
    let result = (|| {
        check!(mem::shared_frames().contains(frame));
        check!(!mem::frame_is_free(frame));
        check_eq!(mem::frame_stats(), (free_before - 1, total_before - 1));
        check_eq!(mem::free_frame(frame), Err(FrameError::Withheld(frame)));
        check_eq!(
            mem::reserve_shared(frame),
            Err(SharedFrameError::AlreadyShared(frame))
        );
        let pte = mem::translate(frame);
        check!(
            pte.is_some_and(|(p, f)| p == frame
                && f.contains(Flags::WRITABLE)
                && !f.intersects(Flags::NO_CACHE | Flags::WRITE_THROUGH)),
            "shared RAM frame mapped as {pte:?}"
        );
        Ok(())
    })();
    check_eq!(mem::release_shared(frame), Ok(()));
    result?;
    check!(mem::frame_is_free(frame));
    check_eq!(mem::frame_stats(), (free_before, total_before));
    check_eq!(
        mem::release_shared(frame),
        Err(SharedFrameError::NotShared(frame))
    );

    let img = mem::layout::image().start & !(PAGE_SIZE - 1);
    check_eq!(
        mem::reserve_shared(img),
        Err(SharedFrameError::InKernelImage(img))
    );
    let hole = first_hole_above_ram(map)
        .ok_or_else(|| TestError::Fail("no hole below 4 GiB in the memory map".into()))?;
    check_eq!(
        mem::reserve_shared(hole),
        Err(SharedFrameError::NotInMemoryMap(hole))
    );
    check!(mem::translate(hole).is_none());
    Ok(())
}
