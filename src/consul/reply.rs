//! [`Reply`]: a Consul response read to the end, and how its parts are decoded — JSON body,
//! `true`/`false` write answers, `X-Consul-Index` — into values or [`ConsulError::Decode`].

use serde::de::DeserializeOwned;

use crate::consul::error::{ConsulError, excerpt};

/// A response whose body has been read completely.
pub(crate) struct Reply {
    pub op: &'static str,
    pub status: u16,
    /// `X-Consul-Index`, when present and numeric.
    pub index: Option<u64>,
    pub index_header: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T`; anything else (truncated JSON, an HTML page) is a
    /// [`ConsulError::Decode`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConsulError> {
        serde_json::from_slice(&self.body).map_err(|e| self.decode_error(e.to_string()))
    }

    /// The body of a write that answers `true`/`false`.
    pub fn boolean(&self) -> Result<bool, ConsulError> {
        match self.text().trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.decode_error("expected `true` or `false`".into())),
        }
    }

    /// `X-Consul-Index`, which every blocking query needs for its next call.
    pub fn require_index(&self) -> Result<u64, ConsulError> {
        self.index.ok_or_else(|| {
            self.decode_error(match &self.index_header {
                Some(raw) => format!("invalid X-Consul-Index {raw:?}"),
                None => "missing X-Consul-Index header".into(),
            })
        })
    }

    pub fn decode_error(&self, reason: String) -> ConsulError {
        ConsulError::Decode {
            op: self.op,
            status: self.status,
            reason,
            body: excerpt(&self.text()),
        }
    }
}
