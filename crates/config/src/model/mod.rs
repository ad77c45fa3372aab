//! The configuration schema, in Exchange Online's vocabulary, written in snake_case as
//! Exchange Online's cmdlets name them. Every struct denies unknown keys: a misspelt
//! `restrict_domains_to_ip` must be an error, not a silently open side door.
//!
//! Values are validated as they are read (IP entries, domains, addresses, SCL, status codes),
//! so such errors point at the value's own line and column. Checks that span several values
//! live in `check.rs`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    /// Where the policy comes from when several edge nodes share it; the file's own
    /// `tenants` otherwise.
    pub cluster: Option<Cluster>,
    /// Left out when written back empty: a cluster node's file must not hold the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<Tenant>,
}

mod cluster;
mod filtering;
mod routing;
mod rules;
mod server;
mod tenant;

pub use cluster::*;
pub use filtering::*;
pub use routing::*;
pub use rules::*;
pub use server::*;
pub use tenant::*;
