//! doorman's configuration: the TOML schema in Exchange Online's vocabulary, loading with
//! errors that name file, line, column and key path, and the semantic checks.
//!
//! This crate also holds the vocabulary types every other crate shares: mailbox addresses
//! ([`address`]), name patterns ([`names`]) and IP entries ([`net`]).

pub mod address;
mod check;
mod diag;
mod document;
mod load;
pub mod model;
pub mod names;
pub mod net;
mod recover;
mod show;

pub use diag::{Diagnostic, Diagnostics, Severity, TOP_LEVEL};
pub use document::{DOCUMENT_FORMAT, DocumentError, PolicyDocument, Published};
pub use load::{Loaded, load_document, load_file, load_node, load_policy, load_str};
pub use model::*;
pub use show::{ShowError, show};
