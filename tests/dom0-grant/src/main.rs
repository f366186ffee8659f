//! `virtus-grant-peek`: dom0's side of the grant test (see
//! pv-backend/src/grant/kernel_tests.rs). dom0 has busybox but no Python and
//! no compiler, so the runner builds this for it as a static binary.
//!
//! ```text
//! virtus-grant-peek read DOMID GREF LEN        map the grant read-only, write
//!                                              its first LEN bytes to stdout, unmap
//! virtus-grant-peek hold DOMID GREF LEN FILE   map it, say `held`, keep it mapped
//!                                              until FILE exists, unmap, say `unmapped`
//! ```
//!
//! It maps through Linux's grant device, as libxengnttab does: reserve the
//! grant with `IOCTL_GNTDEV_MAP_GRANT_REF`, `mmap` the offset it returns
//! (the grant map hypercall happens there; Xen then sets `GTF_reading` in
//! the guest's entry), and undo both.

mod gntdev;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long `hold` keeps the page at most, whatever happens to FILE.
const HOLD_AT_MOST: Duration = Duration::from_secs(120);

#[derive(Debug, PartialEq, Eq)]
enum Request {
    Read {
        domid: u32,
        gref: u32,
        len: usize,
    },
    Hold {
        domid: u32,
        gref: u32,
        len: usize,
        release: String,
    },
}

fn number<T: std::str::FromStr>(word: Option<&String>, what: &str) -> Result<T, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    word.parse()
        .map_err(|_| format!("{what} `{word}` is not a number"))
}

fn parse(args: &[String]) -> Result<Request, String> {
    let (op, rest) = args
        .split_first()
        .ok_or("missing operation (read or hold)")?;
    let domid = number(rest.first(), "DOMID")?;
    let gref = number(rest.get(1), "GREF")?;
    let len = number(rest.get(2), "LEN")?;
    if len > gntdev::PAGE_SIZE {
        return Err(format!("LEN {len} is more than a page"));
    }
    match (op.as_str(), rest.len()) {
        ("read", 3) => Ok(Request::Read { domid, gref, len }),
        ("hold", 4) => Ok(Request::Hold {
            domid,
            gref,
            len,
            release: rest[3].clone(),
        }),
        _ => Err(format!(
            "usage: read DOMID GREF LEN | hold DOMID GREF LEN FILE (got `{}`)",
            args.join(" ")
        )),
    }
}

fn run(request: Request) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let fail = |e: std::io::Error| e.to_string();
    match request {
        Request::Read { domid, gref, len } => {
            let bytes = gntdev::Mapping::new(domid, gref)?.bytes(len);
            out.write_all(&bytes).map_err(fail)?;
        }
        Request::Hold {
            domid,
            gref,
            len,
            release,
        } => {
            let mapping = gntdev::Mapping::new(domid, gref)?;
            let _ = mapping.bytes(len);
            writeln!(out, "held")
                .and_then(|()| out.flush())
                .map_err(fail)?;
            let start = Instant::now();
            while !Path::new(&release).exists() && start.elapsed() < HOLD_AT_MOST {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(mapping);
            writeln!(out, "unmapped").map_err(fail)?;
        }
    }
    out.flush().map_err(fail)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("virtus-grant-peek: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn requests() {
        assert_eq!(
            parse(&words("read 3 8 4096")),
            Ok(Request::Read {
                domid: 3,
                gref: 8,
                len: 4096
            })
        );
        assert_eq!(
            parse(&words("hold 3 9 1 /tmp/x")),
            Ok(Request::Hold {
                domid: 3,
                gref: 9,
                len: 1,
                release: "/tmp/x".into()
            })
        );
        assert!(
            parse(&words("read 3 8 4097"))
                .unwrap_err()
                .contains("more than a page")
        );
        assert!(
            parse(&words("read 3 x 1"))
                .unwrap_err()
                .contains("GREF `x`")
        );
        assert!(
            parse(&words("hold 3 8 1"))
                .unwrap_err()
                .starts_with("usage")
        );
        assert!(parse(&[]).is_err());
    }
}
