//! `[cluster]`: where a node finds the policy it shares with the other edge nodes. With this
//! section, a node's own file holds `[server]` only; its tenants come from the cluster's
//! key-value store, published there by `doorman config publish`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Seconds;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The NATS servers, e.g. `nats://10.0.0.5:4222`; several separated by commas.
    pub url: String,
    /// The JetStream key-value bucket that holds the policy; node status goes to
    /// `<bucket>-nodes`, the message trace to the stream `<BUCKET>_TRACE`.
    #[serde(default = "default_bucket")]
    pub bucket: String,
    /// This node's name in `doorman cluster status` and in the trace; `server.hostname`
    /// when unset.
    pub node_name: Option<String>,
    /// A NATS credentials file (`.creds`: a user JWT and its NKey seed).
    pub credentials: Option<PathBuf>,
    #[serde(default)]
    pub tls: ClusterTls,
    /// How often the node reports its revision, uptime and queue to `cluster status`.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: Seconds,
    /// Whether tracking events also go to the cluster's trace stream.
    #[serde(default = "yes")]
    pub trace: bool,
    /// Events waiting to be published; beyond this they are counted as dropped (the local
    /// tracking log still has them). Publishing never holds up a session.
    #[serde(default = "default_trace_buffer")]
    pub trace_buffer: usize,
    /// How long the cluster keeps the message trace.
    #[serde(default = "default_trace_retention")]
    pub trace_retention: Seconds,
    /// Copies of the policy, node status and trace that JetStream keeps: 3 in a NATS cluster
    /// of three, so that losing one NATS server loses nothing.
    #[serde(default = "one")]
    pub replicas: usize,
}

/// TLS towards NATS. `ca` alone verifies the server; `certificate` and `key` add a client
/// certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTls {
    #[serde(default)]
    pub required: bool,
    pub ca: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Cluster {
    /// The settings a command uses with `--cluster URL` alone: the defaults for the rest.
    pub fn at(url: &str) -> Cluster {
        Cluster {
            url: url.to_string(),
            bucket: default_bucket(),
            node_name: None,
            credentials: None,
            tls: ClusterTls::default(),
            heartbeat: default_heartbeat(),
            trace: true,
            trace_buffer: default_trace_buffer(),
            trace_retention: default_trace_retention(),
            replicas: 1,
        }
    }

    /// This node's name: `node_name`, or the first label of `server.hostname`.
    pub fn node(&self, hostname: &str) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            let label = hostname.split('.').next().unwrap_or_default();
            label.chars().map(|c| if is_name_char(c) { c } else { '_' }).collect()
        })
    }

    pub fn nodes_bucket(&self) -> String {
        format!("{}-nodes", self.bucket)
    }

    pub fn trace_stream(&self) -> String {
        format!("{}_TRACE", self.bucket.to_ascii_uppercase().replace(['-', '.'], "_"))
    }

    /// The subjects of the trace stream: `<bucket>.trace.<node>.<event>`.
    pub fn trace_subject(&self, node: &str, event: &str) -> String {
        format!("{}.trace.{node}.{event}", self.bucket)
    }

    pub fn trace_subjects(&self) -> String {
        format!("{}.trace.>", self.bucket)
    }
}

fn default_bucket() -> String {
    "doorman".to_string()
}

fn default_heartbeat() -> Seconds {
    Seconds(Duration::from_secs(5))
}

fn default_trace_buffer() -> usize {
    10_000
}

fn default_trace_retention() -> Seconds {
    Seconds(Duration::from_secs(7 * 86_400))
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

/// Node and bucket names go into NATS subjects and keys: letters, digits, `-` and `_`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}
