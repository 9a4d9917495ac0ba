//! Rendered template files as the agent sees them on disk: modification time and a content
//! fingerprint. The agent computes the fingerprint (any stable digest); here it is opaque.

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
    /// Last modification time.
    pub mtime: crate::time::Timestamp,
    /// Content fingerprint.
    pub fingerprint: Fingerprint,
}

impl RenderedFile {
    /// A rendered file.
    pub fn new(dest_path: &str, mtime: Timestamp, fingerprint: &str) -> Self {
        RenderedFile {
            dest_path: dest_path.to_owned(),
            mtime,
            fingerprint: Fingerprint::new(fingerprint),
        }
    }
}
