//! The client against the real xenstored of the test bed. Each test checks
//! against something the client did not compute: Xen's CPUID leaf, the
//! name the runner gave `xl` (passed on the command line), xenstored's own
//! EAGAIN and ENOENT, events it sends.

use super::{Client, XsError, with_client};
use crate::xenstore::wire::{REL_PATH_MAX, WireError, XsErrno};
use alloc::string::String;
use alloc::vec::Vec;
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::time::NS_PER_MS;
use virtus_kernel::{check, check_eq, skip};

pub const TESTS: [Test; 8] = [
    Test {
        name: "pv_xenstore_domid_matches_cpuid",
        run: domid_matches_cpuid,
    },
    Test {
        name: "pv_xenstore_name_matches_xl_config",
        run: name_matches_xl_config,
    },
    Test {
        name: "pv_xenstore_write_reads_back",
        run: write_reads_back,
    },
    Test {
        name: "pv_xenstore_mkdir_directory_rm",
        run: mkdir_directory_rm,
    },
    Test {
        name: "pv_xenstore_transaction_conflict_retries",
        run: transaction_conflict_retries,
    },
    Test {
        name: "pv_xenstore_errors",
        run: errors,
    },
    Test {
        name: "pv_xenstore_watch_fires_and_unwatch_stops",
        run: watch_fires_and_unwatch_stops,
    },
    Test {
        name: "pv_xenstore_reset_watches",
        run: reset_watches,
    },
];

/// How long an event xenstored owes us may take (it comes in ms).
const EVENT_WAIT_NS: u64 = 2_000 * NS_PER_MS;
/// How long to listen for an event that must not come.
const QUIET_WAIT_NS: u64 = 300 * NS_PER_MS;

