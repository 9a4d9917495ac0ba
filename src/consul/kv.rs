//! The KV endpoints (`/v1/kv/...`): reads (single key, raw, recurse, keys; blocking and
//! `?consistent`), writes (plain, with flags, CAS), lock acquire/release and deletes. Every
//! key passes the key guard (`key_guard`) before its request is sent.
//! Consul 1.8.7 answers a refused CAS/acquire/release with `200 false`, which becomes
//! [`ConsulError::Refused`].

use base64::Engine;
use reqwest::Method;
use serde::Deserialize;

use crate::blocking::{BlockingParams, Indexed};
use crate::consul::client::{Call, Consistency, ConsulClient, kv_path};
use crate::consul::error::{ConsulError, RefusedWrite};
use crate::consul::key_guard::KeyUse;
use crate::consul::reply::Reply;

/// One KV entry, with its value base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPair {
    pub key: String,
    /// The stored bytes; empty when Consul reports `null` (empty value or bare release).
    pub value: Vec<u8>,
    /// Opaque u64 stored with the value (lock recipes use it as a type marker).
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    /// How many times the key has been acquired.
    pub lock_index: u64,
    /// The session holding the key's lock, if any.
    pub session: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireKvPair {
    key: String,
    value: Option<String>,
    #[serde(default)]
    flags: u64,
    #[serde(default)]
    create_index: u64,
    #[serde(default)]
    modify_index: u64,
    #[serde(default)]
    lock_index: u64,
    #[serde(default)]
    session: Option<String>,
}

fn decode_pairs(reply: &Reply) -> Result<Vec<KvPair>, ConsulError> {
    let wire: Vec<WireKvPair> = reply.json()?;
    wire.into_iter()
        .map(|p| {
            let value = match p.value {
                Some(encoded) => base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .map_err(|e| reply.decode_error(format!("value of {}: {e}", p.key)))?,
                None => Vec::new(),
            };
            Ok(KvPair {
                key: p.key,
                value,
                flags: p.flags,
                create_index: p.create_index,
                modify_index: p.modify_index,
                lock_index: p.lock_index,
                session: p.session.filter(|s| !s.is_empty()),
            })
        })
        .collect()
}

impl ConsulClient {
    /// Reads one key. A missing key is `Ok(None)`.
    pub async fn kv_get(
        &self,
        key: &str,
        consistency: Consistency,
    ) -> Result<Option<KvPair>, ConsulError> {
        self.check_key("kv_get", key, KeyUse::Key)?;
        let call = Call::new("kv_get", Method::GET, kv_path(key)).consistency(consistency);
        Ok(self.kv_read(call).await?.value.and_then(first))
    }

