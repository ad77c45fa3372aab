//! `doorman config publish`: put a policy in force on every node of a cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use doorman_cluster::store::PolicyStore;
use doorman_config::{PolicyDocument, load_policy, parse_duration};
use doorman_policy::Policy;

use super::cluster::{COMMAND_LIMIT, ClusterArgs, block_on_within};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check a policy (tenants only) exactly as check-config does, and publish it to the
    /// cluster as the next revision: the whole policy in one document, so a node applies
    /// all of a change or none of it.
    ///
    /// Exit status: 0 when published (and, with --wait, in force on every live node); 1 when
    /// refused by --fail-on-new-access, raced by another publisher, or --wait ran out; 2 for
    /// a policy with errors, a usage error or an unreachable cluster.
    Publish(PublishArgs),
    /// Print the config as doorman reads it, as TOML that loads back to the same config:
    /// the settings the file makes (like postconf -n), or with --defaults every setting,
    /// defaults filled in (like postconf).
    ///
    /// Exit status: 0 when printed; 2 for a config or usage error.
    Show(ShowArgs),
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Every setting, the defaults included, not only those the file makes.
    #[arg(long)]
    defaults: bool,
}

#[derive(clap::Args)]
pub struct PublishArgs {
    /// The policy: a config file with [[tenants]] only.
    policy: PathBuf,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Refuse a change through which any class of sender could deliver that could not with
    /// the revision in force (the audit's diff, as `doorman diff --fail-on-new-access`).
    #[arg(long)]
    fail_on_new_access: bool,
    /// Wait until every live node reports the new revision.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    wait_timeout: Duration,
}

pub fn run(command: Command) -> ExitCode {
    let args = match command {
        Command::Publish(args) => args,
        Command::Show(args) => return show(&args),
    };
    let limit = COMMAND_LIMIT + if args.wait { args.wait_timeout } else { Duration::ZERO };
    match block_on_within(limit, publish(&args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("doorman config publish: {e}");
            ExitCode::from(2)
        }
    }
}

