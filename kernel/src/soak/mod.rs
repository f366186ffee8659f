//! Soaks: long runs that prove a path under load, asked for on the command
//! line. `soak.console=BYTES[,SEED]` is the console burst ([`console`]):
//! BYTES from the guest, then BYTES to it, each direction's CRC-32 and
//! count printed for the other end to compare.

#[cfg(target_os = "none")]
pub mod console;
pub mod stream;

/// The seed when the command line names none.
pub const DEFAULT_SEED: u64 = 1;

/// The most a soak may move each way: 1 GiB, far above the 10 MB of the
/// long run, and small enough that no count overflows a figure.
pub const MAX_BYTES: u64 = 1 << 30;

/// A console soak's request: how many bytes each way, and the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleSoak {
    pub bytes: u64,
    pub seed: u64,
}

impl ConsoleSoak {
    /// Parse `BYTES[,SEED]` (decimal; BYTES from 1 to [`MAX_BYTES`]).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let (bytes, seed) = match text.split_once(',') {
            Some((bytes, seed)) => (bytes, Some(seed)),
            None => (text, None),
        };
        let bytes: u64 = bytes.parse().map_err(|_| "BYTES is not a decimal number")?;
        if bytes == 0 || bytes > MAX_BYTES {
            return Err("BYTES must be from 1 to 1073741824");
        }
        let seed = match seed {
            Some(seed) => seed.parse().map_err(|_| "SEED is not a decimal number")?,
            None => DEFAULT_SEED,
        };
        Ok(Self { bytes, seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bytes_and_an_optional_seed() {
        assert_eq!(
            ConsoleSoak::parse("65536"),
            Ok(ConsoleSoak {
                bytes: 65536,
                seed: DEFAULT_SEED
            })
        );
        assert_eq!(
            ConsoleSoak::parse("10485760,42"),
            Ok(ConsoleSoak {
                bytes: 10485760,
                seed: 42
            })
        );
        for bad in ["", "0", "1073741825", "-1", "64K", "10,", "10,x", "10,1,2"] {
            assert!(ConsoleSoak::parse(bad).is_err(), "{bad}");
        }
    }
}
