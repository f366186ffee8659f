//! The lifecycle scenarios under Xen: a Virtus domU sits at its shell and
//! dom0 asks it, from outside, to power off (`xl shutdown -w`), to reboot
//! (`xl reboot`), to show itself and to crash (`xl sysrq`), or pokes a
//! xenstore key it watches; the unmodified native image as an HVM guest
//! gets the ACPI power button (`xl trigger power`, `xl shutdown -F`).
//! In both columns a guest with a disk writes and flushes at its shell and
//! is destroyed (`xl destroy`) the moment it says so: its image must hold
//! what it wrote.
//!
//! A scenario is a list of [`Step`]s, the one source of truth on both
//! sides: [`script`] turns it into calls of dom0's `lifecycle.sh`, which
//! runs the steps in order, stops at the first that fails and reports
//! each on the console; [`super::lifecycle_judge`] reads those reports
//! back against the same steps. Every wait in dom0 has its own deadline.

use std::time::Duration;

use super::disk_serve;
use super::guest::{Expectation, GUEST_DIR, GuestKind, GuestSpec};
use super::protocol::ShutdownReason;
use super::run::RunPlan;
use super::script::{Dom0Command, Dom0Point, Script, run_dom0};
#[path = "lifecycle_disk.rs"]
mod disk;
#[path = "lifecycle_live.rs"]
mod live;
#[path = "lifecycle_step.rs"]
mod step;
pub use disk::{FILL_SECTORS, FILL_SEED, IMAGE, expected_sums, fill_is_visible, fill_line};
pub use live::{
    BALLOON_FULL_MB, BALLOON_LOW_MB, CANCELLED, RESUMED_NEW, SUSPENDING, TICKER_DONE,
    TICKER_FAILED, TICKER_SECS,
};
pub use step::Step;

/// dom0's step functions, shipped with each run rather than baked into
/// the bed.
pub const LIBRARY: &str = include_str!("../../xen/lifecycle.sh");
const LIBRARY_PATH: &str = "/virtus-run/lifecycle.sh";

/// The line the shell prints when it is ready for input, once per boot.
pub const SHELL_READY: &str = "Virtus shell. Type 'help'.";
/// The scenarios drive the kernel's shell and its commands (the ticker,
/// the xenstore watch); with a ramdisk the kernel would start the
/// user-space shell first, which knows neither. Every lifecycle boot has
/// this on its command line.
pub const KERNEL_SHELL: &str = "init=none";
/// The user-space shell's first line, and what `hello lifecycle` typed at
/// it prints (user/sh, user/hello; the shell is pid 1, hello pid 2).
pub const USER_SHELL_READY: &str = "Virtus user shell (pid 1); 'help' for commands";
pub const USER_HELLO: &str = "hello from user space: pid 2, argv [\"hello\", \"lifecycle\"]";
pub const POWER_OFF: &str = "power: the host asks to power off; stopping";
pub const REBOOT: &str = "power: the host asks to reboot; stopping";
pub const SYSRQ_M: &str = "sysrq: m: the kernel's state";
/// A line of the `info` report that `sysrq m` prints after its own (the
/// boot log has no such line).
pub const INFO_LINE: &str = "KiB used of";
pub const SYSRQ_C: &str = "sysrq: c: crashing on purpose";
/// The crash report's first line (`!!! unhandled CPU exception 14: ...`).
pub const CRASH_REPORT: &str = "unhandled CPU exception";
/// In texts: the guest's domain id as last noted ([`Step::Domid`]).
pub const DOMID: &str = "@DOMID@";
/// In texts: the guest's name.
pub const NAME: &str = "@NAME@";

/// From `xl create` to the shell: a PVH boot takes seconds, an HVM one
/// (hvmloader, SeaBIOS) tens, both under nested TCG on a loaded host.
const BOOT_SECS: u32 = 90;
/// From a request to the guest's answer or end. The issue asks for an end
/// "within seconds"; the slack is for a loaded two-core host.
const ANSWER_SECS: u32 = 15;
/// A dom0 command that must return (`xl sysrq`, `xenstore-write`): a
/// fraction of a second when dom0 is idle, seconds while it creates a
/// domain.
const COMMAND_SECS: u32 = 20;

