//! Everything that can go wrong with a block request, each saying what.

/// A refused or failed block request. Validation errors name the value that
/// was wrong, so a test or the shell can print them as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// A read or write of no sectors.
    ZeroLength,
    /// The buffer's length is not a whole number of sectors.
    Misaligned { len: usize, sector_size: u32 },
    /// The request reaches past the end of the device (or `lba + sectors`
    /// does not even fit in 64 bits).
    OutOfRange {
        lba: u64,
        sectors: u64,
        capacity: u64,
    },
    /// More sectors than the device takes in one request.
    TooLarge { sectors: u64, max: u32 },
    /// A write to a read-only device.
    ReadOnly,
    /// Every slot of the device's queue is busy.
    QueueFull { depth: u16 },
    /// A flush carried data.
    FlushWithData { len: usize },
    /// The device said the request failed.
    Io(&'static str),
    /// The device went away (the backend closed); outstanding requests fail.
    Disconnected,
    /// No completion within the caller's deadline (id 0: the request
    /// never got into the queue).
    Timeout { id: u64 },
    /// A completion for a request that is not in flight: never submitted,
    /// already completed, or abandoned after a timeout.
    UnknownCompletion { id: u64 },
    /// A completion whose buffer is not the length the request had.
    WrongBufferLength {
        id: u64,
        expected: usize,
        got: usize,
    },
    /// A driver described its device in a way the core cannot use.
    BadDevice(&'static str),
    /// The registry has no room for another device.
    RegistryFull { max: usize },
    /// A device name is empty, too long, not lowercase letters and digits,
    /// or already taken.
    BadName,
    /// No device has this name.
    NoSuchDevice,
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::ZeroLength => write!(f, "zero-length request"),
            Self::Misaligned { len, sector_size } => write!(
                f,
                "buffer of {len} bytes is not a multiple of the {sector_size}-byte sector"
            ),
            Self::OutOfRange {
                lba,
                sectors,
                capacity,
            } => write!(
                f,
                "sectors {lba}+{sectors} reach past the device's {capacity} sectors"
            ),
            Self::TooLarge { sectors, max } => {
                write!(
                    f,
                    "{sectors} sectors in one request; the device takes {max}"
                )
            }
            Self::ReadOnly => write!(f, "the device is read-only"),
            Self::QueueFull { depth } => write!(f, "all {depth} queue slots are busy"),
            Self::FlushWithData { len } => write!(f, "a flush carries {len} bytes of data"),
            Self::Io(what) => write!(f, "I/O error: {what}"),
            Self::Disconnected => write!(f, "the device is disconnected"),
            Self::Timeout { id } => write!(f, "request {id} not completed by its deadline"),
            Self::UnknownCompletion { id } => {
                write!(f, "completion for request {id}, which is not in flight")
            }
            Self::WrongBufferLength { id, expected, got } => write!(
                f,
                "request {id} completed with {got} bytes of buffer, submitted with {expected}"
            ),
            Self::BadDevice(what) => write!(f, "unusable device: {what}"),
            Self::RegistryFull { max } => write!(f, "no room for more than {max} devices"),
            Self::BadName => write!(f, "bad or duplicate device name"),
            Self::NoSuchDevice => write!(f, "no such device"),
        }
    }
}
