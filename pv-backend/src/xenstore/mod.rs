//! The xenstore client: the domain's view of the store that xenstored in
//! dom0 keeps, reached through one shared page (`HVM_PARAM_STORE_PFN`) and
//! one event channel (`HVM_PARAM_STORE_EVTCHN`).
//!
//! [`wire`] is the message format, [`ring`] moves bytes through the shared
//! page. Both are pure and tested on the host against a simulated
//! xenstored; the kernel's page accessor and the request/watch layer build
//! on them.

pub mod ring;
pub mod wire;
