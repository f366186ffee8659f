//! What is fuzzed: each target knows its seed inputs, where its format
//! keeps its fields, and the properties an accepted input must have.

pub mod acpi;
pub mod ahci_identify;
pub mod archive;
pub mod blkif;
pub mod cmdline;
pub mod console_ring;
pub mod elf;
pub mod memmap;
pub mod pci;
pub mod shared_page;
pub mod start_info;
pub mod xenstore;
pub mod xenstore_values;

use std::fmt::{Debug, Display};

use crate::mutate::Hints;

/// What a run of a target found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The input passed validation (it joins the pool).
    pub accepted: bool,
    /// The kind of refusal met, if any: the error variant's name (a
    /// refused ramdisk in an accepted start info counts too).
    pub refusal: Option<String>,
}

impl Outcome {
    pub const ACCEPTED: Self = Self {
        accepted: true,
        refusal: None,
    };

    /// A refusal by `error`, after proving its message can be printed
    /// (it goes to the console).
    pub fn refused(accepted: bool, error: &(impl Debug + Display)) -> Self {
        let _ = error.to_string();
        let debug = format!("{error:?}");
        let kind = debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("");
        Self {
            accepted,
            refusal: Some(kind.to_string()),
        }
    }
}

pub trait Target {
    fn name(&self) -> &'static str;
    /// Valid inputs to start from (each must be accepted, see the tests).
    fn seeds(&self) -> Vec<Vec<u8>>;
    fn hints(&self) -> Hints<'static>;
    /// Run the code under test on `input` and check what it returned;
    /// `Err` names a broken property.
    fn run(&self, input: &[u8]) -> Result<Outcome, String>;
}

/// Every target, in the order `make fuzz` runs them.
pub fn all() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(elf::ElfTarget),
        Box::new(archive::ArchiveTarget),
        Box::new(start_info::StartInfoTarget),
        Box::new(console_ring::ConsoleRingTarget),
        Box::new(xenstore::XenstoreTarget),
        Box::new(blkif::BlkifTarget),
        Box::new(xenstore_values::XenstoreValuesTarget),
        Box::new(cmdline::CmdLineTarget),
        Box::new(memmap::MemmapTarget),
        Box::new(acpi::AcpiTarget),
        Box::new(ahci_identify::AhciIdentifyTarget),
        Box::new(pci::PciTarget),
    ]
}
