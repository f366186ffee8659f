//! `xl vcpu-set`: the toolstack's `cpu/N/availability` nodes turned into
//! the core's `sched::hotplug::request`, and the two `vcpu_op` calls that
//! stop and restart a vCPU.
//!
//! libxl (RELEASE-4.17.0, tools/libs/light): at creation
//! `libxl__build_post` writes `cpu/N/availability` for every N below
//! `maxvcpus`, "online" for the first `vcpus` and "offline" for the rest;
//! `xl vcpu-set DOM N` then rewrites them all in one transaction
//! (`libxl__set_vcpuonline_xenstore`: "online" below N, "offline" from N),
//! and for a PV or PVH domain that write is all it does: the guest takes
//! its vCPUs down and up itself. As Linux's drivers/xen/cpu_hotplug.c
//! does, watch the `cpu` directory and re-read the node a fire names. The
//! event says that something changed, not what, fires merge, and the
//! registration fire names the directory itself: then every CPU's node is
//! read. The core's request is idempotent, so a node that says what the
//! CPU already is costs one read and nothing else.
//!
//! Values come from the toolstack: only "online" and "offline" (a
//! trailing NUL allowed) and N a decimal number below the CPUs the core
//! runs; anything else is said on the console and ignored.
//!
//! Stopping is `VCPUOP_down` by the vCPU on itself (synchronous then, and
//! allowed for PVH: 4.17's HVM hypercall table passes `vcpu_op` straight
//! to `do_vcpu_op`); restarting is `VCPUOP_up` from another vCPU, after
//! which the stopped one carries on after its hypercall. Its event
//! channels (its IPI port, its timer) stay bound to it while it is down:
//! an event sent meanwhile is left pending in its `vcpu_info` (and, with
//! the per-vCPU upcall vector, in its local APIC's IRR) and arrives once
//! it runs again with interrupts on.

use alloc::string::String;

/// The directory watched, relative to the domain's home.
pub const CPU_DIR: &str = "cpu";
pub const TOKEN: &str = "virtus-cpu-hotplug";
/// Longer than any CPU number the core could run.
const MAX_DIGITS: usize = 4;

/// A value or path the toolstack should not have written (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `cpu/N/availability` value: true for "online", false for "offline".
pub fn availability(value: &[u8]) -> Result<bool, Malformed> {
    match value.strip_suffix(&[0]).unwrap_or(value) {
        b"online" => Ok(true),
        b"offline" => Ok(false),
        other => {
            let shown = String::from_utf8_lossy(&other[..other.len().min(32)]);
            Err(Malformed(alloc::format!(
                "{shown:?} is neither \"online\" nor \"offline\""
            )))
        }
    }
}

/// The CPU a watch event's `path` names: `Some(N)` for `cpu/N` and
/// anything under it, `None` for the directory itself (every CPU to be
/// read). `home` (`/local/domain/<id>`) is stripped from an absolute path.
pub fn event_cpu(path: &str, home: &str) -> Result<Option<usize>, Malformed> {
    let relative = path
        .strip_prefix(home)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path);
    let bad = || Malformed(alloc::format!("watch event for {path:?}"));
    let rest = relative.strip_prefix(CPU_DIR).ok_or_else(bad)?;
    if rest.is_empty() || rest == "/" {
        return Ok(None);
    }
    let rest = rest.strip_prefix('/').ok_or_else(bad)?;
    let number = rest.split('/').next().unwrap_or("");
    if number.is_empty() || number.len() > MAX_DIGITS || !number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Malformed(alloc::format!(
            "{path:?} does not name a CPU by number"
        )));
    }
    number.parse().map(Some).map_err(|_| bad())
}

/// The node to read for CPU `cpu`.
pub fn node(cpu: usize) -> String {
    alloc::format!("{CPU_DIR}/{cpu}/availability")
}

#[cfg(target_os = "none")]
pub use kernel::*;

#[cfg(target_os = "none")]
mod kernel {
    use super::*;
    use crate::xenstore::wire::XsErrno;
    use crate::xenstore::{XsError, with_client};
    use crate::{smp, vcpu};
    use virtus_kernel::PlatformError;
    use virtus_kernel::arch::percpu::MAX_CPUS;
    use virtus_kernel::sched::{hotplug, smp as core_smp};

    /// Watch `cpu/`. It fires at once, and the nodes libxl wrote at
    /// creation are served like any later change.
    pub fn start() -> Result<(), XsError> {
        with_client(|c| c.watch(CPU_DIR, TOKEN))
    }