    /// Blocking read of one key: returns when its index passes `params.index` or after
    /// `params.wait`. For a missing key the index is the KV table's highest index.
    pub async fn kv_get_blocking(
        &self,
        key: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Option<KvPair>>, ConsulError> {
        self.check_key("kv_get", key, KeyUse::Key)?;
        let call = Call::new("kv_get", Method::GET, kv_path(key)).blocking(params);
        let read = self.kv_read(call).await?;
        read.require_index()?;
        Ok(Indexed {
            index: read.index.unwrap_or_default(),
            value: read.value.and_then(first),
        })
    }

    /// `?raw`: the stored bytes of one key, undecoded. A missing key is `Ok(None)`.
    pub async fn kv_get_raw(&self, key: &str) -> Result<Option<Vec<u8>>, ConsulError> {
        self.check_key("kv_get_raw", key, KeyUse::Key)?;
        let reply = self
            .send(Call::new("kv_get_raw", Method::GET, kv_path(key)).query("raw", ""))
            .await?;
        if reply.status == 404 {
            return Ok(None);
        }
        check(reply).map(|r| Some(r.body))
    }

    /// `?recurse`: every entry under `prefix`. An empty prefix is an empty list. Beware:
    /// with ACLs, a token that may not read the prefix also gets an empty list (Consul
    /// filters instead of refusing).
    pub async fn kv_list(
        &self,
        prefix: &str,
        consistency: Consistency,
    ) -> Result<Vec<KvPair>, ConsulError> {
        self.check_key("kv_list", prefix, KeyUse::Folder)?;
        let call = Call::new("kv_list", Method::GET, kv_path(prefix))
            .query("recurse", "")
            .consistency(consistency);
        Ok(self.kv_read(call).await?.value.unwrap_or_default())
    }

    /// Blocking `?recurse` read of `prefix`.
    pub async fn kv_list_blocking(
        &self,
        prefix: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<KvPair>>, ConsulError> {
        self.check_key("kv_list", prefix, KeyUse::Folder)?;
        let call = Call::new("kv_list", Method::GET, kv_path(prefix))
            .query("recurse", "")
            .blocking(params);
        let read = self.kv_read(call).await?;
        read.require_index()?;
        Ok(Indexed {
            index: read.index.unwrap_or_default(),
            value: read.value.unwrap_or_default(),
        })
    }

    /// `?keys`: the key names under `prefix`; with a `separator` the names are rolled up at
    /// it (Consul's "directories", which end in the separator).
    pub async fn kv_keys(
        &self,
        prefix: &str,
        separator: Option<&str>,
    ) -> Result<Vec<String>, ConsulError> {
        self.check_key("kv_keys", prefix, KeyUse::Folder)?;
        let mut call = Call::new("kv_keys", Method::GET, kv_path(prefix)).query("keys", "");
        if let Some(separator) = separator {
            call = call.query("separator", separator);
        }
        let reply = self.send(call).await?;
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        check(reply)?.json()
    }

    /// Writes `value` and `flags` unconditionally.
    pub async fn kv_put(&self, key: &str, value: &[u8], flags: u64) -> Result<(), ConsulError> {
        let call = self.write_call("kv_put", key, value, flags)?;
        self.kv_write(call, RefusedWrite::Write, key).await
    }

    /// Writes only if the key's ModifyIndex is still `cas` (`cas = 0`: only if the key does
    /// not exist). A lost race is [`ConsulError::Refused`].
    pub async fn kv_cas(
        &self,
        key: &str,
        value: &[u8],
        flags: u64,
        cas: u64,
    ) -> Result<(), ConsulError> {
        let call = self
            .write_call("kv_cas", key, value, flags)?
            .query("cas", cas.to_string());
        self.kv_write(call, RefusedWrite::Cas, key).await
    }

    /// Takes the key's lock for `session`, writing `value` and `flags`. Refused when another
    /// session holds it or a lock-delay is running; [`ConsulError::InvalidSession`] when the
    /// session is gone. Re-acquiring a lock you hold just updates the value.
    pub async fn kv_acquire(
        &self,
        key: &str,
        session: &str,
        value: &[u8],
        flags: u64,
    ) -> Result<(), ConsulError> {
        let call = self
            .write_call("kv_acquire", key, value, flags)?
            .query("acquire", session)
            .session(session);
        self.kv_write(call, RefusedWrite::Acquire, key).await
    }

    /// Releases the key's lock held by `session`. A release is a full write: Consul stores
    /// the request's body and flags, so pass the value and flags the key should keep (a
    /// bare release wipes both, `refdata/consul/kv-get-after-bare-release.http`).
    pub async fn kv_release(
        &self,
        key: &str,
        session: &str,
        value: &[u8],
        flags: u64,
    ) -> Result<(), ConsulError> {
        let call = self
            .write_call("kv_release", key, value, flags)?
            .query("release", session)
            .session(session);
        self.kv_write(call, RefusedWrite::Release, key).await
    }

    /// Deletes one key (succeeds when it does not exist).
    pub async fn kv_delete(&self, key: &str) -> Result<(), ConsulError> {
        self.check_key("kv_delete", key, KeyUse::Key)?;
        let call = Call::new("kv_delete", Method::DELETE, kv_path(key));
        self.kv_write(call, RefusedWrite::Write, key).await
    }

    /// Deletes one key only if its ModifyIndex is still `cas`.
    pub async fn kv_delete_cas(&self, key: &str, cas: u64) -> Result<(), ConsulError> {
        self.check_key("kv_delete_cas", key, KeyUse::Key)?;
        let call =
            Call::new("kv_delete_cas", Method::DELETE, kv_path(key)).query("cas", cas.to_string());
        self.kv_write(call, RefusedWrite::DeleteCas, key).await
    }

    /// Deletes every key under `prefix`.
    pub async fn kv_delete_tree(&self, prefix: &str) -> Result<(), ConsulError> {
        self.check_key("kv_delete_tree", prefix, KeyUse::Folder)?;
        let call =
            Call::new("kv_delete_tree", Method::DELETE, kv_path(prefix)).query("recurse", "");
        self.kv_write(call, RefusedWrite::Write, prefix).await
    }

    fn write_call(
        &self,
        op: &'static str,
        key: &str,
        value: &[u8],
        flags: u64,
    ) -> Result<Call<'static>, ConsulError> {
        self.check_key(op, key, KeyUse::Key)?;
        let call = Call::new(op, Method::PUT, kv_path(key)).body(value.to_vec());
        // flags=0 is Consul's default; sending it anyway keeps every write explicit.
        Ok(call.query("flags", flags.to_string()))
    }

    async fn kv_write(
        &self,
        call: Call<'_>,
        write: RefusedWrite,
        key: &str,
    ) -> Result<(), ConsulError> {
        let reply = self.send_ok(call).await?;
        if reply.boolean()? {
            Ok(())
        } else {
            Err(ConsulError::Refused {
                write,
                key: key.to_string(),
            })
        }
    }

    /// A GET whose 404 means "nothing there" (with the index still set).
    async fn kv_read(&self, call: Call<'_>) -> Result<KvRead, ConsulError> {
        let reply = self.send(call).await?;
        if reply.status == 404 {
            return Ok(KvRead {
                index: reply.index,
                value: None,
                reply,
            });
        }
        let reply = check(reply)?;
        Ok(KvRead {
            index: reply.index,
            value: Some(decode_pairs(&reply)?),
            reply,
        })
    }
}

struct KvRead {
    index: Option<u64>,
    value: Option<Vec<KvPair>>,
    reply: Reply,
}

impl KvRead {
    fn require_index(&self) -> Result<u64, ConsulError> {
        self.reply.require_index()
    }
}

fn first(pairs: Vec<KvPair>) -> Option<KvPair> {
    pairs.into_iter().next()
}

/// Passes a 2xx reply through; maps anything else to its error.
fn check(reply: Reply) -> Result<Reply, ConsulError> {
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(crate::consul::error::from_status(
            reply.op,
            reply.status,
            &reply.text(),
            None,
        ))
    }
}
