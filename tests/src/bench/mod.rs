//! `virtus-run bench`: the kernel's micro-benchmarks natively, as a Xen HVM
//! guest and as a Xen PVH guest; boot and footprint against Linux; density.
//!
//! The pure parts (parsing the `# bench` lines, ratios, the Markdown, JSON
//! and SVG writers) are here and unit-tested; the runs are in
//! [`crate::commands`] and [`xenrun`].

pub mod args;
pub mod json;
pub mod model;
pub mod parse;
pub mod render;
pub mod svg;
pub mod xenrun;
