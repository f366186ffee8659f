//! `virtus-run bench` options: parsed, they are the request the bench runs.

use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValuesParser, RangedI64ValueParser};

use crate::cli::options::{Beds, LegImages, Ramdisk};
use crate::workspace;
use crate::xen::Verbosity;

/// `hvm` and `pvh` are the two Xen columns (`xen` is both); `smp` the
/// three columns again with 2 and with 4 CPUs, `smp_` benchmarks only;
/// `floor` is the memory bisection; `live` the save, restore, checkpoint,
/// migration and balloon figures of `virtus-run lifecycle`'s PVH live
/// scenarios.
pub const PARTS: [&str; 8] = [
    "native", "hvm", "pvh", "smp", "boot", "floor", "density", "live",
];

/// What `virtus-run bench` was asked to do.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct BenchRequest {
    /// Density with 4 guests only (default 8, 16, 32), and 2 runs of each
    /// column and boot (default 3)
    #[arg(long)]
    pub quick: bool,
    /// Runs of each column and boot, 1 to 20, for the spread of every
    /// figure [default: 3, with --quick 2]
    #[arg(long, value_name = "N", value_parser = RangedI64ValueParser::<usize>::new().range(1..=20),
          default_value = "3", default_value_if("quick", "true", "2"),
          hide_default_value = true)]
    pub repeat: usize,
    /// The density steps: how many guests at once, 1 to 64 each [default:
    /// 8,16,32, with --quick 4]
    #[arg(long, value_name = "N,N...", value_delimiter = ',',
          value_parser = RangedI64ValueParser::<usize>::new().range(1..=64),
          default_value = "8,16,32", default_value_if("quick", "true", "4"),
          hide_default_value = true)]
    pub density: Vec<usize>,
    /// Run only some parts, for development (a partial report: use --out
    /// elsewhere than bench/); xen is hvm and pvh, floor the memory
    /// bisection
    #[arg(long = "only", value_name = "PART,...", value_delimiter = ',',
          value_parser = PossibleValuesParser::new(PARTS.into_iter().chain(["xen"])))]
    pub parts: Vec<String>,
    /// Run only the kernel benchmarks whose names contain FILTER in the
    /// three columns (`bench=FILTER`; e.g. `block_`), for development
    #[arg(long = "benches", value_name = "FILTER", default_value = "all",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub benches: String,
    /// CPUs of the three columns (`-smp` natively, `vcpus` under Xen), 1
    /// to 8; the smp_ benchmarks run only with 2 or more (e.g. `--cpus 2
    /// --benches smp --only native,xen --out /tmp/smp2`)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=8))]
    pub cpus: u32,
    // `--image` is the native image, as for the other commands.
    #[command(flatten)]
    pub images: LegImages,
    // The ramdisk of the three columns and the live part; the boot, floor
    // and density parts boot without one: they measure the kernel's own
    // footprint.
    #[command(flatten)]
    pub ramdisk: Ramdisk,
    /// Where report.md, report.json and the charts go
    #[arg(long = "out", value_name = "DIR", default_value_os_t = workspace().join("bench"))]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub beds: Beds,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl BenchRequest {
    /// `--only` as the parts to run, in [`PARTS`]' order whatever the
    /// order asked, `xen` as both Xen columns, all of them by default.
    pub fn in_order(mut self) -> Self {
        let asked = |part: &str| {
            let xen = part == "hvm" || part == "pvh";
            let only = &self.parts;
            only.is_empty() || only.iter().any(|o| o == part || (xen && o == "xen"))
        };
        let parts = PARTS.into_iter().filter(|part| asked(part));
        self.parts = parts.map(String::from).collect();
        self
    }

    pub fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    /// The request of the `smp` part with `cpus` CPUs: the three columns,
    /// the `smp_` benchmarks only, as often as the others.
    pub fn smp(&self, cpus: u32) -> Self {
        Self {
            parts: ["native", "hvm", "pvh"].map(String::from).to_vec(),
            benches: "smp_".into(),
            cpus,
            ..self.clone()
        }
    }

    /// The kernel command line of a column's run: `bench=<filter>`.
    pub fn bench_cmdline(&self) -> String {
        format!("bench={}", self.benches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::options::built;
    use crate::cli::{Command, mistakes, parse_args, words};
    use crate::xen::Verbosity;

    fn parse_ok(line: &str) -> BenchRequest {
        match parse_args(&words(line)) {
            Ok(Command::Bench(request)) => request.in_order(),
            other => panic!("{line} parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_sit_next_to_the_native_image() {
        let r = parse_ok("bench");
        assert_eq!(r.images.native_image, built("virtus-native"));
        assert_eq!(r.images.hvm_image, built("virtus-native.elf32"));
        assert_eq!(r.images.pv_image, built("virtus-pv"));
        assert_eq!(r.out_dir, workspace().join("bench"));
        assert_eq!(r.bench_cmdline(), "bench=all");
        assert_eq!((r.density, r.repeat, r.quick), (vec![8, 16, 32], 3, false));
        assert_eq!(
            (r.parts, r.beds.bed, r.beds.hvm_bed),
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
        let narrow = parse_ok("bench --benches block_ --only native");
        assert_eq!(narrow.bench_cmdline(), "bench=block_");
        let smp = parse_ok("bench --only smp --repeat 2");
        assert_eq!(smp.parts, ["smp"]);
        let four = smp.smp(4);
        assert_eq!(four.bench_cmdline(), "bench=smp_");
        assert_eq!(
            (four.parts, four.cpus, four.repeat),
            (vec!["native".to_string(), "hvm".into(), "pvh".into()], 4, 2)
        );
        let only = parse_ok("bench --only=boot,density");
        assert!(only.runs("boot") && only.runs("density") && !only.runs("native"));
        let parts = parse_ok("bench --only xen,pvh,floor").parts;
        assert_eq!(parts, ["hvm", "pvh", "floor"]);
        // In the order of the report, whatever the order asked.
        assert_eq!(parse_ok("bench --only floor,boot").parts, ["boot", "floor"]);
        let r = parse_ok("bench --image=/n --hvm-image /h --pv-image=/p --bed=/b --hvm-bed /hb");
        let images = ["/n", "/h", "/p"].map(PathBuf::from);
        assert_eq!(
            [
                &r.images.native_image,
                &r.images.hvm_image,
                &r.images.pv_image
            ],
            images.each_ref()
        );
        assert_eq!(
            (r.beds.bed, r.beds.hvm_bed),
            (Some("/b".into()), Some("/hb".into()))
        );
        let r = parse_ok("bench --native-image /n2 --verbose");
        assert_eq!(
            (&*r.images.native_image, r.verbosity),
            ("/n2".as_ref(), Verbosity::Verbose)
        );
    }

    #[test]
    fn mistakes_are_explained() {
        mistakes(
            "\
bench --frob => UnknownArgument: '--frob'
bench --out => InvalidValue: '--out <DIR>'
bench --density 0 => ValueValidation: '0'
bench --density 8,x => ValueValidation: 'x'
bench --only boot,nap => InvalidValue: 'nap'
bench --only nap => InvalidValue: live, xen
bench --repeat 0 => ValueValidation: '0'
bench --repeat 21 => ValueValidation: 1..=20
bench --benches => InvalidValue: '--benches <FILTER>'",
        );
    }
}
