//! `virtus-run bench` options.

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValuesParser;

use crate::cli::options::{Beds, LegImages, VerbosityArgs};
use crate::workspace;
use crate::xen::Verbosity;

/// What `virtus-run bench` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchRequest {
    /// Density with N=4 only, and [`QUICK_REPEAT`] runs.
    pub quick: bool,
    /// How many times each column and each boot is run.
    pub repeat: usize,
    pub native_image: PathBuf,
    pub hvm_image: PathBuf,
    pub pv_image: PathBuf,
    /// Where report.md, report.json and the charts go.
    pub out_dir: PathBuf,
    pub bed: Option<PathBuf>,
    pub hvm_bed: Option<PathBuf>,
    pub verbosity: Verbosity,
    /// Density steps (guests at once).
    pub density: Vec<usize>,
    /// The parts to run (all by default), among [`PARTS`]. A partial run
    /// writes a partial report.
    pub parts: Vec<String>,
}

/// `hvm` and `pvh` are the two Xen columns (`xen` is both); `floor` is the
/// memory bisection.
pub const PARTS: [&str; 6] = ["native", "hvm", "pvh", "boot", "floor", "density"];

pub const REPEAT: usize = 3;
pub const QUICK_REPEAT: usize = 2;

impl BenchRequest {
    pub fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

pub const FULL_DENSITY: [usize; 3] = [8, 16, 32];
pub const QUICK_DENSITY: [usize; 1] = [4];

/// The options of `bench`.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Density with 4 guests only (default 8, 16, 32), and 2 runs of each
    /// column and boot (default 3)
    #[arg(long)]
    pub quick: bool,
    /// Runs of each column and boot, 1 to 20, for the spread of every
    /// figure [default: 3, with --quick 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=20))]
    pub repeat: Option<u8>,
    /// The density steps: how many guests at once, 1 to 64 each [default:
    /// 8,16,32, with --quick 4]
    #[arg(long, value_name = "N,N...", value_delimiter = ',',
          value_parser = clap::value_parser!(u8).range(1..=64))]
    pub density: Option<Vec<u8>>,
    /// Run only some parts, for development (a partial report: use --out
    /// elsewhere than bench/); xen is hvm and pvh, floor the memory
    /// bisection
    #[arg(long, value_name = "PART,...", value_delimiter = ',',
          value_parser = PossibleValuesParser::new(PARTS.into_iter().chain(["xen"])))]
    pub only: Vec<String>,
    // `--image` is the native image, as for the other commands.
    #[command(flatten)]
    pub images: LegImages,
    /// Where report.md, report.json and the charts go
    #[arg(long, value_name = "DIR", default_value_os_t = workspace().join("bench"))]
    pub out: PathBuf,
    #[command(flatten)]
    pub beds: Beds,
    #[command(flatten)]
    pub verbosity: VerbosityArgs,
}

impl BenchArgs {
    pub fn request(self) -> BenchRequest {
        // In PARTS' order; `xen` is both Xen columns.
        let asked = |part: &str| {
            let xen = part == "hvm" || part == "pvh";
            self.only
                .iter()
                .any(|only| only == part || (xen && only == "xen"))
        };
        let parts = PARTS
            .iter()
            .filter(|part| self.only.is_empty() || asked(part));
        let density = match (self.density, self.quick) {
            (Some(steps), _) => steps.into_iter().map(usize::from).collect(),
            (None, true) => QUICK_DENSITY.to_vec(),
            (None, false) => FULL_DENSITY.to_vec(),
        };
        let default_repeat = if self.quick { QUICK_REPEAT } else { REPEAT };
        BenchRequest {
            quick: self.quick,
            repeat: self.repeat.map_or(default_repeat, usize::from),
            native_image: self.images.native_image,
            hvm_image: self.images.hvm_image,
            pv_image: self.images.pv_image,
            out_dir: self.out,
            bed: self.beds.bed.bed,
            hvm_bed: self.beds.hvm_bed,
            verbosity: self.verbosity.level(),
            density,
            parts: parts.map(ToString::to_string).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;
    use crate::cli::options::build_dir;
    use crate::cli::{Command, mistake, parse_args, words};

    fn parse_ok(line: &str) -> BenchRequest {
        match parse_args(&words(line)) {
            Ok(Command::Bench(args)) => args.request(),
            other => panic!("{line} parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_sit_next_to_the_native_image() {
        let r = parse_ok("bench");
        assert_eq!(r.native_image, build_dir().join("virtus-native"));
        assert_eq!(r.hvm_image, build_dir().join("virtus-native.elf32"));
        assert_eq!(r.pv_image, build_dir().join("virtus-pv"));
        assert_eq!(r.out_dir, workspace().join("bench"));
        assert_eq!((r.density, r.repeat, r.quick), (vec![8, 16, 32], 3, false));
        assert_eq!(
            (r.parts, r.bed, r.hvm_bed),
            (PARTS.map(String::from).to_vec(), None, None)
        );
    }

    #[test]
    fn every_option() {
        let r = parse_ok("bench --quick --out=/o --quiet");
        assert_eq!((r.density, r.repeat), (vec![4], 2));
        assert_eq!((r.out_dir, r.verbosity), ("/o".into(), Verbosity::Quiet));
        assert_eq!(parse_ok("bench --quick --repeat=5").repeat, 5);
        assert_eq!(parse_ok("bench --density 2,3").density, [2, 3]);
        let only = parse_ok("bench --only=boot,density");
        assert!(only.runs("boot") && only.runs("density") && !only.runs("native"));
        let parts = parse_ok("bench --only xen,pvh,floor").parts;
        assert_eq!(parts, ["hvm", "pvh", "floor"]);
        // In the order of the report, whatever the order asked.
        assert_eq!(parse_ok("bench --only floor,boot").parts, ["boot", "floor"]);
        let r = parse_ok("bench --image=/n --hvm-image /h --pv-image=/p --bed=/b --hvm-bed /hb");
        assert_eq!(
            (r.native_image, r.hvm_image, r.pv_image),
            ("/n".into(), "/h".into(), "/p".into())
        );
        assert_eq!((r.bed, r.hvm_bed), (Some("/b".into()), Some("/hb".into())));
        let r = parse_ok("bench --native-image /n2 --verbose");
        assert_eq!(
            (r.native_image, r.verbosity),
            ("/n2".into(), Verbosity::Verbose)
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let error = |line: &str, kind| mistake(&words(line), kind);
        error("bench --frob", ErrorKind::UnknownArgument);
        error("bench --out", ErrorKind::InvalidValue);
        assert!(error("bench --density 0", ErrorKind::ValueValidation).contains("'0'"));
        assert!(error("bench --density 8,x", ErrorKind::ValueValidation).contains("'x'"));
        let message = error("bench --only boot,nap", ErrorKind::InvalidValue);
        assert!(
            message.contains("'nap'") && message.contains("density, xen"),
            "{message}"
        );
        assert!(error("bench --repeat 0", ErrorKind::ValueValidation).contains("'0'"));
        assert!(error("bench --repeat 21", ErrorKind::ValueValidation).contains("1..=20"));
    }
}
