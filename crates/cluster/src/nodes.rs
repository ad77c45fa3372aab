//! Each node's heartbeat in the `<bucket>-nodes` bucket, one key per node, and
//! `doorman cluster status`, which reads them all beside the revision in force.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store};
use bytes::Bytes;
use doorman_config::Cluster;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::store::{Bucket, PolicyStore, open_bucket};
use crate::{ClusterError, Connection, NodeState};

/// What a node says of itself at each heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: String,
    /// The policy revision in force; none before the first.
    pub revision: Option<u64>,
    /// Whether that revision came from the snapshot on disk since the start.
    pub from_snapshot: bool,
    /// The last revision the node refused, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_errors: Vec<String>,
    pub started_at: String,
    pub uptime_secs: u64,
    /// Copies waiting for delivery in its spool.
    pub queue_length: u64,
    /// How often it beats, so that a reader knows when it is late.
    pub heartbeat_secs: u64,
    pub version: String,
}

/// How many heartbeats a node may miss before it counts as silent.
pub const SILENT_AFTER_BEATS: u32 = 3;

/// How long the bucket keeps a node that stopped beating: a node taken out of service
/// leaves the status after a day.
const FORGET_AFTER: Duration = Duration::from_secs(86_400);

pub async fn open(conn: &Connection, cluster: &Cluster, create: bool) -> Result<Store, ClusterError> {
    open_bucket(
        conn,
        Bucket {
            name: cluster.nodes_bucket(),
            description: "doorman: each edge node's heartbeat",
            history: 1,
            max_age: FORGET_AFTER,
            replicas: cluster.replicas,
        },
        create,
    )
    .await
}

/// Beats every `cluster.heartbeat` for as long as the process runs. `queue_length` counts
/// the node's spool. A beat NATS does not take is simply late: the next one says it all.
pub fn beat(
    conn: Connection,
    cluster: Cluster,
    state: Arc<NodeState>,
    queue_length: Arc<dyn Fn() -> u64 + Send + Sync>,
) {
    tokio::spawn(async move {
        let mut bucket = None;
        let mut tick = tokio::time::interval(cluster.heartbeat.0);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if bucket.is_none() {
                bucket = open(&conn, &cluster, true).await.ok();
            }
            let Some(kv) = &bucket else { continue };
            let refused = state.refused();
            let heartbeat = Heartbeat {
                node: state.node.clone(),
                revision: state.applied(),
                from_snapshot: state.from_snapshot(),
                refused_revision: refused.as_ref().map(|r| r.revision),
                refused_errors: refused.map(|r| r.errors).unwrap_or_default(),
                started_at: state.started_at.clone(),
                uptime_secs: state.started.elapsed().as_secs(),
                queue_length: queue_length(),
                heartbeat_secs: cluster.heartbeat.0.as_secs().max(1),
                version: env!("CARGO_PKG_VERSION").to_string(),
            };
            let value = Bytes::from(serde_json::to_vec(&heartbeat).unwrap_or_default());
            if let Err(e) = kv.put(&state.node, value).await {
                tracing::debug!(target: "doorman::cluster", "heartbeat: {e}");
            }
        }
    });
}

