//! A model of Consul's KV store and sessions, as much as shepard relies on: CAS puts and
//! deletes, session acquire/release (a release clears the holder and rewrites the value), and
//! session invalidation releasing every lock the session held (`Behavior = release`).

use std::collections::BTreeSet;

use shepard_reconcilers::model::{KvEntry, KvView, SessionId};

#[derive(Default)]
pub struct Consul {
    pub kv: KvView,
    index: u64,
    sessions: BTreeSet<SessionId>,
    next_session: u64,
}

impl Consul {
    pub fn create_session(&mut self) -> SessionId {
        self.next_session += 1;
        let id = SessionId(format!("session-{}", self.next_session));
        self.sessions.insert(id.clone());
        id
    }

    pub fn session_alive(&self, session: &SessionId) -> bool {
        self.sessions.contains(session)
    }

    /// Invalidates a session: every lock it holds is released, value kept.
    pub fn invalidate(&mut self, session: &SessionId) {
        if !self.sessions.remove(session) {
            return;
        }
        let held: Vec<String> = self
            .kv
            .iter()
            .filter(|(_, e)| e.session.as_ref() == Some(session))
            .map(|(k, _)| k.clone())
            .collect();
        for key in held {
            self.index += 1;
            if let Some(entry) = self.kv.get_mut(&key) {
                entry.session = None;
                entry.modify_index = self.index;
            }
        }
    }

    fn write(&mut self, key: &str, value: Option<String>, session: Option<SessionId>) {
        let same = self
            .kv
            .get(key)
            .is_some_and(|e| e.value == value && e.session == session);
        // An identical write leaves ModifyIndex unchanged (Consul 1.8.7).
        if same {
            return;
        }
        self.index += 1;
        self.kv.insert(
            key.to_owned(),
            KvEntry {
                value,
                modify_index: self.index,
                session,
            },
        );
    }

    /// `PUT ?cas=`: `cas = 0` creates only if absent.
    pub fn put_cas(&mut self, key: &str, value: String, cas: u64) -> bool {
        let current = self.kv.get(key).map_or(0, |e| e.modify_index);
        if current != cas {
            return false;
        }
        let session = self.kv.get(key).and_then(|e| e.session.clone());
        self.write(key, Some(value), session);
        true
    }

    /// Plain `PUT`.
    pub fn put(&mut self, key: &str, value: String) {
        let session = self.kv.get(key).and_then(|e| e.session.clone());
        self.write(key, Some(value), session);
    }

    /// Whether `key` is at `index` (`None`: absent) — a transaction's `check-index` or
    /// `check-not-exists`.
    pub fn at_index(&self, key: &str, index: Option<u64>) -> bool {
        self.kv.get(key).map(|e| e.modify_index) == index
    }

    pub fn acquire(&mut self, key: &str, value: String, session: &SessionId) -> bool {
        if !self.session_alive(session) {
            return false;
        }
        if let Some(holder) = self.kv.get(key).and_then(|e| e.session.as_ref())
            && holder != session
        {
            return false;
        }
        self.write(key, Some(value), Some(session.clone()));
        true
    }

    pub fn release(&mut self, key: &str, session: &SessionId) -> bool {
        if self.kv.get(key).and_then(|e| e.session.as_ref()) != Some(session) {
            return false;
        }
        self.write(key, None, None);
        true
    }

    pub fn holder(&self, key: &str) -> Option<&SessionId> {
        self.kv.get(key).and_then(|e| e.session.as_ref())
    }
}
