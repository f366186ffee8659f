//! The grant table under Xen, and against dom0.
//!
//! The dom0 test speaks to a small responder the runner starts in dom0
//! (tests/xen/grant-responder.sh) through the guest's own xenstore home:
//! the guest writes `data/grant-test/request` = `<seq> <op> <gref> <len>`
//! and dom0 answers in `data/grant-test/result` = `<seq> <answer>`:
//! - `read`: dom0 maps the grant read-only through its grant device
//!   (`virtus-grant-peek`, /dev/xen/gntdev), copies `len` bytes out, unmaps
//!   it, and answers `sha256 <hex>` (busybox `sha256sum` of the bytes);
//! - `hold`: dom0 maps it and keeps it mapped, answering `held`;
//! - `release`: dom0 unmaps what it holds, answering `released`.
//!
//! Anything else dom0 answers (`error ...`) fails the test with its words.

use alloc::string::String;
use alloc::vec::Vec;

use super::entry::{GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_TYPE_MASK};
use super::{GrantError, GrantRef, NR_RESERVED_ENTRIES, RefError, sha256};
use crate::{abi, hvm};
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::mem;
use virtus_kernel::time::{self as ktime, NS_PER_MS};
use virtus_kernel::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test {
        name: "pv_grant_table_holds_the_toolstack_grants",
        run: table_holds_the_toolstack_grants,
    },
    Test {
        name: "pv_grant_end_access_frees_the_ref",
        run: end_access_frees_the_ref,
    },
    Test {
        name: "pv_grant_dom0_reads_the_page",
        run: dom0_reads_the_page,
    },
    Test {
        name: "pv_grant_end_refused_while_dom0_maps",
        run: end_refused_while_dom0_maps,
    },
];

/// `own` followed by this file's tests, for pv-backend's list (a `const`
/// cannot be built from two slices otherwise). `N` must be the sum.
pub const fn after<const N: usize>(own: &[Test]) -> [Test; N] {
    assert!(own.len() + TESTS.len() == N, "N must count both lists");
    let mut all = [TESTS[0]; N];
    let mut i = 0;
    while i < own.len() {
        all[i] = own[i];
        i += 1;
    }
    while i < N {
        all[i] = TESTS[i - own.len()];
        i += 1;
    }
    all
}

fn failed(what: &str, e: GrantError) -> TestError {
    TestError::Fail(alloc::format!("{what}: {e}"))
}

/// dom0's domain id: the grantee of every grant here.
const DOM0: u16 = 0;

/// The table holds, in the toolstack's reserved refs, the grants it made
/// for dom0's daemons before the guest ran: ref 0 the console ring, ref 1
/// the xenstore ring (xenstored maps the store through it). Their frames
/// must be the ones Xen names in the HVM parameters: an independent proof
/// that the frame this kernel mapped is the domain's real grant table.
/// The frame itself came from the allocator and is now withheld from it.
fn table_holds_the_toolstack_grants() -> TestResult {
    let info = super::info().map_err(|e| failed("map the grant table", e))?;
    check!(
        info.size.max_nr_frames >= 1 && info.size.nr_frames <= info.size.max_nr_frames,
        "GNTTABOP_query_size said {:?}",
        info.size
    );
    check_eq!(info.entries, 512);
    for &frame in &info.frames {
        check!(
            mem::shared_frames().contains(frame),
            "table frame {frame:#x} is not registered as shared"
        );
        check!(
            !mem::frame_is_free(frame),
            "table frame {frame:#x} is free in the allocator"
        );
    }
    for (gref, param, what) in [
        (0, abi::HVM_PARAM_CONSOLE_PFN, "console"),
        (1, abi::HVM_PARAM_STORE_PFN, "xenstore"),
    ] {
        let pfn = hvm::get_param(param)
            .map_err(|e| TestError::Fail(alloc::format!("HVM_PARAM {param}: {e}")))?;
        let entry = super::entry(gref).map_err(|e| failed("read a reserved entry", e))?;
        check!(
            entry.flags & GTF_TYPE_MASK == GTF_PERMIT_ACCESS
                && entry.domid == DOM0
                && u64::from(entry.frame) == pfn,
            "ref {gref} should grant dom0 the {what} ring (frame {pfn:#x}), holds {entry:?}"
        );
    }
    Ok(())
}

