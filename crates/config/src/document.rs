//! The policy as a cluster holds it: one document with the policy's TOML and every file it
//! names, so that a node applies all of a change or none of it and needs no shared disk.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The document format this build writes and reads.
pub const DOCUMENT_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub format: u32,
    /// The policy file as it was published: `[[tenants]]` only.
    pub policy: String,
    /// The files it names (`recipients_file`), by the path written in it.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The file it was published from, for messages.
    pub source: String,
    /// Who published it and when (UTC, RFC 3339); set by the publisher.
    #[serde(default)]
    pub published_by: String,
    #[serde(default)]
    pub published_at: String,
}

/// A document in the store is not one this build can read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not a doorman policy document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("policy document format {0}, but this doorman reads format {DOCUMENT_FORMAT}: upgrade it")]
    Format(u32),
}

impl PolicyDocument {
    pub fn new(source: &str, policy: &str, files: BTreeMap<String, String>) -> PolicyDocument {
        PolicyDocument {
            format: DOCUMENT_FORMAT,
            policy: policy.to_string(),
            files,
            source: source.to_string(),
            published_by: String::new(),
            published_at: String::new(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<PolicyDocument, DocumentError> {
        let doc: PolicyDocument = serde_json::from_slice(bytes)?;
        if doc.format != DOCUMENT_FORMAT {
            return Err(DocumentError::Format(doc.format));
        }
        Ok(doc)
    }
}

/// A revision of the policy as a cluster node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub revision: u64,
    pub document: PolicyDocument,
}

impl Published {
    /// How messages name it: `cluster policy revision 7 (policy.toml)`.
    pub fn name(&self) -> String {
        format!("cluster policy revision {} ({})", self.revision, self.document.source)
    }
}
