//! `virtus-run bench`: the kernel's micro-benchmarks natively, as a Xen HVM
//! guest and as a Xen PVH guest, each several times; boot against Linux;
//! the memory floor by bisection; density.
//!
//! The pure parts are here and unit-tested: reading the kernel's `# bench`
//! lines ([`parse`]), a figure over the runs ([`spread`]), the pairs and
//! their tie rule ([`pairs`]), the run's figures ([`model`], [`core_rows`],
//! the block table's [`block_rows`], the SMP table's [`smp_rows`]),
//! boot stamps ([`boot`]), the floor's bisection ([`floor`]), and writing
//! the report ([`report`]: tables, Markdown, JSON, SVG). The runs are in
//! `crate::commands::bench`, through [`crate::xen::run`].

pub mod args;
pub mod block_rows;
pub mod boot;
pub mod core_rows;
pub mod floor;
pub mod model;
pub mod pairs;
pub mod parse;
pub mod report;
pub mod smp_rows;
pub mod spread;