/// A frame of our own to grant, zeroed.
fn own_frame() -> Result<u64, TestError> {
    mem::alloc_frame().ok_or_else(|| TestError::Fail("no free frame".into()))
}

/// Grant, read the entry back, end access, reuse; the reserved refs and
/// refs not granted cannot be ended; exhausting the table is an error,
/// after exactly the refs that were free.
fn end_access_frees_the_ref() -> TestResult {
    let page = own_frame()?;
    let gref = super::grant_access(DOM0, page, true).map_err(|e| failed("grant", e))?;
    check!(
        gref >= NR_RESERVED_ENTRIES,
        "handed out reserved ref {gref}"
    );
    let entry = super::entry(gref).map_err(|e| failed("read entry", e))?;
    check_eq!(entry.flags, GTF_PERMIT_ACCESS | GTF_READONLY);
    check_eq!(entry.domid, DOM0);
    check_eq!(u64::from(entry.frame), page >> 12);
    super::end_access(gref).map_err(|e| failed("end access", e))?;
    check_eq!(super::entry(gref).map(|e| e.flags), Ok(0));
    check_eq!(
        super::end_access(gref),
        Err(GrantError::Ref(RefError::NotGranted(gref)))
    );
    check_eq!(
        super::end_access(1),
        Err(GrantError::Ref(RefError::Reserved(1)))
    );
    let again = super::grant_access(DOM0, page, false).map_err(|e| failed("grant again", e))?;
    check_eq!(again, gref);
    check_eq!(super::entry(again).map(|e| e.flags), Ok(GTF_PERMIT_ACCESS));
    super::end_access(again).map_err(|e| failed("end access again", e))?;

    // One more grant than there are free refs: the last must fail.
    let free = super::info().map_err(|e| failed("info", e))?.free;
    let mut taken: Vec<GrantRef> = Vec::new();
    let mut refused = None;
    for _ in 0..=free {
        match super::grant_access(DOM0, page, true) {
            Ok(r) => taken.push(r),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    for &r in &taken {
        super::end_access(r).map_err(|e| failed("end access after exhaustion", e))?;
    }
    let _ = mem::free_frame(page);
    check_eq!(taken.len() as u32, free);
    check!(
        matches!(refused, Some(GrantError::Ref(RefError::Exhausted { .. }))),
        "grant {} of {free} free refs gave {refused:?}",
        free + 1
    );
    Ok(())
}

const REQUEST: &str = "data/grant-test/request";
const RESULT: &str = "data/grant-test/result";
/// How long a test may wait for dom0 in all: inside the harness's 5 s
/// watchdog, so that a silent dom0 fails with the test's own words. dom0
/// hears a request through a xenstore watch; each answer costs it a few
/// process starts, slow under emulation.
const ANSWERS_NS: u64 = 4_500 * NS_PER_MS;

/// When a test that starts now must have all its answers.
fn answers_deadline() -> u64 {
    ktime::now_ns() + ANSWERS_NS
}

/// Ask dom0 `op` about `gref`, and wait (sleeping) until `deadline` for
/// its answer.
fn ask_dom0(op: &str, gref: GrantRef, len: usize, deadline: u64) -> Result<String, TestError> {
    let seq = ktime::now_ns();
    let request = alloc::format!("{seq} {op} {gref} {len}");
    crate::xenstore::with_client(|c| c.write(REQUEST, request.as_bytes()))
        .map_err(|e| TestError::Fail(alloc::format!("write {REQUEST}: {e}")))?;
    let prefix = alloc::format!("{seq} ");
    let asked = ktime::now_ns();
    loop {
        // A missing node (ENOENT) only means no answer yet.
        if let Ok(value) = crate::xenstore::with_client(|c| c.read(RESULT))
            && let Some(answer) = String::from_utf8_lossy(&value).strip_prefix(prefix.as_str())
        {
            let ms = (ktime::now_ns() - asked) / NS_PER_MS;
            log::info!("grant test: dom0 answered `{op}` in {ms} ms");
            return Ok(answer.into());
        }
        if ktime::now_ns() >= deadline {
            return Err(TestError::Fail(alloc::format!(
                "dom0 did not answer `{request}` within {} ms (is the runner's grant \
                 responder running in dom0?)",
                (ktime::now_ns() - asked) / NS_PER_MS
            )));
        }
        ktime::sleep_ns(50 * NS_PER_MS);
    }
}

/// Bytes that no zeroed or stale page holds by chance.
fn fill_pattern(page: u64, seed: u64) -> Vec<u8> {
    let bytes: Vec<u8> = (0..4096u64)
        .map(|i| (i.wrapping_mul(0x9e37) ^ (i >> 7) ^ seed) as u8)
        .collect();
    // SAFETY: `page` is a frame the allocator gave this test, identity-mapped
    // and 4 KiB long; dom0 only reads it.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), page as *mut u8, bytes.len()) };
    bytes
}

/// dom0 maps the granted page through Xen and hashes what it finds; the
/// hash must be the one of the pattern written here. After dom0 unmapped
/// it, access ends and the ref is the next one handed out.
fn dom0_reads_the_page() -> TestResult {
    let deadline = answers_deadline();
    let page = own_frame()?;
    let pattern = fill_pattern(page, ktime::now_ns());
    let want = sha256::hex(&sha256::digest(&pattern));
    let want = core::str::from_utf8(&want).unwrap_or("");
    let gref = super::grant_access(DOM0, page, true).map_err(|e| failed("grant", e))?;
    let answer = ask_dom0("read", gref, pattern.len(), deadline)?;
    let ended = super::end_access(gref);
    let again = super::grant_access(DOM0, page, true);
    if let Ok(r) = again {
        let _ = super::end_access(r);
    }
    if ended.is_ok() {
        let _ = mem::free_frame(page);
    }
    check_eq!(answer.as_str(), alloc::format!("sha256 {want}").as_str());
    ended.map_err(|e| failed("end access after dom0 unmapped", e))?;
    check_eq!(again, Ok(gref));
    Ok(())
}

/// dom0 maps the page and keeps it mapped: Xen marks the entry
/// `GTF_reading`, and ending access is refused with the grant standing,
/// until dom0 lets go; then it ends.
fn end_refused_while_dom0_maps() -> TestResult {
    let deadline = answers_deadline();
    let page = own_frame()?;
    fill_pattern(page, 0);
    let gref = super::grant_access(DOM0, page, true).map_err(|e| failed("grant", e))?;
    let answer = ask_dom0("hold", gref, 64, deadline)?;
    check_eq!(answer.as_str(), "held");
    let flags = super::entry(gref).map(|e| e.flags);
    let refused = super::end_access(gref);
    let still = super::entry(gref).map(|e| e.flags);
    let answer = ask_dom0("release", gref, 0, deadline)?;
    let ended = super::end_access(gref);
    // Only a page whose grant ended may go back to the allocator.
    if ended.is_ok() {
        let _ = mem::free_frame(page);
    }
    check!(
        flags.is_ok_and(|f| f & GTF_READING != 0),
        "dom0 holds the mapping but the entry's flags are {flags:?}"
    );
    check!(
        matches!(refused, Err(GrantError::InUse { gref: r, .. }) if r == gref),
        "ending access while dom0 maps the page gave {refused:?}"
    );
    check_eq!(still, flags);
    check_eq!(answer.as_str(), "released");
    ended.map_err(|e| failed("end access after dom0 let go", e))?;
    Ok(())
}
