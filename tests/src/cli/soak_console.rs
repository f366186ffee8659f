//! The options of `virtus-run soak-console`.

use std::time::Duration;

use clap::Args;

use crate::cli::options::{Beds, LegImages};
use crate::soak_console::SHORT_BYTES;
use crate::xen::Verbosity;

#[derive(Args, Clone, Debug)]
pub struct SoakConsoleArgs {
    /// The native column: QEMU's serial port, the runner at the other end
    #[arg(long)]
    pub native: bool,
    /// The Xen PVH column: virtus-pv's PV console ring, xenconsoled's pty
    /// read raw in dom0
    #[arg(long)]
    pub pvh: bool,
    /// The Xen HVM column: the native image's 16550, emulated by the device
    /// model in dom0, its pty read raw in dom0
    #[arg(long)]
    pub hvm: bool,
    /// Bytes each way: a number, with K or M for KiB or MiB (`64K`, `10M`)
    #[arg(long, value_name = "N", value_parser = size, default_value_t = SHORT_BYTES)]
    pub bytes: u64,
    /// The streams' seed (the guest receives the stream of its complement)
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// The time limit of each column's soak, whole seconds [default: from
    /// 240 plus both directions at 4 KiB/s, or 128 bytes/s under HVM]
    #[arg(long, value_name = "SECS", value_parser = crate::cli::options::seconds)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub images: LegImages,
    #[command(flatten)]
    pub beds: Beds,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl SoakConsoleArgs {
    /// The columns asked for (native, PVH, HVM); all three when none is.
    pub fn columns(&self) -> (bool, bool, bool) {
        if self.native || self.pvh || self.hvm {
            (self.native, self.pvh, self.hvm)
        } else {
            (true, true, true)
        }
    }
}

/// `N`, `NK` or `NM` (KiB, MiB), from 1 byte to the kernel's 1 GiB.
fn size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.strip_suffix(['K', 'k']) {
        Some(digits) => (digits, 1 << 10),
        None => match text.strip_suffix(['M', 'm']) {
            Some(digits) => (digits, 1 << 20),
            None => (text, 1),
        },
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (N, NK or NM)"))?;
    match n.checked_mul(unit) {
        Some(bytes @ 1..=0x4000_0000) => Ok(bytes),
        _ => Err(format!("`{text}`: from 1 byte to 1024M")),
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Command, mistakes, parse_args, words};

    fn parsed(line: &str) -> super::SoakConsoleArgs {
        match parse_args(&words(line)).unwrap() {
            Command::SoakConsole(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sizes_columns_and_defaults() {
        let args = parsed("soak-console");
        assert_eq!(
            (args.bytes, args.seed, args.columns()),
            (65536, 1, (true, true, true))
        );
        assert_eq!(parsed("soak-console --bytes 10M --hvm").bytes, 10 << 20);
        assert_eq!(parsed("soak-console --bytes 64k").bytes, 65536);
        assert_eq!(
            parsed("soak-console --bytes 1000 --pvh").columns(),
            (false, true, false)
        );
    }

    #[test]
    fn bad_sizes_are_refused() {
        mistakes(
            "soak-console --bytes 0 => ValueValidation: from 1 byte\n\
             soak-console --bytes 2048M => ValueValidation: from 1 byte\n\
             soak-console --bytes 10G => ValueValidation: not a size",
        );
    }
}
