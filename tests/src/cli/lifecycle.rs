//! The options of `virtus-run lifecycle`.

use clap::Args;

use crate::cli::options::{Beds, LegImages, Ramdisk};
use crate::xen::Verbosity;
use crate::xen::lifecycle::Scenario;

#[derive(Args, Clone, Debug)]
pub struct LifecycleArgs {
    /// The native column: QEMU's power button (`system_powerdown`)
    #[arg(long)]
    pub native: bool,
    /// The PVH column: `xl shutdown -w`, `xl reboot`, `xl sysrq`, a xenstore watch,
    /// `xl save`/`xl restore`, `xl save -c`, `xl migrate` to this host, `xl mem-set`,
    /// `xl vcpu-set`
    #[arg(long)]
    pub pvh: bool,
    /// The HVM column: `xl trigger power`, `xl shutdown -F`, `xl save`/`xl restore`
    #[arg(long)]
    pub hvm: bool,
    /// Only the scenarios of this name (`lc-destroy-flush`, `lc-shutdown`, ...,
    /// `lc-save-restore`, `lc-checkpoint`, `lc-migrate`, `lc-mem-set`, `lc-vcpu-set`, `power-button`
    /// for the native column); repeat for more. Default: all
    #[arg(long, value_name = "NAME")]
    pub scenario: Vec<String>,
    #[command(flatten)]
    pub images: LegImages,
    #[command(flatten)]
    pub ramdisk: Ramdisk,
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

    /// The scenarios of `column` that were asked for: all unless
    /// `--scenario` names some.
    pub fn chosen(&self, column: &[Scenario]) -> Vec<Scenario> {
        let asked =
            |s: &Scenario| self.scenario.is_empty() || self.scenario.iter().any(|n| n == s.name());
        column.iter().copied().filter(asked).collect()
    }

    /// Whether the native column's one scenario was asked for.
    pub fn runs_native(&self) -> bool {
        self.scenario.is_empty() || self.scenario.iter().any(|n| n == NATIVE_SCENARIO)
    }
}

/// The native column's scenario: QEMU's power button.
pub const NATIVE_SCENARIO: &str = "power-button";

#[cfg(test)]
mod tests {
    use super::Scenario;
    use crate::cli::{Command, parse_args, words};
    use crate::xen::GuestKind;

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

    #[test]
    fn scenarios_are_chosen_by_name_in_every_column() {
        let args = |line: &str| match parse_args(&words(line)).unwrap() {
            Command::Lifecycle(args) => args,
            other => panic!("{other:?}"),
        };
        let all = args("lifecycle");
        assert_eq!(all.chosen(&Scenario::PVH), Scenario::PVH);
        assert!(all.runs_native());
        let one = args("lifecycle --scenario lc-destroy-flush");
        assert_eq!(
            one.chosen(&Scenario::PVH),
            [Scenario::DestroyFlush(GuestKind::Pvh)]
        );
        assert_eq!(
            one.chosen(&Scenario::HVM),
            [Scenario::DestroyFlush(GuestKind::Hvm)]
        );
        assert!(!one.runs_native());
        let two = args("lifecycle --scenario power-button --scenario lc-trigger");
        assert!(two.runs_native());
        assert!(two.chosen(&Scenario::PVH).is_empty());
        assert_eq!(two.chosen(&Scenario::HVM), [Scenario::Trigger]);
    }
}
