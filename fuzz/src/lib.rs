//! Fuzz targets: every parser that reads bytes doorman does not control, each with the
//! contract it must keep. A target panics when the contract is broken, so a fuzzer reports
//! it as a crash, and `tests/corpus.rs` replays every saved input as a regression test.
//!
//! The engine is AFL++ through `cargo afl` (`fuzz/afl/`, outside the workspace, driven by
//! `scripts/fuzz.sh`); this crate has no fuzzer in it, so the workspace builds without one.

pub mod address;
pub mod command;
pub mod config;
pub mod data;
pub mod exo;
pub mod msgtrace;
pub mod proxy;
pub mod spool;

/// A target: its name (its folder under `fuzz/corpus/`) and its check.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
}

pub const TARGETS: &[Target] = &[
    Target { name: "command", check: command::check },
    Target { name: "data", check: data::check },
    Target { name: "bdat", check: data::check_bdat },
    Target { name: "proxy", check: proxy::check },
    Target { name: "address", check: address::check },
    Target { name: "config", check: config::check },
    Target { name: "exo", check: exo::check },
    Target { name: "msgtrace", check: msgtrace::check },
    Target { name: "spool", check: spool::check },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