    /// Read what the fired watch points at: (CPU, online) per node.
    fn wanted() -> Result<alloc::vec::Vec<(usize, bool)>, XsError> {
        with_client(|c| {
            let events = c.take_events(TOKEN)?;
            if events.is_empty() {
                return Ok(alloc::vec::Vec::new());
            }
            let home = c.home()?;
            let offered = core_smp::offered();
            let mut read = [false; MAX_CPUS];
            for event in &events {
                match event_cpu(&event.path, &home) {
                    Ok(None) => read.iter_mut().take(offered).for_each(|r| *r = true),
                    Ok(Some(cpu)) if cpu < offered => read[cpu] = true,
                    Ok(Some(_)) => virtus_kernel::kprintln!(
                        "hotplug: {}: no such CPU here ({offered} offered); ignored",
                        event.path
                    ),
                    Err(e) => virtus_kernel::kprintln!("hotplug: {e}; ignored"),
                }
            }
            let mut found = alloc::vec::Vec::new();
            for cpu in (0..offered).filter(|&cpu| read[cpu]) {
                let path = node(cpu);
                match c.read(&path) {
                    Ok(value) => match availability(&value) {
                        Ok(online) => found.push((cpu, online)),
                        Err(e) => virtus_kernel::kprintln!("hotplug: {path}: {e}; ignored"),
                    },
                    // Not written (yet): nothing asked.
                    Err(e) if e.errno() == Some(XsErrno::Enoent) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(found)
        })
    }

    /// Serve the watch, if it fired: part of `Platform::host_request`, on
    /// the main line. The core is asked outside the store's lock (it
    /// waits for the CPU).
    pub fn serve() {
        let found = match wanted() {
            Ok(found) => found,
            Err(e) => {
                log::warn!("hotplug: cannot read {CPU_DIR}/: {e}");
                return;
            }
        };
        for (cpu, online) in found {
            if let Err(e) = hotplug::request(cpu, online) {
                let asked = if online { "online" } else { "offline" };
                virtus_kernel::kprintln!("hotplug: {}: {asked} refused: {e}", node(cpu));
            }
        }
    }

    /// `Platform::stop_this_cpu`: `VCPUOP_down` on this vCPU.
    pub fn stop_this_vcpu(cpu: usize, stopping: &dyn Fn()) -> Result<(), PlatformError> {
        let vcpu = smp::vcpu_id(cpu)?;
        if vcpu == 0 {
            return Err(PlatformError::Device("vCPU 0 stays up"));
        }
        // Synchronous only on itself: another vCPU might still be running
        // when the call returned.
        if virtus_kernel::arch::percpu::current() != cpu {
            return Err(PlatformError::Device("a vCPU can only stop itself"));
        }
        stopping();
        vcpu::down(vcpu).map_err(|e| {
            log::error!("hotplug: VCPUOP_down(vCPU {vcpu}): {e}");
            PlatformError::Device("VCPUOP_down failed")
        })
    }

    /// `Platform::restart_cpu`: `VCPUOP_up`, once Xen has the vCPU down.
    /// The core asks as soon as the vCPU said it is stopping, which may be
    /// just before its `VCPUOP_down`: an up that came first would do
    /// nothing (it is up) and the down would then stop it for good.
    pub fn restart_vcpu(cpu: usize) -> Result<(), PlatformError> {
        let vcpu = smp::vcpu_id(cpu)?;
        if vcpu == 0 {
            return Err(PlatformError::Device("vCPU 0 is never down"));
        }
        if !core_smp::spin_until(2_000_000_000, || matches!(vcpu::is_up(vcpu), Ok(false))) {
            return Err(PlatformError::Device(
                "the vCPU never went down (VCPUOP_is_up)",
            ));
        }
        vcpu::up(vcpu).map_err(|e| {
            log::error!("hotplug: VCPUOP_up(vCPU {vcpu}): {e}");
            PlatformError::Device("VCPUOP_up failed")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_online_and_offline_are_values() {
        assert_eq!(availability(b"online"), Ok(true));
        assert_eq!(availability(b"offline"), Ok(false));
        assert_eq!(availability(b"online\0"), Ok(true));
        for bad in [
            &b""[..],
            b"Online",
            b"online ",
            b"1",
            b"off",
            b"offline\0\0",
        ] {
            assert!(availability(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_paths_name_a_cpu_or_the_directory() {
        let home = "/local/domain/7";
        assert_eq!(event_cpu("cpu", home), Ok(None));
        assert_eq!(event_cpu("/local/domain/7/cpu", home), Ok(None));
        assert_eq!(event_cpu("cpu/1/availability", home), Ok(Some(1)));
        assert_eq!(
            event_cpu("/local/domain/7/cpu/3/availability", home),
            Ok(Some(3))
        );
        assert_eq!(event_cpu("cpu/2", home), Ok(Some(2)));
        for bad in [
            "cpux/1/availability",
            "cpu/-1/availability",
            "cpu/+1/availability",
            "cpu/1x/availability",
            "cpu//availability",
            "cpu/99999/availability",
            "memory/target",
            "/local/domain/8/cpu/1/availability",
        ] {
            assert!(event_cpu(bad, home).is_err(), "{bad}");
        }
    }

    /// The toolstack's side against the simulated xenstored: the
    /// registration fire names the directory, a write names the node.
    #[test]
    fn the_watch_fires_for_the_directory_then_the_node() {
        use crate::xenstore::fake::connect;
        let (mut c, server) = connect(100);
        server.0.borrow_mut().dom0_write(&node(1), b"online");
        c.watch(CPU_DIR, TOKEN).unwrap();
        let events = |c: &mut crate::xenstore::conn::Conn<_, _>| {
            for _ in 0..50 {
                server.0.borrow_mut().serve();
            }
            c.take_events(TOKEN).unwrap()
        };
        let home = c.home().unwrap();
        let first = events(&mut c);
        assert_eq!(first.len(), 1);
        assert_eq!(event_cpu(&first[0].path, &home), Ok(None));
        server.0.borrow_mut().dom0_write(&node(1), b"offline");
        let fired = events(&mut c);
        assert!(
            fired
                .iter()
                .any(|e| event_cpu(&e.path, &home) == Ok(Some(1)))
        );
        assert_eq!(availability(&c.read(&node(1)).unwrap()), Ok(false));
    }
}
