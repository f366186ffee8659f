//! The options of `virtus-run lifecycle`.

use clap::Args;

use crate::cli::options::{Beds, LegImages};
use crate::xen::Verbosity;

#[derive(Args, Clone, Debug)]
pub struct LifecycleArgs {
    /// The native column: QEMU's power button (`system_powerdown`)
    #[arg(long)]
    pub native: bool,
    /// The PVH column: `xl shutdown -w`, `xl reboot`, `xl sysrq`, a xenstore watch
    #[arg(long)]
    pub pvh: bool,
    /// The HVM column: `xl trigger power` and `xl shutdown -F`
    #[arg(long)]
    pub hvm: bool,
    #[command(flatten)]
    pub images: LegImages,
    #[command(flatten)]
    pub beds: Beds,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl LifecycleArgs {
    /// The columns asked for (native, PVH, HVM); all three when none is.
    pub fn columns(&self) -> (bool, bool, bool) {
        if self.native || self.pvh || self.hvm {
            (self.native, self.pvh, self.hvm)
        } else {
            (true, true, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Command, parse_args, words};

    fn columns(line: &str) -> (bool, bool, bool) {
        match parse_args(&words(line)).unwrap() {
            Command::Lifecycle(args) => args.columns(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_column_unless_some_are_named() {
        assert_eq!(columns("lifecycle"), (true, true, true));
        assert_eq!(columns("lifecycle --native"), (true, false, false));
        assert_eq!(
            columns("lifecycle --pvh --hvm --quiet"),
            (false, true, true)
        );
        assert!(parse_args(&words("lifecycle --quiet --verbose")).is_err());
    }
}
