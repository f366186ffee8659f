//! Memory: frames, page mapping, the heap, memory above 4 GiB.

use crate::harness::{Test, TestResult};
use crate::mem::{self, PAGE_SIZE, layout::SCRATCH_BASE, paging::Flags};
use crate::{check, check_eq};
use alloc::boxed::Box;
use alloc::vec::Vec;

pub const TESTS: &[Test] = &[
    Test {
        name: "mem_frame_alloc_free",
        run: frame_alloc_free,
    },
    Test {
        name: "mem_frame_double_free_rejected",
        run: frame_double_free,
    },
    Test {
        name: "mem_frames_distinct",
        run: frames_distinct,
    },
    Test {
        name: "mem_map_unmap_page",
        run: map_unmap,
    },
    Test {
        name: "mem_map_twice_rejected",
        run: map_twice,
    },
    Test {
        name: "mem_kernel_sections_protected",
        run: sections_protected,
    },
    Test {
        name: "mem_above_4g_usable",
        run: above_4g,
    },
    Test {
        name: "mem_heap_box_and_vec",
        run: heap_box_vec,
    },
    Test {
        name: "mem_heap_large_and_aligned",
        run: heap_large_and_aligned,
    },
    Test {
        name: "mem_heap_reuse",
        run: heap_reuse,
    },
];

fn frame_alloc_free() -> TestResult {
    let (free_before, total) = mem::frame_stats();
    check!(total > 0 && free_before > 0);
    let frame =
        mem::alloc_frame().ok_or_else(|| crate::harness::TestError::Fail("no frame".into()))?;
    check_eq!(frame % PAGE_SIZE, 0);
    check_eq!(mem::frame_stats().0, free_before - 1);
    // SAFETY: the frame is ours and identity-mapped; it was zeroed.
    let first = unsafe { core::ptr::read_volatile(frame as *const u64) };
    check_eq!(first, 0);
    mem::free_frame(frame).map_err(|e| crate::harness::TestError::Fail(alloc::format!("{e}")))?;
    check_eq!(mem::frame_stats().0, free_before);
    Ok(())
}

fn frame_double_free() -> TestResult {
    let frame =
        mem::alloc_frame().ok_or_else(|| crate::harness::TestError::Fail("no frame".into()))?;
    check!(mem::free_frame(frame).is_ok());
    check!(
        mem::free_frame(frame).is_err(),
        "second free of {frame:#x} was accepted"
    );
    check!(
        mem::free_frame(frame + 1).is_err(),
        "unaligned free was accepted"
    );
    Ok(())
}

fn frames_distinct() -> TestResult {
    let mut frames = Vec::new();
    for _ in 0..64 {
        frames.push(
            mem::alloc_frame().ok_or_else(|| crate::harness::TestError::Fail("no frame".into()))?,
        );
    }
    let mut sorted = frames.clone();
    sorted.sort_unstable();
    sorted.dedup();
    check_eq!(sorted.len(), frames.len());
    let img = mem::layout::image();
    check!(
        frames
            .iter()
            .all(|&f| f >= 1 << 20 && (f >= img.end || f + PAGE_SIZE <= img.start)),
        "a frame overlaps the image or low memory"
    );
    for f in frames {
        check!(mem::free_frame(f).is_ok());
    }
    Ok(())
}

fn map_unmap() -> TestResult {
    let virt = SCRATCH_BASE + 0x10_0000;
    let frame =
        mem::alloc_frame().ok_or_else(|| crate::harness::TestError::Fail("no frame".into()))?;
    mem::map_page(virt, frame, Flags::WRITABLE | Flags::NO_EXECUTE)
        .map_err(|e| crate::harness::TestError::Fail(alloc::format!("{e}")))?;
    // SAFETY: `virt` was just mapped to a frame we own.
    unsafe { core::ptr::write_volatile(virt as *mut u64, 0x5eed_f00d) };
    // SAFETY: the identity map reaches the same frame, which we own.
    let via_identity = unsafe { core::ptr::read_volatile(frame as *const u64) };
    check_eq!(via_identity, 0x5eed_f00d);
    check_eq!(mem::translate(virt + 8).map(|t| t.0), Some(frame + 8));
    check_eq!(mem::unmap_page(virt).ok(), Some(frame));
    check!(mem::translate(virt).is_none());
    let fault = crate::interrupts::catch(false, || {
        super::fault_tests::read_address(virt);
    });
    check!(
        matches!(fault, Err(crate::interrupts::Caught::Fault(f)) if f.address == virt),
        "access after unmap: {fault:?}"
    );
    check!(mem::free_frame(frame).is_ok());
    Ok(())
}

