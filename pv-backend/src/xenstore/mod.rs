//! The xenstore client: the domain's view of the store that xenstored in
//! dom0 keeps, reached through one shared page (`HVM_PARAM_STORE_PFN`) and
//! one event channel (`HVM_PARAM_STORE_EVTCHN`).
//!
//! [`wire`] is the message format, [`ring`] moves bytes through the shared
//! page. Both are pure and tested on the host against a simulated
//! xenstored; the kernel's page accessor and the request/watch layer build
//! on them.

#[cfg(target_os = "none")]
pub mod client;
#[cfg(target_os = "none")]
mod page;
pub mod ring;
pub mod wire;

#[cfg(target_os = "none")]
pub use client::{Client, XsError};

/// The domain's one connection, made on first use.
#[cfg(target_os = "none")]
static CLIENT: spin::Mutex<Option<Client>> = spin::Mutex::new(None);

/// Runs `f` on the connection, connecting first if need be.
#[cfg(target_os = "none")]
pub fn with_client<T>(f: impl FnOnce(&mut Client) -> Result<T, XsError>) -> Result<T, XsError> {
    let mut client = CLIENT.lock();
    if client.is_none() {
        *client = Some(Client::connect()?);
    }
    f(client.as_mut().expect("connected above"))
}