async fn publish(args: &PublishArgs) -> ExitCode {
    let fail = |code: u8, e: &dyn std::fmt::Display| {
        eprintln!("doorman config publish: {e}");
        ExitCode::from(code)
    };
    let name = args.policy.display().to_string();
    let text = match std::fs::read_to_string(&args.policy) {
        Ok(t) => t,
        Err(e) => return fail(2, &format!("{name}: cannot read the file: {e}")),
    };
    let base = args.policy.parent().map(Path::to_path_buf).unwrap_or_default();
    let (loaded, mut document) = match load_policy(&name, &text, &base) {
        Ok(l) => l,
        Err(diags) => {
            let errors = diags.errors().count();
            super::print_diagnostics("config publish", &diags);
            eprintln!(
                "doorman config publish: {name}: {errors} error(s), {} warning(s); nothing was published",
                diags.0.len() - errors
            );
            return ExitCode::from(2);
        }
    };
    for w in &loaded.warnings {
        super::print_diagnostics("config publish", w);
    }
    let cluster = match args.cluster.settings() {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let conn = match doorman_cluster::connect(&cluster, "doorman config publish").await {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let store = match PolicyStore::open(&conn, &cluster).await {
        Ok(s) => s,
        Err(e) => return fail(2, &e),
    };
    let in_force = match store.latest().await {
        Ok(r) => r,
        Err(e) => return fail(2, &e),
    };
    if args.fail_on_new_access {
        let against = match in_force_policies(&conn, &cluster, &store, in_force.as_ref()).await {
            Ok(a) => a,
            Err(e) => return fail(2, &e),
        };
        let new = Policy::new(loaded.config.clone());
        for (what, old) in &against {
            let diff = doorman_audit::diff::diff(old, &new);
            if diff.gains_access() {
                super::emit(&doorman_audit::diff::render(&diff));
                return fail(1, &format!("{name} opens access against {what}; nothing was published"));
            }
        }
    }
    document.published_by = publisher();
    document.published_at = doorman_tracking::time::now_rfc3339();
    let revision = match store.publish(&document, in_force.as_ref().map(|r| r.number)).await {
        Ok(r) => r,
        Err(e @ doorman_cluster::store::PublishError::Raced { .. }) => return fail(1, &e),
        Err(e) => return fail(2, &e),
    };
    let c = &loaded.config;
    super::emit(&format!(
        "{name}: published as revision {revision} to {} ({} tenant(s), {} warning(s))\n",
        cluster.url,
        c.tenants.len(),
        loaded.warnings.len()
    ));
    if !args.wait {
        return ExitCode::SUCCESS;
    }
    match doorman_cluster::nodes::wait_for(&conn, &cluster, revision, args.wait_timeout).await {
        Ok((true, report)) => {
            let live = report.live().count();
            super::emit(&format!("revision {revision} is in force on all {live} live node(s)\n"));
            ExitCode::SUCCESS
        }
        Ok((false, report)) => {
            super::emit(&doorman_cluster::nodes::render(&report));
            fail(1, &format!("not every live node applied revision {revision} within {:?}", args.wait_timeout))
        }
        Err(e) => fail(2, &e),
    }
}

/// What a change is compared with: each revision a live node applies, and the latest
/// published when it loads (nodes refuse one that does not, so it is in force nowhere).
/// Nothing published: the empty policy, so that every access is new.
async fn in_force_policies(
    conn: &doorman_cluster::Connection,
    cluster: &doorman_config::Cluster,
    store: &PolicyStore,
    latest: Option<&doorman_cluster::store::Revision>,
) -> Result<Vec<(String, Policy)>, String> {
    let Some(latest) = latest else {
        return Ok(vec![(
            "an empty cluster (nothing published yet)".into(),
            Policy::new(doorman_config::Config::default()),
        )]);
    };
    let mut numbers: Vec<u64> = match doorman_cluster::nodes::report(conn, cluster).await {
        Ok(report) => report.live().filter_map(|n| n.heartbeat.revision).collect(),
        Err(_) => Vec::new(),
    };
    numbers.sort_unstable();
    numbers.dedup();
    let mut against = Vec::new();
    for number in numbers {
        let revision = if number == latest.number {
            Some(latest.clone())
        } else {
            store.revision(number).await.map_err(|e| e.to_string())?
        };
        let revision = revision.ok_or(format!(
            "revision {number}, which a node applies, is no longer in the bucket's history; compare with doorman diff"
        ))?;
        against.push((format!("revision {number} (in force on a node)"), policy_of(&revision)?));
    }
    if !against.iter().any(|(w, _)| w.starts_with(&format!("revision {} ", latest.number))) {
        match policy_of(latest) {
            Ok(p) => against.push((format!("revision {} (the latest)", latest.number), p)),
            Err(e) if !against.is_empty() => {
                eprintln!("doorman config publish: {e}; comparing with the revisions the nodes apply")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(against)
}

/// A revision read as a policy, for the diff.
fn policy_of(revision: &doorman_cluster::store::Revision) -> Result<Policy, String> {
    let document =
        PolicyDocument::from_json(&revision.value).map_err(|e| format!("revision {}: {e}", revision.number))?;
    let name = format!("cluster policy revision {}", revision.number);
    doorman_config::load_document(&name, &document)
        .map(|l| Policy::new(l.config))
        .map_err(|d| format!("revision {} does not load, so nothing can be compared with it:\n{d}", revision.number))
}

fn publisher() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{user}@{}", host.trim())
}

fn show(args: &ShowArgs) -> ExitCode {
    // Read once: the settings kept are those of the text that was loaded.
    let (name, text, base) = match &args.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (path.display().to_string(), text, path.parent().map(Path::to_path_buf).unwrap_or_default()),
            Err(e) => {
                eprintln!("doorman config show: {}: cannot read the file: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => (super::BUILT_IN_NAME.to_string(), super::BUILT_IN.to_string(), PathBuf::from(".")),
    };
    let loaded = match doorman_config::load_str(&name, &text, &base) {
        Ok(l) => l,
        Err(diags) => {
            super::print_diagnostics("config show", &diags);
            return ExitCode::from(2);
        }
    };
    let title = if args.defaults {
        format!("doorman config show --defaults: every setting of {name}, the defaults filled in")
    } else {
        format!("doorman config show: the settings {name} makes (--defaults adds every default)")
    };
    match doorman_config::show(&loaded.config, &text, args.defaults, &title) {
        Ok(toml) => super::emit(&toml),
        Err(e) => {
            eprintln!("doorman config show: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