/// A node as `cluster status` sees it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    #[serde(flatten)]
    pub heartbeat: Heartbeat,
    /// When its last heartbeat reached NATS (UTC), and how long ago that was.
    pub last_heartbeat: String,
    pub seconds_since_heartbeat: f64,
    pub state: NodeCondition,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeCondition {
    /// It beats and applies the revision in force.
    Current,
    /// It beats but applies an older revision (or none).
    Lagging,
    /// It has missed [`SILENT_AFTER_BEATS`] heartbeats: stopped, or cut off from NATS.
    Silent,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterReport {
    pub schema: &'static str,
    pub url: String,
    /// The revision in force in the cluster.
    pub revision: Option<u64>,
    pub nodes: Vec<NodeReport>,
    /// Whether some node reports, and every one beats and applies `revision`.
    pub agreed: bool,
}

const SCHEMA: &str = "doorman.cluster-status/1";

impl ClusterReport {
    /// The nodes that beat: a silent one is down, and is waited for by nobody.
    pub fn live(&self) -> impl Iterator<Item = &NodeReport> {
        self.nodes.iter().filter(|n| n.state != NodeCondition::Silent)
    }
}

/// Reads every node's last heartbeat and the revision in force.
pub async fn report(conn: &Connection, cluster: &Cluster) -> Result<ClusterReport, ClusterError> {
    let policy = PolicyStore::existing(conn, cluster).await?;
    let revision = policy.latest().await?.map(|r| r.number);
    let kv = match open(conn, cluster, false).await {
        Ok(kv) => kv,
        // Published, and no node has beaten yet.
        Err(ClusterError::Missing { .. }) => {
            return Ok(ClusterReport {
                schema: SCHEMA,
                url: conn.url.clone(),
                revision,
                nodes: Vec::new(),
                agreed: false,
            });
        }
        Err(e) => return Err(e),
    };
    // The keys from the stream's subjects, in one request: a consumer over the bucket (the
    // client's `keys()`) can wait for ever when a heartbeat lands while it reads.
    let mut subjects = kv.stream.info_with_subjects(format!("{}>", kv.prefix)).await.map_err(|e| conn.error(e))?;
    let mut keys = Vec::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _) = subject.map_err(|e| conn.error(e))?;
        keys.extend(subject.strip_prefix(&kv.prefix).map(str::to_string));
    }
    let now = time::OffsetDateTime::now_utc();
    let mut nodes = Vec::new();
    for key in keys {
        let Some(entry) = kv.entry(&key).await.map_err(|e| conn.error(e))? else { continue };
        if entry.operation != Operation::Put {
            continue;
        }
        let Ok(heartbeat) = serde_json::from_slice::<Heartbeat>(&entry.value) else { continue };
        let ago = (now - entry.created).as_seconds_f64().max(0.0);
        let state = if ago > (heartbeat.heartbeat_secs * u64::from(SILENT_AFTER_BEATS)) as f64 {
            NodeCondition::Silent
        } else if heartbeat.revision.is_some() && heartbeat.revision == revision {
            NodeCondition::Current
        } else {
            NodeCondition::Lagging
        };
        let last_heartbeat = entry.created.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        nodes.push(NodeReport { heartbeat, last_heartbeat, seconds_since_heartbeat: ago, state });
    }
    nodes.sort_by(|a, b| a.heartbeat.node.cmp(&b.heartbeat.node));
    let agreed = !nodes.is_empty() && nodes.iter().all(|n| n.state == NodeCondition::Current);
    Ok(ClusterReport { schema: SCHEMA, url: conn.url.clone(), revision, nodes, agreed })
}

/// Waits until every node that beats applies `revision`, or `limit` passes; the last
/// report either way. Silent nodes are not waited for: they are down.
pub async fn wait_for(
    conn: &Connection,
    cluster: &Cluster,
    revision: u64,
    limit: Duration,
) -> Result<(bool, ClusterReport), ClusterError> {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let report = report(conn, cluster).await?;
        let done = report.live().count() > 0 && report.live().all(|n| n.heartbeat.revision >= Some(revision));
        if done || tokio::time::Instant::now() >= until {
            return Ok((done, report));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `cluster status` as a table, a line per node, flagged nodes marked.
pub fn render(report: &ClusterReport) -> String {
    let mut out = format!(
        "cluster {}: policy revision {}\n",
        report.url,
        report.revision.map_or("none (nothing published)".into(), |r| r.to_string())
    );
    let headers = ["NODE", "STATE", "REVISION", "LAST HEARTBEAT", "UPTIME", "QUEUE", "NOTE"];
    let rows: Vec<[String; 7]> = report
        .nodes
        .iter()
        .map(|n| {
            let h = &n.heartbeat;
            let state = match n.state {
                NodeCondition::Current => "current",
                NodeCondition::Lagging => "LAGGING",
                NodeCondition::Silent => "SILENT",
            };
            let mut note = Vec::new();
            if h.from_snapshot {
                note.push("serving its snapshot (NATS unconfirmed)".to_string());
            }
            if let Some(r) = h.refused_revision {
                note.push(format!("refused revision {r}: {}", h.refused_errors.first().map_or("", String::as_str)));
            }
            [
                h.node.clone(),
                state.to_string(),
                h.revision.map_or("-".into(), |r| r.to_string()),
                format!("{} ({:.0}s ago)", n.last_heartbeat, n.seconds_since_heartbeat),
                duration(h.uptime_secs),
                h.queue_length.to_string(),
                note.join("; "),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    if report.nodes.is_empty() {
        out.push_str("no node has reported\n");
    } else if report.agreed {
        out.push_str(&format!("all {} node(s) apply the revision in force\n", report.nodes.len()));
    } else {
        let flagged = report.nodes.iter().filter(|n| n.state != NodeCondition::Current).count();
        out.push_str(&format!("{flagged} of {} node(s) lag or are silent\n", report.nodes.len()));
    }
    out
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
