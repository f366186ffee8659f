//! The machines the whole suite must pass on, and how the suite is run.

use std::time::Duration;

use crate::qemu::MachineConfig;

/// Kernel command line for a full suite run.
pub const SUITE_CMDLINE: &str = "test=all loglevel=info";

/// Budget for one full suite run under TCG, boot to shutdown. Generous: a
/// run that needs it is stuck, and the verdict names the test it was in.
pub const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Every configuration, the reference machine first (`--quick` runs only
/// that one). Each differs from the reference in what the kernel has to
/// discover rather than assume.
pub fn matrix() -> Vec<MachineConfig> {
    vec![
        // Reference: modern chipset, every CPU feature TCG offers.
        MachineConfig::new("q35", "max", "128M"),
        // Legacy i440FX chipset and a baseline CPU: no x2APIC, no
        // TSC-deadline timer, and little memory for the frame allocator.
        MachineConfig::new("pc", "qemu64", "32M"),
        // Baseline CPU asking for x2APIC alone. (TCG in QEMU < 8 cannot
        // provide it and drops the flag with a warning on the console.)
        MachineConfig::new("q35", "qemu64,+x2apic", "512M"),
        // Enough RAM for the PCI hole to split it around 4 GiB.
        MachineConfig::new("pc", "max", "4G"),
        // Most memory above 4 GiB: the memory map's high regions.
        MachineConfig::new("q35", "max", "6G"),
        // Four CPUs on the legacy chipset with an xAPIC and little memory:
        // the MADT of i440FX, the ICR's two-write protocol, and four APs'
        // stacks out of 32 MB. (The reference machine runs with 2 and 4
        // CPUs in `legs --cpus`.)
        MachineConfig::new("pc", "qemu64", "32M").with_cpus(4),
    ]
}

/// The configurations a suite run covers.
pub fn configurations(quick: bool) -> Vec<MachineConfig> {
    let mut all = matrix();
    if quick {
        all.truncate(1);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_runs_the_reference_machine_only() {
        let reference = MachineConfig::new("q35", "max", "128M");
        assert_eq!(configurations(true), [reference]);
        assert_eq!(configurations(false).len(), 6);
    }

    #[test]
    fn labels_are_unique() {
        let labels: std::collections::BTreeSet<String> =
            matrix().iter().map(ToString::to_string).collect();
        assert_eq!(labels.len(), matrix().len());
    }
}
