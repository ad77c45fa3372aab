//! Message traces: the mail that already came in, and which door it took.
//!
//! - [`csv`]: CSV as PowerShell's `Export-Csv` writes it (RFC 4180 quoting), with line numbers.
//! - [`read`]: the shapes a trace comes in, told apart by their columns or fields, into one
//!   [`read::Message`] per row; a row that cannot be read is counted with its line number.
//! - [`label`]: front door, side door, internal or unknown, by the audit's own test
//!   ([`doorman_audit::Gateway::front`]) on the engine's attribution of the row's client and
//!   addresses: the same door the audit reports for that class of sender.
//! - [`summary`]: per tenant, the messages through each door, the side door's top networks and
//!   senders, and an example row per door.

pub mod csv;
pub mod label;
pub mod read;
pub mod summary;
