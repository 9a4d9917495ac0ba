//! What Consul's and Nomad's blocking queries have in common: the request parameters
//! (`?index=&wait=`) and a response paired with the index the server returned in
//! `X-Consul-Index` / `X-Nomad-Index`.

use std::time::Duration;

/// A response body together with the raft index the server sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed<T> {
    /// Value of the `X-Consul-Index` / `X-Nomad-Index` header.
    pub index: u64,
    pub value: T,
}

/// Parameters of one blocking query. `index = None` (or 0) makes the server answer at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockingParams {
    /// Block until the resource's index is greater than this.
    pub index: Option<u64>,
    /// How long the server may hold the request; `None` leaves it to the server's default.
    pub wait: Option<Duration>,
}

impl BlockingParams {
    /// Query-string pairs for `index` and `wait` (`wait` in whole milliseconds, as both
    /// servers accept `ms` units).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(2);
        if let Some(index) = self.index.filter(|i| *i > 0) {
            pairs.push(("index", index.to_string()));
        }
        if let Some(wait) = self.wait {
            pairs.push(("wait", format!("{}ms", wait.as_millis().max(1))));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_index_is_not_sent() {
        let p = BlockingParams {
            index: Some(0),
            wait: Some(Duration::from_secs(2)),
        };
        assert_eq!(p.query_pairs(), vec![("wait", "2000ms".to_string())]);
    }

    #[test]
    fn index_and_wait_are_sent() {
        let p = BlockingParams {
            index: Some(42),
            wait: Some(Duration::from_millis(1500)),
        };
        assert_eq!(
            p.query_pairs(),
            vec![("index", "42".to_string()), ("wait", "1500ms".to_string())]
        );
    }
}
