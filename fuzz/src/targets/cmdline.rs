//! The kernel command line as the kernel takes it: the input is the bytes
//! at `cmdline_paddr`, read by `boot::pvh::parse_start_info` (NUL search
//! page by page, UTF-8, length) into a `CmdLine`, then looked up with
//! `get`/`flag` for every option the kernel and the backends read, and the
//! values given to the host-reachable interpreters (`loglevel=` through
//! `logger::parse_level`, `test=`/`bench=` through `harness::selects`).
//!
//! Properties: a refusal names the fault where it is (the unreadable
//! address, the byte offset of the bad UTF-8) and happens exactly when the
//! text is unterminated, too long or not UTF-8; an accepted line is the
//! text up to the NUL, byte for byte; its words cover it exactly; every
//! value is a slice of the line (so at most `CmdLine::MAX` bytes) and is
//! the last occurrence of its key.

use virtus_kernel::boot::CmdLine;
use virtus_kernel::boot::pvh::{StartInfoError, XEN_HVM_START_MAGIC_VALUE, parse_start_info};
use virtus_kernel::harness::selects;
use virtus_kernel::logger::parse_level;
use virtus_kernel::mem::{PAGE_SIZE, PhysMemory};

use super::{Outcome, Target};
use crate::mutate::Hints;

/// The start info's page, and the page the command line starts on.
const START_INFO: u64 = 0x1000;
const LINE_PAGE: u64 = 0x2000;
/// The line starts 512 bytes before its page ends: the read crosses into
/// the next page, which is memory only if the line runs that far.
const CMDLINE_AT: u64 = LINE_PAGE + PAGE_SIZE - 512;
/// What memory holds after the input, to the end of its page (no NUL).
const FILLER: u8 = b'x';

/// Every key the kernel and its two backends look up (grep `.get("` and
/// `.flag("`): the core's, the native backend's and the PVH backend's.
pub const KERNEL_KEYS: [&str; 19] = [
    "loglevel",
    "test",
    "bench",
    "init",
    "crash",
    "inject",
    "smp.cpus",
    "block.disk",
    "block.sectors",
    "block.seed",
    "block.ro_disk",
    "ahci.msi",
    "blkfront.indirect",
    "blkfront.persistent",
    "xen.memory_mb",
    "xen.expect_name",
    "xen.suspend_channel",
    "xen.refuse_shutdown",
    "console",
];

/// Physical memory made of a few disjoint byte ranges; a read must fall
/// inside one of them (as inside one RAM range), anything else fails.
pub struct Regions<'a>(pub Vec<(u64, &'a [u8])>);

impl PhysMemory for Regions<'_> {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        self.0.iter().any(|&(base, bytes)| {
            let Some(at) = paddr.checked_sub(base) else {
                return false;
            };
            let Some(src) = usize::try_from(at)
                .ok()
                .and_then(|at| Some(at..at.checked_add(buf.len())?))
                .and_then(|range| bytes.get(range))
            else {
                return false;
            };
            buf.copy_from_slice(src);
            true
        })
    }
}

/// Memory is readable in whole pages: the line's pages, the input in
/// them at `CMDLINE_AT`, filler around it.
fn line_memory(input: &[u8]) -> Vec<u8> {
    let before = (CMDLINE_AT - LINE_PAGE) as usize;
    let len = (before + input.len()).next_multiple_of(PAGE_SIZE as usize);
    let mut memory = vec![FILLER; len];
    memory[before..before + input.len()].copy_from_slice(input);
    memory
}

/// A version 0 start info with only a command line.
fn header() -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0..4].copy_from_slice(&XEN_HVM_START_MAGIC_VALUE.to_le_bytes());
    h[24..32].copy_from_slice(&CMDLINE_AT.to_le_bytes());
    h
}

pub struct CmdLineTarget;

const FIELDS: [(usize, usize); 16] = {
    let mut out = [(0, 0); 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (4 * i, 4);
        i += 1;
    }
    out
};

/// Separators, a NUL, UTF-8 lead and continuation bytes, and option words.
const VALUES: [u64; 10] = [
    0x20,
    0x3d,
    0x09,
    0xc3,
    0xa9c3,
    0x80,
    u32::from_le_bytes(*b"test") as u64,
    u32::from_le_bytes(*b"=all") as u64,
    u64::from_le_bytes(*b"smp.cpus"),
    u64::from_le_bytes(*b"loglevel"),
];

impl Target for CmdLineTarget {
    fn name(&self) -> &'static str {
        "cmdline"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let with_nul = |s: &str| [s.as_bytes(), b"\0"].concat();
        vec![
            with_nul("test=all loglevel=debug smp.cpus=4"),
            with_nul("block.disk=sda block.sectors=32768 block.seed=1a2b bench=block"),
            with_nul(
                "console=hvc0 xen.expect_name=virtus-1 blkfront.indirect=32 xen.refuse_shutdown",
            ),
            with_nul("init=none crash=after-summary inject=fail ahci.msi=off test= =x a==b"),
            with_nul("name=Zürich\ttest=smp \n loglevel=warn loglevel"),
            with_nul(""),
            // Exactly the longest line kept.
            with_nul(&format!("test={}", "x".repeat(CmdLine::MAX - 5))),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let header = header();
        let memory = line_memory(input);
        let mem = Regions(vec![(START_INFO, &header), (LINE_PAGE, &memory)]);
        let info = match parse_start_info(&mem, START_INFO) {
            Ok(info) => info,
            Err(e) => {
                check_refusal(&memory[(CMDLINE_AT - LINE_PAGE) as usize..], &e)?;
                return Ok(Outcome::refused(false, &e));
            }
        };
        let line = info.cmdline.as_str();
        let nul = input.iter().position(|&b| b == 0);
        if nul.map(|n| &input[..n]) != Some(line.as_bytes()) {
            return Err(format!("accepted {line:?}, not the text up to the NUL"));
        }
        check_words(&info.cmdline)?;
        check_values(&info.cmdline)?;
        Ok(Outcome::ACCEPTED)
    }
}