/// Which scenario: its name in results, and what it proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `xl shutdown -w`: the guest says why and ends with poweroff.
    Shutdown,
    /// `xl reboot`: the guest says why, the domain restarts and boots a
    /// second time, then `xl shutdown -w` ends it.
    Reboot,
    /// `reboot` typed at the shell: the restart plumbing alone (the
    /// domain comes back and boots again), then `shutdown` typed ends it.
    ShellReboot,
    /// `xl sysrq m`, then `xl sysrq c`: the state report, then a crash.
    Sysrq,
    /// `xs watch` at the shell, dom0 writes the key, a key stops it.
    XsWatch,
    /// HVM: `xl trigger power`, the ACPI power button.
    Trigger,
    /// HVM: `xl shutdown -F`, which falls back to the power button for a
    /// guest without PV drivers.
    ShutdownF,
    /// `disk fill` at the shell on the guest's disk (blkfront's `xvda` for
    /// a PVH guest, AHCI's `sda` for an HVM one), `xl destroy` the moment it
    /// says the data is written and flushed; then the image must hold it.
    DestroyFlush(GuestKind),
    /// `ticker` on the guest's disk; `xl save`, `xl restore`: the guest
    /// resumes in a new domain, its ticker ends ok, its shell answers.
    /// HVM: the unmodified image, saved without its cooperation.
    SaveRestore(GuestKind),
    /// `ticker`; `xl save -c`: the guest resumes in the same domain.
    Checkpoint,
    /// `ticker`; `xl migrate` to this host: on in a new domain.
    Migrate,
    /// `xl mem-set` down and back up: the guest's balloon lines, `xl list`.
    MemSet,
    /// `xl vcpu-set` to 1 vCPU and back to 2: the guest's lines, `xl
    /// vcpu-list`, and vCPU 1 answering a call again.
    VcpuSet,
    /// The user-space shell (`init=sh`, from the ramdisk) that `make run`
    /// lands in: a program run from it prints its line, then the host's
    /// power request (`xl shutdown` under PVH, the power button under
    /// HVM) arrives while `sh` waits for input, and ends the domain.
    UserShell(GuestKind),
}

impl Scenario {
    pub const PVH: [Self; 12] = [
        Self::Shutdown,
        Self::Reboot,
        Self::ShellReboot,
        Self::Sysrq,
        Self::XsWatch,
        Self::DestroyFlush(GuestKind::Pvh),
        Self::SaveRestore(GuestKind::Pvh),
        Self::Checkpoint,
        Self::Migrate,
        Self::MemSet,
        Self::VcpuSet,
        Self::UserShell(GuestKind::Pvh),
    ];
    pub const HVM: [Self; 5] = [
        Self::Trigger,
        Self::ShutdownF,
        Self::DestroyFlush(GuestKind::Hvm),
        Self::SaveRestore(GuestKind::Hvm),
        Self::UserShell(GuestKind::Hvm),
    ];

