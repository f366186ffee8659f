//! The ACPI power button, as the fixed feature in the PM1 event registers:
//! how QEMU's `system_powerdown` and Xen's `xl trigger <dom> power` (and
//! `xl shutdown -F` of an HVM guest without PV drivers) ask the machine to
//! power off.
//!
//! Pressing the button sets PWRBTN_STS in PM1_STS; with PWRBTN_EN set in
//! PM1_EN that raises the SCI, a level-triggered interrupt the chipset keeps
//! asserted until the status bit is cleared (by writing 1 to it). The SCI
//! is shared by every ACPI event (the other fixed events, the GPEs), so the
//! handler serves only what Virtus enabled, turns off whatever else it finds
//! enabled and firing, and counts the rest as spurious.
//!
//! The handler runs in interrupt context and only notes the press; the
//! platform's `host_request` hands it to the core on the main line, once.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::acpi::{AcpiError, AcpiInfo, AcpiModeSwitch, GpeBlock, Pm1EventBlocks};
use crate::pit::busy_wait_us;
use crate::port::{Port8, Port16};

/// PWRBTN_STS in PM1_STS and PWRBTN_EN in PM1_EN.
pub const PWRBTN: u16 = 1 << 8;
/// Every status bit PM1_STS defines: TMR (0), BM (4), GBL (5), PWRBTN (8),
/// SLPBTN (9), RTC (10), WAK (15). Reserved bits are written as 0.
const PM1_ALL_STATUS: u16 = 1 | 1 << 4 | 1 << 5 | PWRBTN | 1 << 9 | 1 << 10 | 1 << 15;
/// PM1_CNT SCI_EN: the machine is in ACPI mode (events raise the SCI rather
/// than an SMI to the firmware).
pub const SCI_EN: u16 = 1 << 0;
/// How long the firmware gets to enter ACPI mode after ACPI_ENABLE.
const ACPI_MODE_TIMEOUT_US: u32 = 1_000_000;
/// SCIs in a row with nothing to serve after which the SCI is masked: a
/// level-triggered source this driver cannot clear would otherwise take
/// every cycle of the CPU.
pub const SPURIOUS_STORM: u32 = 1000;

/// What one SCI found in PM1_STS and PM1_EN, and what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pm1Action {
    /// PWRBTN_STS with PWRBTN_EN: the button was pressed.
    pub pressed: bool,
    /// Status bits to write back to clear them (write 1 to clear; 0 leaves
    /// a bit alone).
    pub clear: u16,
    /// Enabled and firing events other than the button: Virtus did not
    /// enable them and cannot serve them, so they are disabled too, or
    /// their level-triggered SCI would never end.
    pub foreign: u16,
}

/// Decide what to do about PM1_STS `status` and PM1_EN `enable`. Status
/// bits whose enable bit is clear do not raise the SCI and are left alone.
pub fn decide(status: u16, enable: u16) -> Pm1Action {
    let firing = status & enable;
    Pm1Action {
        pressed: firing & PWRBTN != 0,
        clear: firing,
        foreign: firing & !PWRBTN,
    }
}

/// What one SCI turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SciOutcome {
    /// The power button (perhaps with other events).
    Pressed,
    /// Only events Virtus does not serve, now disabled.
    Foreign,
    /// Nothing enabled was pending. `storm` once [`SPURIOUS_STORM`] came in
    /// a row: the caller should mask the SCI.
    Spurious { storm: bool },
}

/// How the machine came to be in ACPI mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiMode {
    /// SCI_EN was already set (by the firmware, or the chipset has no
    /// legacy mode).
    AlreadyOn,
    /// SCI_EN was clear: ACPI_ENABLE was written to SMI_CMD, as an OS does.
    Switched(AcpiModeSwitch),
    /// SCI_EN reads clear but the FADT names no SMI_CMD, which means the
    /// machine has no legacy mode to leave (ACPI spec 5.2.9); going on.
    ClearWithoutLegacyMode,
}

/// Why the power button cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonError {
    /// Hardware-reduced ACPI: no PM1 registers; the button would be a
    /// Generic Event Device, which needs AML.
    HardwareReduced,
    /// FADT PWR_BUTTON: the button is a control-method device, signalled
    /// through a GPE and AML `Notify`; Virtus has no AML interpreter.
    ControlMethod,
    /// The FADT gives no usable PM1 event block (or control block).
    Tables(AcpiError),
    /// ACPI_ENABLE was written to SMI_CMD and SCI_EN stayed clear.
    AcpiModeRefused(AcpiModeSwitch),
}

impl fmt::Display for ButtonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HardwareReduced => {
                write!(f, "hardware-reduced ACPI (the button is an AML device)")
            }
            Self::ControlMethod => write!(
                f,
                "the FADT makes it a control-method device (PWR_BUTTON), \
                 which needs an AML interpreter"
            ),
            Self::Tables(e) => write!(f, "{e}"),
            Self::AcpiModeRefused(m) => write!(
                f,
                "SCI_EN stayed clear after ACPI_ENABLE {:#x} to SMI_CMD {:#x}",
                m.acpi_enable, m.smi_command
            ),
        }
    }
}