fn map_twice() -> TestResult {
    let virt = SCRATCH_BASE + 0x20_0000;
    check!(mem::map_new_page(virt, Flags::WRITABLE).is_ok());
    let again = mem::map_page(virt, 0x10_0000, Flags::WRITABLE);
    check_eq!(again, Err(mem::MapError::AlreadyMapped(virt)));
    check!(mem::map_page(virt + 1, 0x10_0000, Flags::WRITABLE).is_err());
    check!(
        mem::map_page(0x8000_0000_0000, 0x10_0000, Flags::WRITABLE).is_err(),
        "non-canonical address accepted"
    );
    let frame = mem::unmap_page(virt)
        .map_err(|e| crate::harness::TestError::Fail(alloc::format!("{e}")))?;
    check!(mem::free_frame(frame).is_ok());
    check_eq!(mem::unmap_page(virt), Err(mem::MapError::NotMapped(virt)));
    Ok(())
}

fn sections_protected() -> TestResult {
    let img = mem::layout::image();
    let text = mem::translate(img.start).map(|t| t.1);
    check!(
        text.is_some_and(|f| !f.contains(Flags::WRITABLE) && !f.contains(Flags::NO_EXECUTE)),
        "text flags {text:?}"
    );
    let ro = mem::translate(img.rodata_start).map(|t| t.1);
    check!(
        ro.is_some_and(|f| !f.contains(Flags::WRITABLE)),
        "rodata flags {ro:?}"
    );
    let data = mem::translate(img.data_start).map(|t| t.1);
    check!(
        data.is_some_and(|f| f.contains(Flags::WRITABLE)),
        "data flags {data:?}"
    );
    if mem::paging::nx_enabled() {
        check!(
            ro.is_some_and(|f| f.contains(Flags::NO_EXECUTE))
                && data.is_some_and(|f| f.contains(Flags::NO_EXECUTE))
        );
    }
    check!(mem::translate(0).is_none(), "page 0 is mapped");
    let (guard, _) = crate::boot::entry::boot_stack();
    check!(
        mem::translate(guard).is_none(),
        "boot stack guard page is mapped"
    );
    Ok(())
}

fn above_4g() -> TestResult {
    let Some(frame) = mem::alloc_frame_at_or_above(4 << 30) else {
        crate::skip!("no usable memory above 4 GiB on this machine");
    };
    let virt = SCRATCH_BASE + 0x30_0000;
    mem::map_page(virt, frame, Flags::WRITABLE | Flags::NO_EXECUTE)
        .map_err(|e| crate::harness::TestError::Fail(alloc::format!("{e}")))?;
    // SAFETY: mapped just above to a frame we own; also identity-mapped.
    unsafe { core::ptr::write_volatile(virt as *mut u64, 0xabcd_1234) };
    // SAFETY: the identity map covers all RAM, including above 4 GiB.
    let via_identity = unsafe { core::ptr::read_volatile(frame as *const u64) };
    check_eq!(via_identity, 0xabcd_1234);
    let _ = mem::unmap_page(virt);
    check!(mem::free_frame(frame).is_ok());
    Ok(())
}

fn heap_box_vec() -> TestResult {
    let b = Box::new(41u64);
    check_eq!(*b + 1, 42);
    let v: Vec<u64> = (0..1000).collect();
    check_eq!(v.iter().sum::<u64>(), 499_500);
    let s = alloc::format!("{}-{}", "virtus", v.len());
    check_eq!(s.as_str(), "virtus-1000");
    Ok(())
}

fn heap_large_and_aligned() -> TestResult {
    let big = alloc::vec![0x5au8; 256 * 1024];
    check!(big.iter().all(|&b| b == 0x5a));
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let page = Box::new(Page([1; 4096]));
    check_eq!((&*page as *const Page as u64) % 4096, 0);
    check_eq!(page.0[4095], 1);
    Ok(())
}

fn heap_reuse() -> TestResult {
    let (used_before, _) = mem::heap::HEAP.usage();
    for round in 0..200u64 {
        let v: Vec<u64> = alloc::vec![round; 512];
        check_eq!(v[511], round);
    }
    let (used_after, _) = mem::heap::HEAP.usage();
    check_eq!(used_after, used_before);
    Ok(())
}
