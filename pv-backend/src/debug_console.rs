//! Xen's own console, for the few messages that must get out when the PV
//! console cannot carry them: its ring is corrupt, xenconsoled stalled, or
//! there is no ring at all. Neither way in needs dom0 or shared memory:
//!
//! - `HYPERVISOR_console_io(CONSOLEIO_write, count, buffer)`
//!   (public/xen.h). Xen's default policy lets an ordinary domU use it
//!   only on a debug build of Xen (`CONFIG_VERBOSE_DEBUG`) or when the
//!   domain is the console domain; a release build says -EPERM.
//! - The HVM debug console port `XEN_HVM_DEBUGCONS_IOPORT` (0xe9,
//!   public/arch-x86/xen.h). Xen itself handles it for every HVM-container
//!   domain, PVH included, on every build, and prints each line as
//!   `(dN) text` at guest debug log level: on Xen's serial console with
//!   `guest_loglvl=all` (as the test bed runs) and in `xl dmesg`.
//!
//! Xen's console is shared by every domain and not meant for volume: this
//! is for diagnostics of the last resort only.

use crate::abi;
use crate::hypercall::{XenError, hypercall3};

/// `CONSOLEIO_write` (public/xen.h).
const CONSOLEIO_WRITE: u64 = 0;
/// `XEN_HVM_DEBUGCONS_IOPORT` (public/arch-x86/xen.h).
const XEN_HVM_DEBUGCONS_IOPORT: u16 = 0xe9;

/// Write `bytes` to Xen's console with `CONSOLEIO_write`.
pub fn console_io_write(bytes: &[u8]) -> Result<(), XenError> {
    let count = u32::try_from(bytes.len()).map_err(|_| XenError::Inval)?;
    // SAFETY: CONSOLEIO_write reads `count` bytes from `bytes`, which is
    // valid for that long, and writes nothing.
    let ret = unsafe {
        hypercall3(
            abi::HYPERVISOR_CONSOLE_IO,
            CONSOLEIO_WRITE,
            u64::from(count),
            bytes.as_ptr() as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Write `bytes` to the HVM debug console port, one byte per `out`.
pub fn debug_port_write(bytes: &[u8]) {
    let mut port = x86_64::instructions::port::PortWriteOnly::<u8>::new(XEN_HVM_DEBUGCONS_IOPORT);
    for &b in bytes {
        // SAFETY: under Xen, port 0xe9 of an HVM-container domain is Xen's
        // debug console, which only collects the byte for its log.
        unsafe { port.write(b) };
    }
}

/// Say `args` on Xen's console, as one line prefixed `virtus: `: through
/// `CONSOLEIO_write` where Xen allows it, the debug port otherwise (never
/// both, so the line is not doubled).
pub fn report(args: core::fmt::Arguments<'_>) {
    let mut buf = [0u8; 240];
    let (text, newline) = buf.split_at_mut(239);
    let len = virtus_kernel::fixed_fmt::format_into(text, format_args!("virtus: {args}")).len();
    // The newline ends Xen's line buffer even when the text was cut short.
    newline[0] = b'\n';
    buf.copy_within(239..240, len);
    let line = &buf[..=len];
    if console_io_write(line).is_err() {
        debug_port_write(line);
    }
}