/// A refusal happens for the reason it gives, at the place it names;
/// `line` is the memory from `CMDLINE_AT` to where it ends.
fn check_refusal(line: &[u8], e: &StartInfoError) -> Result<(), String> {
    let window = &line[..line.len().min(CmdLine::MAX + 1)];
    let nul = window.iter().position(|&b| b == 0);
    let wrong = |why: &str| Err(format!("{e:?}: {why}"));
    match *e {
        StartInfoError::CmdlineTooLong { paddr } => {
            if paddr != CMDLINE_AT || nul.is_some() || window.len() <= CmdLine::MAX {
                return wrong("a NUL or the end of memory comes first");
            }
        }
        StartInfoError::CmdlineUnreadable { paddr, at } => {
            // The failed read is the one past the end of memory, which
            // came before a NUL and before the length limit.
            let end = CMDLINE_AT + line.len() as u64;
            if paddr != CMDLINE_AT || nul.is_some() || at != end || window.len() > CmdLine::MAX {
                return wrong("not where memory ends, or a NUL came first");
            }
        }
        StartInfoError::CmdlineNotUtf8 { paddr, offset } => {
            let Some(n) = nul else {
                return wrong("the line has no NUL in range");
            };
            match core::str::from_utf8(&line[..n]) {
                Err(u) if u.valid_up_to() == offset && paddr == CMDLINE_AT => {}
                _ => return wrong("the offset is not that of the first bad byte"),
            }
        }
        _ => return wrong("a refusal that is not the command line's"),
    }
    Ok(())
}

/// The words are the line's whitespace-separated runs, key and value split
/// at the first `=`, each a slice of the line.
fn check_words(c: &CmdLine) -> Result<(), String> {
    let line = c.as_str();
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let parsed: Vec<(&str, Option<&str>)> = c.iter().collect();
    if parsed.len() != words.len() || parsed.len() > CmdLine::MAX.div_ceil(2) {
        return Err(format!("{} words from {} runs", parsed.len(), words.len()));
    }
    for (word, &(key, value)) in words.iter().zip(&parsed) {
        let rebuilt = match value {
            Some(v) => format!("{key}={v}"),
            None => key.to_string(),
        };
        if rebuilt != *word || key.contains('=') || !inside(line, key) {
            return Err(format!("word {word:?} parsed as ({key:?}, {value:?})"));
        }
        if value.is_some_and(|v| !inside(line, v)) {
            return Err(format!("value of {key:?} is not a slice of the line"));
        }
    }
    Ok(())
}

/// `get` and `flag` for the kernel's keys and the first keys the line
/// has, and what the kernel makes of the values it interprets here.
fn check_values(c: &CmdLine) -> Result<(), String> {
    let line = c.as_str();
    let own: Vec<&str> = c.iter().map(|(k, _)| k).take(16).collect();
    for key in KERNEL_KEYS.iter().copied().chain(own) {
        let last = c.iter().filter(|&(k, _)| k == key).last();
        let got = c.get(key);
        if got != last.map(|(_, v)| v.unwrap_or("")) {
            return Err(format!("get({key:?}) = {got:?}, last occurrence {last:?}"));
        }
        let Some(value) = got else {
            if c.flag(key) {
                return Err(format!("flag({key:?}) on when absent"));
            }
            continue;
        };
        if value.len() > CmdLine::MAX || (!value.is_empty() && !inside(line, value)) {
            return Err(format!("{key}={value:?} is not bounded by the line"));
        }
        let off = matches!(value, "0" | "no" | "off" | "false");
        if c.flag(key) == off {
            return Err(format!("flag({key:?}) with value {value:?}"));
        }
        match key {
            "loglevel" => {
                let known = ["off", "error", "warn", "info", "debug", "trace"].contains(&value);
                if parse_level(value).is_some() != known {
                    return Err(format!(
                        "loglevel={value:?} read as {:?}",
                        parse_level(value)
                    ));
                }
            }
            "test" | "bench" => {
                // A filter selects the names containing it; all, empty and
                // no filter select everything.
                let everything = value.is_empty() || value == "all";
                if !selects(Some(value), &format!("x{value}y"))
                    || selects(Some(value), "") != everything
                {
                    return Err(format!("{key}={value:?} selects the wrong tests"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `part` is a slice of `whole`'s bytes.
fn inside(whole: &str, part: &str) -> bool {
    let range = whole.as_bytes().as_ptr_range();
    let start = part.as_ptr();
    range.start <= start && start.wrapping_add(part.len()) <= range.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in CmdLineTarget.seeds().iter().enumerate() {
            assert_eq!(CmdLineTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
    }

    #[test]
    fn each_kind_of_bad_line_is_refused_where_it_is_bad() {
        let kind = |input: &[u8]| CmdLineTarget.run(input).unwrap().refusal.unwrap();
        assert_eq!(kind(b"test=all"), "CmdlineUnreadable");
        assert_eq!(kind(&[b'x'; 600]), "CmdlineTooLong");
        assert_eq!(kind(b"test=\xff\0"), "CmdlineNotUtf8");
        assert_eq!(kind(&[b'x'; CmdLine::MAX + 1]), "CmdlineTooLong");
    }
}
