//! `doorman cluster status`, and what the cluster commands share: which cluster to talk to.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_config::Cluster;

/// Which cluster: a NATS URL, or a node's config file whose `[cluster]` says it all
/// (bucket, credentials, TLS).
#[derive(clap::Args, Clone)]
pub struct ClusterArgs {
    /// `nats://host:4222`, or a node's config file (its [cluster] section is used).
    #[arg(long, value_name = "URL|NODE.toml")]
    pub cluster: String,
    /// The policy bucket, when not the default (doorman) or the node file's.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Copies JetStream keeps of what this command creates (the first publish creates the
    /// buckets): 3 in a NATS cluster of three; the node file's `replicas`, else 1.
    #[arg(long)]
    pub replicas: Option<usize>,
}

impl ClusterArgs {
    /// The settings to connect with, or why not (exit 2).
    pub fn settings(&self) -> Result<Cluster, String> {
        let mut cluster = if self.cluster.ends_with(".toml") || PathBuf::from(&self.cluster).is_file() {
            let loaded = doorman_config::load_file(&self.cluster).map_err(|d| d.to_string())?;
            loaded.config.cluster.ok_or_else(|| format!("{}: has no [cluster] section", self.cluster))?
        } else {
            Cluster::at(&self.cluster)
        };
        if let Some(b) = &self.bucket {
            cluster.bucket = b.clone();
        }
        if let Some(r) = self.replicas {
            cluster.replicas = r;
        }
        Ok(cluster)
    }
}

/// Runs `f` on a runtime of its own: the commands are short-lived clients. Each gets
/// [`COMMAND_LIMIT`], so a cluster that stops answering midway is an error, never a hang.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, String> {
    block_on_within(COMMAND_LIMIT, f)
}

/// [`block_on`] with a longer limit, for a command that waits on purpose.
pub fn block_on_within<T>(limit: std::time::Duration, f: impl std::future::Future<Output = T>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime
        .block_on(async { tokio::time::timeout(limit, f).await })
        .map_err(|_| format!("the cluster did not answer within {} s", limit.as_secs()))
}

/// How long a cluster command may take, beyond what `--wait` asks for.
pub const COMMAND_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(clap::Subcommand)]
pub enum Command {
    /// Every node with the policy revision it applies, its last heartbeat, uptime and queue.
    /// A node that lags or has missed three heartbeats is flagged.
    ///
    /// Exit status: 0 when every node applies the revision in force, 1 when one lags or is
    /// silent (or none reports), 2 for a usage error or an unreachable cluster.
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print the JSON form (schema doorman.cluster-status/1).
    #[arg(long)]
    json: bool,
}

pub fn run(command: Command) -> ExitCode {
    let Command::Status(args) = command;
    let cluster = match args.cluster.settings() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("doorman cluster status: {e}");
            return ExitCode::from(2);
        }
    };
    let report = block_on(async {
        let conn = doorman_cluster::connect(&cluster, "doorman cluster status").await?;
        doorman_cluster::nodes::report(&conn, &cluster).await
    });
    let report = report.and_then(|r| r.map_err(|e| e.to_string()));
    match report {
        Ok(report) => {
            if args.json {
                super::emit(&format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()));
            } else {
                super::emit(&doorman_cluster::nodes::render(&report));
            }
            if report.agreed && !report.nodes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("doorman cluster status: {e}");
            ExitCode::from(2)
        }
    }
}
