//! Random doorman configs and sessions for the property and wire tests.
//!
//! [`config`] draws configs over the whole documented schema from small shared pools, so
//! that domains, patterns, certificate names and networks collide and nest the way real
//! mistakes do; every config it draws loads (warnings allowed). [`sessions`] draws sessions
//! against one config, aimed at that config's boundaries. [`case`] draws both.
//!
//! This crate only generates: it decides nothing about policy. The property test holds the
//! analyzer's claims against the engine on these cases; the wire test replays them against
//! the real server. Everything is built from proptest's own combinators so that a failing
//! case shrinks to a small config and session, and `Debug` prints it as a config file plus
//! `doorman explain` command lines.

mod config;
mod ip;
pub mod pools;
mod print;
mod session;
mod targets;

use std::ops::Range;

use proptest::prelude::*;

pub use config::{
    GenAcceptedDomain, GenActions, GenConfig, GenConnector, GenFilter, GenHeaderContains, GenLimits, GenMx,
    GenPredicates, GenReject, GenRule, GenServer, GenSetHeader, GenTenant, config,
};
pub use ip::{GenIpEntry, IpForm};
pub use print::shell_quote;
pub use session::{GenDnsbl, GenSession, GenTls, sessions};

/// A config and sessions drawn against it. `Debug` prints the reproduction recipe.
#[derive(Clone, PartialEq)]
pub struct Case {
    pub config: GenConfig,
    pub sessions: Vec<GenSession>,
}

/// A config and `sessions_per_config` sessions against it.
///
/// The session draws are independent of the config and resolved against it afterwards (see
/// `session.rs`), so no `prop_flat_map` is needed and shrinking the config keeps the
/// sessions aimed at what remains of it.
pub fn case(sessions_per_config: Range<usize>) -> impl Strategy<Value = Case> {
    (config(), proptest::collection::vec(session::draw(), sessions_per_config)).prop_map(|(config, draws)| {
        let targets = targets::Targets::of(&config);
        let sessions = draws.iter().map(|d| d.resolve(&targets)).collect();
        Case { config, sessions }
    })
}