/// The PM1 event registers and the GPE blocks that share the SCI.
///
/// Only [`PowerButton::take_over`] makes one, from an [`AcpiInfo`], which
/// only `acpi::discover` makes: so every port in it is one the firmware's
/// FADT names for exactly this use.
#[derive(Debug)]
pub struct PowerButton {
    pm1: Pm1EventBlocks,
    gpe: [Option<GpeBlock>; 2],
    mode: AcpiMode,
}

fn port16(port: u16) -> Port16 {
    // SAFETY: only called with ports of a `PowerButton`, which come from the
    // validated FADT's PM1 event and control blocks (see `PowerButton`).
    unsafe { Port16::new(port) }
}

fn port8(port: u16) -> Port8 {
    // SAFETY: only called with the FADT's GPE block ports and SMI_CMD (see
    // `PowerButton`), which exist to be accessed this way.
    unsafe { Port8::new(port) }
}

/// PM1_CNT (SCI_EN is bit 0), PM1a and PM1b ORed.
fn pm1_control(info: &AcpiInfo) -> Result<u16, ButtonError> {
    let pm1a = info
        .pm1a_control()
        .ok_or(ButtonError::Tables(AcpiError::MissingField {
            table: crate::acpi::Signature::FADT,
            field: "PM1a_CNT_BLK",
        }))?;
    let b = info.pm1b_control().map_or(0, |p| port16(p).read());
    Ok(port16(pm1a).read() | b)
}

impl PowerButton {
    /// Take the ACPI events over from the firmware: enter ACPI mode if the
    /// machine is not in it, then disable and clear every fixed event and
    /// every GPE, so that nothing Virtus does not serve raises the SCI.
    /// The button itself is not enabled yet: route the SCI first, then
    /// [`PowerButton::arm`].
    pub fn take_over(info: &AcpiInfo) -> Result<Self, ButtonError> {
        if info.hardware_reduced() {
            return Err(ButtonError::HardwareReduced);
        }
        if info.power_button_is_control_method() {
            return Err(ButtonError::ControlMethod);
        }
        let pm1 = info.pm1_events().map_err(ButtonError::Tables)?;
        let mode = if pm1_control(info)? & SCI_EN != 0 {
            AcpiMode::AlreadyOn
        } else if let Some(switch) = info.acpi_mode_switch() {
            port8(switch.smi_command).write(switch.acpi_enable);
            let mut waited = 0;
            while pm1_control(info)? & SCI_EN == 0 {
                if waited >= ACPI_MODE_TIMEOUT_US {
                    return Err(ButtonError::AcpiModeRefused(switch));
                }
                busy_wait_us(1000);
                waited += 1000;
            }
            AcpiMode::Switched(switch)
        } else {
            AcpiMode::ClearWithoutLegacyMode
        };
        let mut gpe = [None; 2];
        gpe.iter_mut()
            .zip(info.gpe_blocks())
            .for_each(|(slot, block)| *slot = Some(block));
        let button = Self { pm1, gpe, mode };
        button.write_enable(0);
        button.write_status(PM1_ALL_STATUS);
        for (status, enable) in button.gpe_pairs() {
            port8(enable).write(0);
            port8(status).write(0xff);
        }
        Ok(button)
    }

    /// Enable the button: clear a stale PWRBTN_STS (a press before Virtus
    /// listened), then set PWRBTN_EN.
    pub fn arm(&self) {
        self.write_status(PWRBTN);
        self.write_enable(self.enable() | PWRBTN);
    }

    pub fn mode(&self) -> AcpiMode {
        self.mode
    }

    pub fn pm1(&self) -> Pm1EventBlocks {
        self.pm1
    }

    /// PM1_STS as the hardware has it.
    pub fn status(&self) -> u16 {
        self.pm1.status_ports().fold(0, |v, p| v | port16(p).read())
    }

    /// PM1_EN as the hardware has it.
    pub fn enable(&self) -> u16 {
        self.pm1.enable_ports().fold(0, |v, p| v | port16(p).read())
    }

    fn write_status(&self, clear: u16) {
        self.pm1.status_ports().for_each(|p| port16(p).write(clear));
    }

    fn write_enable(&self, value: u16) {
        self.pm1.enable_ports().for_each(|p| port16(p).write(value));
    }

    fn gpe_pairs(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.gpe.iter().flatten().flat_map(GpeBlock::register_pairs)
    }

