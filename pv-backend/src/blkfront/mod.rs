//! blkfront: the PV block frontend.
pub mod handshake;
pub mod ring;
pub mod wire;
