//! blkfront: the PV block frontend.
pub mod device;
pub mod handshake;
pub mod ring;
pub mod wire;