    /// The guest's name, which is also the scenario's.
    pub fn name(self) -> &'static str {
        match self {
            Self::Shutdown => "lc-shutdown",
            Self::Reboot => "lc-reboot",
            Self::ShellReboot => "lc-shell-reboot",
            Self::Sysrq => "lc-sysrq",
            Self::XsWatch => "lc-xs-watch",
            Self::Trigger => "lc-trigger",
            Self::ShutdownF => "lc-shutdown-f",
            Self::DestroyFlush(_) => "lc-destroy-flush",
            Self::SaveRestore(_) => "lc-save-restore",
            Self::Checkpoint => "lc-checkpoint",
            Self::Migrate => "lc-migrate",
            Self::MemSet => "lc-mem-set",
            Self::VcpuSet => "lc-vcpu-set",
            Self::UserShell(_) => "lc-user-shell",
        }
    }

    /// Whether the guest needs a test disk (`disk_serve`).
    pub fn needs_disk(self) -> bool {
        // Not the checkpoint's or the migration's: every image rides in
        // dom0's initramfs (16 MB each), and with four of them dom0's root
        // filesystem overflowed as it unpacked ("Initramfs unpacking
        // failed: write error").
        matches!(self, Self::DestroyFlush(_) | Self::SaveRestore(_))
    }

    /// A restart must boot the domain again (`on_reboot = "restart"`).
    pub fn restarts(self) -> bool {
        matches!(self, Self::Reboot | Self::ShellReboot)
    }

    /// How the domain must end, as `guest_wait` sees it: a destroyed
    /// domain has no shutdown reason (`unknown`), and the scenario's own
    /// [`Step::Destroyed`] is what proves it was destroyed.
    pub fn expectation(self) -> Expectation {
        match self {
            Self::Sysrq => Expectation::Crash,
            Self::DestroyFlush(_) => Expectation::Any,
            _ => Expectation::Poweroff,
        }
    }

    pub fn steps(self) -> Vec<Step> {
        use ShutdownReason::{Crash, Poweroff, Reboot};
        let ready = |count| Step::see(SHELL_READY, count, BOOT_SECS);
        let answer = |text: &str| Step::see(text, 1, ANSWER_SECS);
        let first = match self {
            Self::UserShell(_) => Step::see(USER_SHELL_READY, 1, BOOT_SECS),
            _ => ready(1),
        };
        let mut steps = vec![Step::Domid, first];
        steps.extend(match self {
            Self::Shutdown => vec![
                Step::run("xl shutdown -w @NAME@", false),
                answer(POWER_OFF),
                Step::gone(1, Poweroff),
            ],
            Self::Reboot => vec![
                // Like `xl shutdown`, it returns once the guest cleared
                // `control/shutdown` (its acknowledgement), or after 60 s.
                Step::run("xl reboot @NAME@", false),
                answer(REBOOT),
                Step::gone(1, Reboot),
                ready(2),
                Step::Domid,
                Step::run("xl shutdown -w @NAME@", false),
                answer(POWER_OFF),
                Step::gone(2, Poweroff),
            ],
            Self::ShellReboot => vec![
                Step::typed("reboot", true),
                Step::gone(1, Reboot),
                ready(2),
                Step::Domid,
                Step::typed("shutdown", true),
                Step::gone(2, Poweroff),
            ],
            Self::Sysrq => vec![
                Step::run("xl sysrq @NAME@ m", true),
                answer(SYSRQ_M),
                answer(INFO_LINE),
                Step::run("xl sysrq @NAME@ c", true),
                answer(SYSRQ_C),
                answer(CRASH_REPORT),
                Step::gone(1, Crash),
            ],
            Self::XsWatch => {
                let path = "/local/domain/@DOMID@/data/poke";
                let watching = format!("xs: watching {path} (press any key to stop)");
                let fired = format!("xs: watch fired: {path}");
                vec![
                    Step::typed("xs watch data/poke", true),
                    answer(&watching),
                    // xenstored fires a watch once when it is set.
                    answer(&fired),
                    Step::run(&format!("xenstore-write {path} hello"), true),
                    Step::see(&fired, 2, ANSWER_SECS),
                    Step::typed("q", false),
                    answer("xs: stopped watching"),
                    Step::typed("shutdown", true),
                    Step::gone(1, Poweroff),
                ]
            }
            Self::Trigger => vec![
                Step::run("xl trigger @NAME@ power", true),
                answer(POWER_OFF),
                Step::gone(1, Poweroff),
            ],
            Self::ShutdownF => vec![
                Step::run("xl shutdown -F -w @NAME@", false),
                answer(POWER_OFF),
                Step::gone(1, Poweroff),
            ],
            Self::SaveRestore(kind) => live::save_restore(kind),
            Self::Checkpoint => live::checkpoint(),
            Self::Migrate => live::migrate(),
            Self::MemSet => live::mem_set(),
            Self::VcpuSet => vcpu_set(),
            Self::UserShell(kind) => {
                let request = match kind {
                    GuestKind::Pvh => Step::run("xl shutdown -w @NAME@", false),
                    GuestKind::Hvm => Step::run("xl trigger @NAME@ power", true),
                };
                vec![
                    Step::typed("hello lifecycle", true),
                    answer(USER_HELLO),
                    request,
                    answer(POWER_OFF),
                    Step::gone(1, Poweroff),
                ]
            }
            Self::DestroyFlush(kind) => {
                let disk = disk_serve::kernel_name(kind);
                let (start, end) = (FILL_SECTORS.start, FILL_SECTORS.end);
                vec![
                    Step::typed(
                        &format!("disk fill {disk} {start} {} {FILL_SEED:08x}", end - start),
                        true,
                    ),
                    answer(&fill_line(disk)),
                    // At once: the line comes after the flush completed,
                    // and nothing may be lost from there.
                    Step::run("xl destroy @NAME@", true),
                    Step::Destroyed { secs: ANSWER_SECS },
                    Step::Holds {
                        path: IMAGE.into(),
                        sectors: FILL_SECTORS,
                        seed: FILL_SEED,
                    },
                ]
            }
        });
        steps
    }

    /// The longest the scenario may take in dom0: its start, every step,
    /// and the end (`guest_wait`).
    pub fn budget(self) -> Duration {
        let steps: u32 = self.steps().iter().map(Step::budget).sum();
        Duration::from_secs(u64::from(START_SECS + steps + END_SECS))
    }
}

/// The vCPUs of [`Scenario::VcpuSet`]'s guest.
pub const VCPU_SET_VCPUS: u32 = 2;

