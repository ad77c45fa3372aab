//! doorman's message tracking log: one JSON line per decision.
//!
//! The edge appends [`Record`]s through a [`TrackingLog`]; `doorman trace` reads them back
//! with a [`Filter`] and prints them with [`render_table`]. Rejects are logged too: a reject is
//! how an administrator sees a side door being tried.

mod filter;
mod record;
mod table;
pub mod time;
mod writer;

pub use filter::{Filter, FilterError};
pub use record::{Event, Record, SclSource, Stage};
pub use table::render_table;
pub use writer::{Forward, TrackingLog, Written};