fn xs<T>(what: &str, f: impl FnOnce(&mut Client) -> Result<T, XsError>) -> Result<T, TestError> {
    with_client(f).map_err(|e| TestError::Fail(alloc::format!("{what}: {e}")))
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The domain id xenstore holds (`domid`, written by libxl) against the one
/// Xen's CPUID leaf base+4 publishes (ECX, when EAX bit 4 says so).
fn domid_matches_cpuid() -> TestResult {
    let base = crate::hypercall::info().cpuid_base;
    let leaf = core::arch::x86_64::__cpuid(base + 4);
    if leaf.eax & (1 << 4) == 0 {
        skip!("Xen does not publish the domain id in CPUID");
    }
    let value = xs("read domid", |c| c.read("domid"))?;
    check_eq!(text(value).parse::<u32>().ok(), Some(leaf.ecx));
    Ok(())
}

/// The `name` libxl wrote against the name the runner put in the xl
/// configuration, which it also passes as `xen.expect_name=`.
fn name_matches_xl_config() -> TestResult {
    let cmdline = &virtus_kernel::platform().boot_info().cmdline;
    let Some(expected) = cmdline.get("xen.expect_name") else {
        skip!("no xen.expect_name= on the command line to compare with");
    };
    let name = xs("read name", |c| c.read("name"))?;
    check_eq!(text(name), expected);
    Ok(())
}

/// A value written under the domain's `data/` reads back the same.
fn write_reads_back() -> TestResult {
    let value = alloc::format!("virtus-{}", virtus_kernel::time::now_ns());
    xs("write", |c| c.write("data/virtus-test", value.as_bytes()))?;
    let back = xs("read", |c| c.read("data/virtus-test"))?;
    check_eq!(back, value.into_bytes());
    Ok(())
}

/// mkdir makes an empty node its parent lists; rm takes it and its
/// children away.
fn mkdir_directory_rm() -> TestResult {
    xs("mkdir", |c| c.mkdir("data/virtus-dir/sub"))?;
    xs("write", |c| c.write("data/virtus-dir/leaf", b"1"))?;
    let mut names = xs("directory", |c| c.directory("data/virtus-dir"))?;
    names.sort();
    check_eq!(names, ["leaf", "sub"]);
    check_eq!(xs("read", |c| c.read("data/virtus-dir/sub"))?, b"");
    xs("rm", |c| c.rm("data/virtus-dir"))?;
    let gone = with_client(|c| c.read("data/virtus-dir/leaf"));
    check_eq!(gone.map_err(|e| e.errno()), Err(Some(XsErrno::Enoent)));
    let listed = xs("directory data", |c| c.directory("data"))?;
    check!(
        !listed.iter().any(|n| n == "virtus-dir"),
        "data/ still lists virtus-dir: {listed:?}"
    );
    Ok(())
}

/// A transaction whose node changes behind it fails to commit (EAGAIN
/// from xenstored); the helper runs it again and the second attempt
/// commits the transaction's value.
fn transaction_conflict_retries() -> TestResult {
    const KEY: &str = "data/virtus-tx";
    xs("write", |c| c.write(KEY, b"start"))?;
    let retries_before = xs("stats", |c| Ok(c.stats.tx_retries))?;
    let (seen, attempt) = xs("transaction", |c| {
        c.transaction(|tx| {
            let seen = tx.read(KEY)?;
            if seen == b"start" {
                tx.outside().write(KEY, b"outside")?;
            }
            tx.write(KEY, b"tx")?;
            Ok(seen)
        })
    })?;
    check_eq!(attempt, 2);
    check_eq!(text(seen), "outside");
    check_eq!(text(xs("read", |c| c.read(KEY))?), "tx");
    check_eq!(xs("stats", |c| Ok(c.stats.tx_retries))? - retries_before, 1);
    Ok(())
}

/// A missing node is ENOENT from xenstored; a path over the protocol's
/// limit is refused before anything is sent.
fn errors() -> TestResult {
    let missing = with_client(|c| c.read("data/no-such-node"));
    check_eq!(missing.map_err(|e| e.errno()), Err(Some(XsErrno::Enoent)));
    let long = "a".repeat(REL_PATH_MAX + 1);
    let (refused, sent) = xs("stats", |c| {
        let before = c.stats.requests;
        let refused = c.read(&long);
        Ok((refused, c.stats.requests - before))
    })?;
    check!(
        matches!(refused, Err(XsError::Wire(WireError::BadPath(_)))),
        "an over-long path gave {refused:?}"
    );
    check_eq!(sent, 0);
    Ok(())
}

const WATCHED: &str = "data/virtus-watch";
const TOKEN: &str = "virtus-test-watch";

/// Our own write fires our watch with the path; after unwatch it does not.
fn watch_fires_and_unwatch_stops() -> TestResult {
    let absolute = xs("home", |c| c.absolute(WATCHED))?;
    xs("watch", |c| c.watch(&absolute, TOKEN))?;
    // xenstored fires once on registration.
    let first = xs("wait", |c| c.wait_events(TOKEN, EVENT_WAIT_NS))?;
    check!(
        first.iter().any(|e| e.path == absolute),
        "no registration event for {absolute}: {first:?}"
    );
    xs("write", |c| c.write(WATCHED, b"1"))?;
    let fired = xs("wait", |c| c.wait_events(TOKEN, EVENT_WAIT_NS))?;
    check!(
        fired.iter().any(|e| e.path == absolute),
        "writing {absolute} did not fire the watch: {fired:?}"
    );
    xs("unwatch", |c| c.unwatch(&absolute, TOKEN))?;
    xs("write", |c| c.write(WATCHED, b"2"))?;
    let after = xs("wait", |c| c.wait_events(TOKEN, QUIET_WAIT_NS))?;
    check!(after.is_empty(), "events after unwatch: {after:?}");
    Ok(())
}

/// XS_RESET_WATCHES drops our watches in xenstored: a write no longer
/// fires them (an event for the dropped token would be counted as stray:
/// the client forgot the token too). The control and blkfront watches
/// are registered again after.
fn reset_watches() -> TestResult {
    xs("watch", |c| c.watch(WATCHED, TOKEN))?;
    let first = xs("wait", |c| c.wait_events(TOKEN, EVENT_WAIT_NS))?;
    check!(!first.is_empty(), "the watch never fired on registration");
    xs("reset", |c| c.reset_watches())?;
    let restored = xs("watch control/ again", crate::control::watch).and_then(|()| {
        xs(
            "watch the disks' backends again",
            crate::blkfront::watch_again,
        )
    });
    let stray_before = xs("counts", |c| Ok(c.event_counts().stray))?;
    xs("write", |c| c.write(WATCHED, b"3"))?;
    let after = xs("listen", |c| c.wait_events(TOKEN, QUIET_WAIT_NS))?;
    let stray = xs("counts", |c| Ok(c.event_counts().stray))? - stray_before;
    restored?;
    check!(after.is_empty(), "events after XS_RESET_WATCHES: {after:?}");
    check_eq!(stray, 0);
    Ok(())
}
