//! `virtus-run bench`: the kernel's micro-benchmarks natively, as a Xen HVM
//! guest and as a Xen PVH guest, each several times; boot against Linux;
//! the memory floor by bisection; density.
//!
//! The pure parts (parsing the `# bench` lines, spreads, the tie rule,
//! boot stamps, the floor's bisection, the Markdown, JSON and SVG writers)
//! are here and unit-tested; the runs are in [`crate::commands`], through
//! [`crate::xen::run`].

pub mod args;
pub mod boot;
pub mod charts;
pub mod floor;
pub mod json;
pub mod markdown;
pub mod model;
pub mod pairs;
pub mod parse;
pub mod render;
pub mod report_json;
pub mod spread;
pub mod svg;
