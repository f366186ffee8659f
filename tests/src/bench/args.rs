//! `virtus-run bench` options.

use std::path::{Path, PathBuf};

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

/// Parses the arguments after `bench`; `Ok(None)` asks for help.
/// `native_default` is the native image; the others default next to it.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    native_default: PathBuf,
    workspace: &Path,
) -> Result<Option<BenchRequest>, String> {
    let dir = native_default
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut request = BenchRequest {
        quick: false,
        repeat: REPEAT,
        hvm_image: PathBuf::from(format!("{}.elf32", native_default.display())),
        native_image: native_default,
        pv_image: dir.join("virtus-pv"),
        out_dir: workspace.join("bench"),
        bed: None,
        hvm_bed: None,
        verbosity: Verbosity::Normal,
        density: FULL_DENSITY.to_vec(),
        parts: PARTS.iter().map(ToString::to_string).collect(),
    };
    let mut density = None;
    let mut repeat = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => request.quick = true,
            "--quiet" => request.verbosity = Verbosity::Quiet,
            "--verbose" => request.verbosity = Verbosity::Verbose,
            "--native-image" | "--image" => request.native_image = PathBuf::from(value()?),
            "--hvm-image" => request.hvm_image = PathBuf::from(value()?),
            "--pv-image" => request.pv_image = PathBuf::from(value()?),
            "--out" => request.out_dir = PathBuf::from(value()?),
            "--bed" => request.bed = Some(PathBuf::from(value()?)),
            "--hvm-bed" => request.hvm_bed = Some(PathBuf::from(value()?)),
            "--density" => {
                let text = value()?;
                let steps: Result<Vec<usize>, _> = text.split(',').map(str::parse).collect();
                match steps {
                    Ok(steps)
                        if !steps.is_empty() && steps.iter().all(|n| (1..=64).contains(n)) =>
                    {
                        density = Some(steps);
                    }
                    _ => {
                        return Err(format!(
                            "--density wants guest counts 1..64 separated by commas, not `{text}`"
                        ));
                    }
                }
            }
            "--repeat" => {
                let text = value()?;
                match text.parse::<usize>() {
                    Ok(n) if (1..=20).contains(&n) => repeat = Some(n),
                    _ => return Err(format!("--repeat wants a count 1..20, not `{text}`")),
                }
            }
            "--only" => {
                let text = value()?;
                let mut parts: Vec<String> = Vec::new();
                for part in text.split(',') {
                    let names: &[&str] = if part == "xen" {
                        &["hvm", "pvh"]
                    } else {
                        &[part]
                    };
                    for name in names {
                        if !PARTS.contains(name) {
                            return Err(format!(
                                "--only takes parts among {},xen, not `{part}`",
                                PARTS.join(",")
                            ));
                        }
                        if !parts.iter().any(|p| p == name) {
                            parts.push(name.to_string());
                        }
                    }
                }
                request.parts = parts;
            }
            other => return Err(format!("`{other}` is not an option of `bench`")),
        }
    }
    request.repeat = repeat.unwrap_or(if request.quick { QUICK_REPEAT } else { REPEAT });
    request.density = density.unwrap_or_else(|| {
        if request.quick {
            QUICK_DENSITY.to_vec()
        } else {
            FULL_DENSITY.to_vec()
        }
    });
    Ok(Some(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> BenchRequest {
        parse(
            args.iter().map(ToString::to_string),
            PathBuf::from("/t/virtus-native"),
            Path::new("/w"),
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn defaults_sit_next_to_the_native_image() {
        let r = parse_ok(&[]);
        assert_eq!(r.hvm_image, PathBuf::from("/t/virtus-native.elf32"));
        assert_eq!(r.pv_image, PathBuf::from("/t/virtus-pv"));
        assert_eq!(r.out_dir, PathBuf::from("/w/bench"));
        assert_eq!(r.density, [8, 16, 32]);
        assert_eq!(r.repeat, 3);
        assert!(!r.quick);
    }

    #[test]
    fn quick_has_one_density_step() {
        let r = parse_ok(&["--quick", "--out=/o", "--quiet"]);
        assert_eq!(r.density, [4]);
        assert_eq!(r.repeat, 2);
        assert_eq!(parse_ok(&["--quick", "--repeat=5"]).repeat, 5);
        assert_eq!(r.out_dir, PathBuf::from("/o"));
        assert_eq!(r.verbosity, Verbosity::Quiet);
        assert_eq!(parse_ok(&["--density", "2,3"]).density, [2, 3]);
        let only = parse_ok(&["--only=boot,density"]);
        assert!(only.runs("boot") && only.runs("density") && !only.runs("native"));
        assert_eq!(
            parse_ok(&["--only", "xen,pvh,floor"]).parts,
            ["hvm", "pvh", "floor"]
        );
        assert!(parse_ok(&[]).runs("pvh"));
    }

    #[test]
    fn mistakes_are_explained() {
        let err = |args: &[&str]| {
            parse(
                args.iter().map(ToString::to_string),
                PathBuf::from("/t/n"),
                Path::new("/w"),
            )
            .unwrap_err()
        };
        assert_eq!(err(&["--frob"]), "`--frob` is not an option of `bench`");
        assert_eq!(err(&["--out"]), "`--out` needs a value");
        assert!(err(&["--density", "0"]).starts_with("--density wants"));
        assert!(err(&["--only", "boot,nap"]).ends_with("not `nap`"));
        assert!(err(&["--repeat", "0"]).starts_with("--repeat wants"));
        assert_eq!(
            parse(["--help".to_string()], PathBuf::from("/n"), Path::new("/w")),
            Ok(None)
        );
    }
}