/// `xl vcpu-set` down to vCPU 0 alone and back. Each time the guest says
/// so, `xl vcpu-list` agrees, and the shell's `cpus` shows vCPU 1 out,
/// then answering a call again. Then dom0 writes what libxl never would:
/// a bad value, and a CPU the guest does not have. Raising a domain's vCPUs above the
/// host's pCPUs (one, on the bed) is refused by xl as overcommitting
/// unless `--ignore-host` (xl_vcpu.c, 4.17); it is the host's check, not
/// the guest's.
fn vcpu_set() -> Vec<Step> {
    let answer = |text: &str| Step::see(text, 1, ANSWER_SECS);
    let vcpu = |up| Step::Vcpu {
        vcpu: 1,
        up,
        secs: ANSWER_SECS,
    };
    let node = "/local/domain/@DOMID@/cpu";
    vec![
        answer("smp: 2 of 2 CPUs online"),
        vcpu(true),
        Step::run("xl vcpu-set @NAME@ 1", true),
        answer("smp: cpu 1 offline"),
        vcpu(false),
        Step::typed("cpus", true),
        answer("cpu 1: offline"),
        Step::run("xl vcpu-set --ignore-host @NAME@ 2", true),
        answer("smp: cpu 1 online again in"),
        vcpu(true),
        Step::typed("cpus", true),
        answer("cpu 1: online, answered as cpu 1 in"),
        // What the toolstack should not write is said and ignored.
        Step::run(&format!("xenstore-write {node}/1/availability bogus"), true),
        answer("hotplug: cpu/1/availability: \"bogus\" is neither"),
        Step::run(
            &format!("xenstore-write {node}/7/availability offline"),
            true,
        ),
        answer("hotplug: cpu/7/availability: no such CPU here"),
        Step::typed("shutdown", true),
        Step::gone(1, ShutdownReason::Poweroff),
    ]
}

/// How long `lc_end` gives `guest_wait` once the steps are done.
const END_SECS: u32 = 30;

/// `guest_start`'s own deadlines: 60 s for `xl create`, 10 s for the
/// console to attach.
const START_SECS: u32 = 70;

/// A scenario's guest: `base` (image, kind, memory, command line) under
/// the scenario's name, judged by its last shutdown. Its budget covers
/// every step, so the runner's deadline does too.
pub fn guest(scenario: Scenario, base: &GuestSpec) -> Result<GuestSpec, String> {
    let mut spec = GuestSpec {
        name: scenario.name().to_string(),
        expect: scenario.expectation(),
        expect_lines: Vec::new(),
        timeout: scenario.budget(),
        ..base.clone()
    };
    if scenario == Scenario::VcpuSet {
        spec.vcpus = VCPU_SET_VCPUS;
    }
    if let Scenario::UserShell(_) = scenario {
        // The last `init=` wins over the base's `init=none`.
        spec.extra = format!("{} init=sh", spec.extra);
    }
    if scenario == Scenario::MemSet && spec.memory_mb != BALLOON_FULL_MB {
        return Err(format!(
            "{}: its steps expect a {BALLOON_FULL_MB} MB guest, not {} MB",
            scenario.name(),
            spec.memory_mb
        ));
    }
    spec.xl_config()?;
    Ok(spec)
}

/// The run: dom0's library, and a script that runs the scenarios' chains
/// one after another, then `dom0`'s commands for the end (the disks'
/// checks). (All at once would save a minute, but five `xl create` at once
/// keep dom0 busy for a minute under TCG, and the times measured would be
/// dom0's load rather than the guest's answer.)
pub fn plan(scenarios: &[Scenario], dom0: &[Dom0Command]) -> Result<RunPlan, String> {
    let mut text = format!("# Written by virtus-run lifecycle.\n. {LIBRARY_PATH}\n");
    for scenario in scenarios {
        let name = scenario.name();
        let config = format!("{GUEST_DIR}/{name}.cfg");
        if scenario.restarts() {
            // Every other guest is destroyed when it reboots (a reboot
            // nobody asked for is a triple fault); this one must come back.
            text.push_str(&format!(
                "sed -i 's/^on_reboot = .*/on_reboot = \"restart\"/' {config}\n"
            ));
        }
        let mut chain = vec![format!("guest_start {name}")];
        for (index, step) in scenario.steps().iter().enumerate() {
            chain.push(step.call(index, name)?);
        }
        text.push_str(&format!(
            "{}\nlc_end {name} $? {END_SECS}\n",
            chain.join(" &&\n  ")
        ));
    }
    let mut dom0_order = Vec::new();
    run_dom0(dom0, Dom0Point::End, &mut text, &mut dom0_order)?;
    Ok(RunPlan {
        script: Some(Script { text, dom0_order }),
        files: vec![(LIBRARY_PATH.to_string(), LIBRARY.as_bytes().to_vec())],
    })
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
