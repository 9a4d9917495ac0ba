//! Rendered template files as the agent sees them on disk: when their content last changed and
//! a content fingerprint. The agent computes the fingerprint (any stable digest); here it is
//! opaque.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A digest of a file's content, compared only for equality.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    /// A fingerprint from its text.
    pub fn new(text: &str) -> Self {
        Fingerprint(text.to_owned())
    }
}

/// One rendered file of a watched template. A file not rendered yet is simply not reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedFile {
    /// The template's `DestPath`, as in the job spec.
    pub dest_path: String,
    /// When the content last changed. The file's mtime, except that a rewrite with identical
    /// content (seen by the agent: same fingerprint as before) keeps the earlier time, so a
    /// re-render that changes nothing is never mistaken for a change after the run started.
    /// After an agent restart the agent knows no history and passes the mtime.
    pub changed_at: Timestamp,
    /// Content fingerprint.
    pub fingerprint: Fingerprint,
}

impl RenderedFile {
    /// A rendered file.
    pub fn new(dest_path: &str, changed_at: Timestamp, fingerprint: &str) -> Self {
        RenderedFile {
            dest_path: dest_path.to_owned(),
            changed_at,
            fingerprint: Fingerprint::new(fingerprint),
        }
    }
}
