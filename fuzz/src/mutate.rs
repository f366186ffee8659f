//! The mutations: the classic set of bit flips, interesting bytes and
//! words, truncation, extension and splicing, plus overwrites aimed at the
//! offsets where a format keeps its fields (each target names them), since
//! a random offset rarely hits the few bytes that steer a parser.

use crate::rng::Rng;

/// Values that sit on boundaries: 0, 1, the sign bits, all ones, page
/// sizes and their neighbours.
const INTERESTING: [u64; 16] = [
    0,
    1,
    2,
    7,
    8,
    0x38,
    0x40,
    0x7f,
    0x80,
    0xff,
    0x1000,
    0x1001,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
];

/// What a target tells the mutator about its format.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hints<'a> {
    /// Offsets of fields worth overwriting, with their width in bytes.
    pub fields: &'a [(usize, usize)],
    /// Values worth writing there besides [`INTERESTING`] (addresses the
    /// format's inputs point at, its magic numbers...).
    pub values: &'a [u64],
    /// Whether numbers are ASCII hex (cpio newc) rather than little endian.
    pub hex: bool,
}

/// The fields of a scripted input: the `header`'s own fields, then
/// records of `step` bytes from offset `start`, each with the fields
/// `record` (offsets within the record), as many as fill `N`.
pub const fn script_fields<const N: usize>(
    header: &[(usize, usize)],
    start: usize,
    step: usize,
    record: &[(usize, usize)],
) -> [(usize, usize); N] {
    let mut out = [(0, 0); N];
    let mut i = 0;
    while i < header.len() {
        out[i] = header[i];
        i += 1;
    }
    let mut k = 0;
    while i < N {
        let (at, width) = record[k % record.len()];
        out[i] = (start + step * (k / record.len()) + at, width);
        i += 1;
        k += 1;
    }
    out
}

/// Apply one to four mutations to `data`, drawing donors for splicing
/// from `corpus`.
pub fn mutate(data: &mut Vec<u8>, corpus: &[Vec<u8>], hints: &Hints<'_>, rng: &mut Rng) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(data, corpus, hints, rng);
    }
}

fn mutate_once(data: &mut Vec<u8>, corpus: &[Vec<u8>], hints: &Hints<'_>, rng: &mut Rng) {
    match rng.below(10) {
        0 if !data.is_empty() => {
            let at = rng.below(data.len());
            data[at] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let at = rng.below(data.len());
            data[at] = *rng.pick(&[0, 0xff, 0x7f, 0x80, 1]);
        }
        2 if !data.is_empty() => {
            let at = rng.below(data.len());
            data[at] = rng.next_u64() as u8;
        }
        3 => {
            let width = *rng.pick(&[2, 4, 8]);
            let at = rng.below(data.len().max(1));
            let value = value(hints, rng);
            write_le(data, at, width, value);
        }
        4 | 5 if !hints.fields.is_empty() => {
            let &(at, width) = rng.pick(hints.fields);
            let value = value(hints, rng);
            if hints.hex {
                write_hex(data, at, width, value);
            } else {
                write_le(data, at, width, value);
            }
        }
        6 if !data.is_empty() => {
            let len = rng.below(data.len());
            data.truncate(len);
        }
        7 => {
            let extra = 1 + rng.below(256);
            let byte = if rng.chance(2) {
                0
            } else {
                rng.next_u64() as u8
            };
            data.resize(data.len() + extra, byte);
        }
        8 if !corpus.is_empty() => {
            // Splice: overwrite a run of `data` with a run of a donor.
            let donor = rng.pick(corpus);
            if donor.is_empty() {
                return;
            }
            let from = rng.below(donor.len());
            let len = 1 + rng.below((donor.len() - from).min(512));
            let at = rng.below(data.len().max(1));
            if data.len() < at + len {
                data.resize(at + len, 0);
            }
            data[at..at + len].copy_from_slice(&donor[from..from + len]);
        }
        _ if data.len() > 1 => {
            // Duplicate or delete a run: shifts everything after it.
            let at = rng.below(data.len());
            let len = 1 + rng.below((data.len() - at).min(128));
            if rng.chance(2) {
                data.drain(at..at + len);
            } else {
                let run: Vec<u8> = data[at..at + len].to_vec();
                data.splice(at..at, run);
            }
        }
        _ => data.push(rng.next_u64() as u8),
    }
}

fn value(hints: &Hints<'_>, rng: &mut Rng) -> u64 {
    let base = if !hints.values.is_empty() && rng.chance(2) {
        *rng.pick(hints.values)
    } else if rng.chance(4) {
        rng.next_u64()
    } else {
        *rng.pick(&INTERESTING)
    };
    // Near misses: one off either way.
    match rng.below(4) {
        0 => base.wrapping_add(1),
        1 => base.wrapping_sub(1),
        _ => base,
    }
}

/// Write the low `width` bytes of `value` at `at`, growing `data` if the
/// field runs past its end.
fn write_le(data: &mut Vec<u8>, at: usize, width: usize, value: u64) {
    if data.len() < at + width {
        data.resize(at + width, 0);
    }
    data[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

/// Write `value` as `width` ASCII hex digits (the low ones).
fn write_hex(data: &mut Vec<u8>, at: usize, width: usize, value: u64) {
    if data.len() < at + width {
        data.resize(at + width, b'0');
    }
    let text = format!("{value:016X}");
    data[at..at + width].copy_from_slice(&text.as_bytes()[16 - width.min(16)..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutants() {
        let corpus = vec![vec![1u8; 100], vec![2u8; 50]];
        let hints = Hints {
            fields: &[(0, 8), (16, 2)],
            values: &[0x1234],
            hex: false,
        };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| {
                    let mut data = corpus[0].clone();
                    mutate(&mut data, &corpus, &hints, &mut rng);
                    data
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // And they do change the input, most of the time.
        let changed = run(7).iter().filter(|m| **m != corpus[0]).count();
        assert!(changed > 150, "{changed} of 200 changed");
    }

    #[test]
    fn hex_fields_are_written_as_hex_digits() {
        let mut data = b"00000000".to_vec();
        write_hex(&mut data, 0, 8, 0xdead_beef);
        assert_eq!(data, b"DEADBEEF");
        write_hex(&mut data, 4, 8, 0x1f);
        assert_eq!(data, b"DEAD0000001F");
    }

    #[test]
    fn script_fields_lay_records_after_the_header() {
        const F: [(usize, usize); 5] = script_fields(&[(0, 4)], 8, 8, &[(0, 1), (4, 4)]);
        assert_eq!(F, [(0, 4), (8, 1), (12, 4), (16, 1), (20, 4)]);
    }
}