    /// Serve one SCI (interrupt context): clear and note a press, disable
    /// any other event found enabled and firing (fixed or GPE), and tell
    /// what it was. Lock-free: port I/O and atomics only.
    pub fn on_sci(&self) -> SciOutcome {
        let action = decide(self.status(), self.enable());
        if action.foreign != 0 {
            self.write_enable(self.enable() & !action.foreign);
        }
        if action.clear != 0 {
            self.write_status(action.clear);
        }
        let mut foreign = action.foreign.count_ones();
        for (status, enable) in self.gpe_pairs() {
            let (status, enable) = (port8(status), port8(enable));
            let firing = status.read() & enable.read();
            if firing != 0 {
                enable.write(enable.read() & !firing);
                status.write(firing);
                foreign += firing.count_ones();
            }
        }
        STATS.foreign.fetch_add(foreign.into(), Ordering::Relaxed);
        if action.pressed {
            STATS.presses.fetch_add(1, Ordering::Relaxed);
            PRESSED.store(true, Ordering::Release);
        }
        if action.pressed || foreign != 0 {
            STATS.in_a_row.store(0, Ordering::Relaxed);
            return if action.pressed {
                SciOutcome::Pressed
            } else {
                SciOutcome::Foreign
            };
        }
        spurious()
    }
}

/// Count an SCI with nothing to serve; report a storm once, at the
/// [`SPURIOUS_STORM`]th in a row.
pub fn spurious() -> SciOutcome {
    STATS.spurious.fetch_add(1, Ordering::Relaxed);
    let in_a_row = STATS.in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
    SciOutcome::Spurious {
        storm: in_a_row == SPURIOUS_STORM,
    }
}

/// A press not yet handed to the core.
static PRESSED: AtomicBool = AtomicBool::new(false);

struct Counters {
    presses: AtomicU64,
    foreign: AtomicU64,
    spurious: AtomicU64,
    in_a_row: AtomicU32,
}

static STATS: Counters = Counters {
    presses: AtomicU64::new(0),
    foreign: AtomicU64::new(0),
    spurious: AtomicU64::new(0),
    in_a_row: AtomicU32::new(0),
};

/// SCIs since boot, by what they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    pub presses: u64,
    /// Events other than the button found enabled and firing (and disabled).
    pub foreign: u64,
    pub spurious: u64,
}

pub fn stats() -> Stats {
    Stats {
        presses: STATS.presses.load(Ordering::Relaxed),
        foreign: STATS.foreign.load(Ordering::Relaxed),
        spurious: STATS.spurious.load(Ordering::Relaxed),
    }
}

/// Take the press the SCI noted, if any: each press is handed out once.
pub fn take_press() -> bool {
    PRESSED.swap(false, Ordering::AcqRel)
}

/// Whether a press waits to be taken (without taking it).
pub fn press_pending() -> bool {
    PRESSED.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_press_is_cleared_and_nothing_else_touched() {
        // TMR_STS (bit 0) and WAK_STS (bit 15) set but not enabled: they
        // raise no SCI and are left as they are.
        let action = decide(PWRBTN | 1 | 1 << 15, PWRBTN);
        assert_eq!(
            action,
            Pm1Action {
                pressed: true,
                clear: PWRBTN,
                foreign: 0
            }
        );
    }

    #[test]
    fn a_status_without_its_enable_is_no_press() {
        assert_eq!(decide(PWRBTN, 0), decide(0, 0));
        assert!(!decide(PWRBTN, 0).pressed);
        assert_eq!(decide(PWRBTN, 0).clear, 0);
    }

    #[test]
    fn events_someone_else_enabled_are_disabled_and_cleared() {
        // RTC_STS (bit 10) and GBL_STS (bit 5) enabled and firing beside a
        // press; SLPBTN_STS (bit 9) firing alone.
        let both = decide(PWRBTN | 1 << 10 | 1 << 5, PWRBTN | 1 << 10 | 1 << 5);
        assert!(both.pressed);
        assert_eq!(both.foreign, 1 << 10 | 1 << 5);
        assert_eq!(both.clear, PWRBTN | 1 << 10 | 1 << 5);
        let alone = decide(1 << 9, PWRBTN | 1 << 9);
        assert!(!alone.pressed);
        assert_eq!((alone.clear, alone.foreign), (1 << 9, 1 << 9));
    }

    #[test]
    fn only_the_storm_threshold_reports_a_storm() {
        // The counters are global: run the whole sequence in one test.
        STATS.in_a_row.store(0, Ordering::Relaxed);
        let outcomes: Vec<_> = (0..SPURIOUS_STORM + 5).map(|_| spurious()).collect();
        let storms: Vec<_> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| **o == SciOutcome::Spurious { storm: true })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(storms, [SPURIOUS_STORM as usize - 1]);
    }

    #[test]
    fn a_press_is_taken_once() {
        PRESSED.store(true, Ordering::Release);
        assert!(press_pending());
        assert!(take_press());
        assert!(!take_press());
        assert!(!press_pending());
    }
}
