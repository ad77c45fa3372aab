//! The spam filter's answer as the engine sees it, and how it becomes an SCL.

use doorman_config::Scl;
use serde::Serialize;

/// rspamd's action for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpamAction {
    NoAction,
    Greylist,
    AddHeader,
    RewriteSubject,
    SoftReject,
    Reject,
    /// rspamd's `discard` and `quarantine`, and any action a local config adds: the message
    /// is to be kept from the recipient.
    Withhold,
}

impl SpamAction {
    /// rspamd's own name (`"no action"`, `"add header"`, …).
    /// An unknown action is taken as `Withhold`: a local action never lets spam through.
    pub fn from_rspamd(name: &str) -> SpamAction {
        match name {
            "no action" => SpamAction::NoAction,
            "greylist" => SpamAction::Greylist,
            "add header" => SpamAction::AddHeader,
            "rewrite subject" => SpamAction::RewriteSubject,
            "soft reject" => SpamAction::SoftReject,
            "reject" => SpamAction::Reject,
            _ => SpamAction::Withhold,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SpamAction::NoAction => "no action",
            SpamAction::Greylist => "greylist",
            SpamAction::AddHeader => "add header",
            SpamAction::RewriteSubject => "rewrite subject",
            SpamAction::SoftReject => "soft reject",
            SpamAction::Reject => "reject",
            SpamAction::Withhold => "withhold",
        }
    }

    /// The SCL of a message rspamd gave this action. rspamd's thresholds are its own;
    /// the SCL keeps EOP's bands: 1 not spam, 5–6 spam, 7–9 high confidence spam. Greylist
    /// (a score below add_header's) and soft reject (a rate limit) are suspicion, not spam.
    pub fn scl(self) -> Scl {
        Scl(match self {
            SpamAction::NoAction => 1,
            SpamAction::Greylist | SpamAction::SoftReject => 4,
            SpamAction::AddHeader | SpamAction::RewriteSubject => 6,
            SpamAction::Reject | SpamAction::Withhold => 9,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpamVerdict {
    pub action: SpamAction,
    pub score: f64,
    pub required_score: f64,
    /// The symbols that scored, highest first (rspamd's names, e.g. `GTUBE`).
    pub symbols: Vec<String>,
}

/// What the caller learnt from the spam filter for this message.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SpamOutcome {
    /// No copy needed a scan, or no spam filter is configured.
    #[default]
    NotAsked,
    Scanned(SpamVerdict),
    /// The filter did not answer in time, refused, or was busy past the timeout.
    Failed {
        why: String,
    },
}
