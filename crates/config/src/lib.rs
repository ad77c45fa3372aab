//! doorman's configuration: the TOML schema in Exchange Online's vocabulary, loading with
//! errors that name file, line, column and key path, and the semantic checks.
//!
//! This crate also holds the vocabulary types every other crate shares: mailbox addresses
//! ([`address`]), name patterns ([`names`]) and IP entries ([`net`]).

pub mod address;
mod check;
mod diag;
mod load;
pub mod model;
pub mod names;
pub mod net;
mod recover;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use load::{Loaded, load_file, load_str};
pub use model::*;
