//! The in-process cache of resolved API keys and login tokens.
//!
//! Resolving a caller costs a transaction (the key by its prefix, or the token's revocation,
//! user and tenant); the answer changes only when a key, token, user or tenant changes. Every
//! such change increments the installation's authentication generation in the changing
//! transaction and announces it on `wfops_auth` (see the `auth_generation` migration). The
//! request path reads the generation (one statement) and uses an entry only when:
//!
//! - the entry was resolved at the current generation (nothing changed since), or
//! - this process has applied every announced change up to the current generation, and the
//!   entry was resolved at or after the point from which it has applied them all: each of
//!   those changes evicted the entries it touched, so a surviving entry is untouched.
//!
//! So a revocation committed before a request starts is seen by that request in every
//! process, whether or not the notification has arrived yet: an entry is trusted only as far
//! as the generation proves it. Notifications only make the invalidation precise (one key,
//! not the whole cache), and a lost one is noticed as a gap and flushes the cache. Entries also
//! age out after a short time, and key expiry is checked on every request by the caller.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wfops_db::notify::AuthNote;
use wfops_db::Db;

use super::generation::GenerationReads;

/// How long an entry is used at most, whatever the generation says.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Entries kept at most; past it, expired entries go, then everything.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A resolved API key, as the request path needs it (the secret is verified against the hash
/// on every request, so a wrong secret with a known prefix is never let through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub secret_hash: String,
    pub role: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The active user (of an active tenant) behind an unrevoked token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSubject {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub is_platform_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    ApiKey(String),
    Token(Uuid),
}

#[derive(Debug, Clone)]
enum Value {
    ApiKey(CachedKey),
    Token(CachedSubject),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    generation: i64,
    cached_at: Instant,
    /// When this process last recorded the key's use (`api_keys.last_used_at`).
    touched_at: Option<Instant>,
}

impl Entry {
    fn tenant_id(&self) -> Uuid {
        match &self.value {
            Value::ApiKey(k) => k.tenant_id,
            Value::Token(s) => s.tenant_id,
        }
    }

    fn touched_by(&self, key: &Key, note: &AuthNote) -> bool {
        if self.tenant_id() != note.tenant_id {
            return false;
        }
        match (key, &self.value) {
            // a change to a whole tenant names no user, key or token
            _ if note.user_id.is_none() && note.key_prefix.is_none() && note.jti.is_none() => true,
            (Key::ApiKey(prefix), _) => note.key_prefix.as_deref() == Some(prefix.as_str()),
            (Key::Token(jti), Value::Token(s)) => {
                note.user_id == Some(s.user_id)
                    || note.jti.as_deref() == Some(jti.to_string().as_str())
            }
            (Key::Token(_), Value::ApiKey(_)) => true,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Every change up to this generation has been applied to `entries`; `None` while no
    /// notification connection is up (entries are then trusted at their own generation only).
    applied: Option<i64>,
}

/// See the module documentation. Shared by all workers of one API process.
#[derive(Debug)]
pub struct AuthCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    capacity: usize,
    /// Keys and tokens resolved from the database (cache misses), for tests and metrics.
    resolutions: AtomicU64,
    reads: GenerationReads,
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::new(DEFAULT_TTL, DEFAULT_CAPACITY)
    }
}

impl AuthCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ttl,
            capacity: capacity.max(1),
            resolutions: AtomicU64::new(0),
            reads: GenerationReads::default(),
        }
    }

    /// The authentication generation as of a moment after this call began (concurrent
    /// requests share one read: see [`GenerationReads`]).
    pub async fn generation(&self, db: &Db) -> Result<i64, wfops_db::Error> {
        self.reads.current(db).await
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // the map is consistent after any panic in these short critical sections
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn valid(&self, inner: &Inner, entry: &Entry, current: i64) -> bool {
        if entry.cached_at.elapsed() >= self.ttl {
            return false;
        }
        entry.generation == current
            || inner
                .applied
                .is_some_and(|applied| entry.generation <= applied && current <= applied)
    }

    /// The key resolved for `prefix`, if it can be trusted at generation `current`, and whether
    /// its use is due to be recorded (at most once a minute per key and process).
    pub fn api_key(&self, prefix: &str, current: i64) -> Option<(CachedKey, bool)> {
        let mut inner = self.lock();
        let key = Key::ApiKey(prefix.to_owned());
        let entry = inner.entries.get(&key)?;
        if !self.valid(&inner, entry, current) {
            inner.entries.remove(&key);
            return None;
        }
        let Value::ApiKey(k) = &entry.value else {
            return None;
        };
        let due = entry
            .touched_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        Some((k.clone(), due))
    }

    /// The subject of token `jti`, if it can be trusted at generation `current`.
    pub fn subject(&self, jti: Uuid, current: i64) -> Option<CachedSubject> {
        let mut inner = self.lock();
        let key = Key::Token(jti);
        let entry = inner.entries.get(&key)?;
        if !self.valid(&inner, entry, current) {
            inner.entries.remove(&key);
            return None;
        }
        match &entry.value {
            Value::Token(s) => Some(s.clone()),
            Value::ApiKey(_) => None,
        }
    }

    /// Caches a key resolved at `generation` (read before the key was).
    pub fn insert_api_key(&self, prefix: &str, key: CachedKey, generation: i64) {
        self.insert(
            Key::ApiKey(prefix.to_owned()),
            Value::ApiKey(key),
            generation,
        );
    }

    /// Caches a token's subject resolved at `generation` (read before the subject was).
    pub fn insert_subject(&self, jti: Uuid, subject: CachedSubject, generation: i64) {
        self.insert(Key::Token(jti), Value::Token(subject), generation);
    }

    fn insert(&self, key: Key, value: Value, generation: i64) {
        self.resolutions.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        // A change after `generation` may already have been applied, before this entry was
        // here to be evicted by it: such an entry could never be trusted, so it is not kept.
        if inner.applied.is_some_and(|applied| applied > generation) {
            return;
        }
        if inner.entries.len() >= self.capacity {
            let ttl = self.ttl;
            inner.entries.retain(|_, e| e.cached_at.elapsed() < ttl);
            if inner.entries.len() >= self.capacity {
                inner.entries.clear();
            }
        }
        inner.entries.insert(
            key,
            Entry {
                value,
                generation,
                cached_at: Instant::now(),
                touched_at: None,
            },
        );
    }

    /// Records that the key's use was just written to the database.
    pub fn touched(&self, prefix: &str) {
        if let Some(e) = self.lock().entries.get_mut(&Key::ApiKey(prefix.to_owned())) {
            e.touched_at = Some(Instant::now());
        }
    }

    /// The notification connection is listening and the generation read after its `LISTEN`
    /// is `generation`: every later change will be announced. Entries resolved before it may
    /// have missed a change, so they go.
    pub fn listening_from(&self, generation: i64) {
        let mut inner = self.lock();
        inner.entries.retain(|_, e| e.generation >= generation);
        inner.applied = Some(generation);
    }

    /// The notification connection is down: until it is back, entries are trusted only at
    /// their own generation.
    pub fn not_listening(&self) {
        self.lock().applied = None;
    }

    /// Applies one announced change: evicts the entries it touched. A gap in the generations
    /// (a lost notification) flushes every entry older than the change.
    pub fn apply(&self, note: &AuthNote) {
        let mut inner = self.lock();
        let Some(applied) = inner.applied else {
            return;
        };
        if note.generation <= applied {
            return;
        }
        if note.generation > applied + 1 {
            inner.entries.retain(|_, e| e.generation >= note.generation);
        }
        inner
            .entries
            .retain(|k, e| e.generation >= note.generation || !e.touched_by(k, note));
        inner.applied = Some(note.generation);
    }

    /// A notification that could not be read: anything may have changed. The generation is
    /// not advanced, so the next readable one is seen as a gap too.
    pub fn flush(&self) {
        self.lock().entries.clear();
    }

    /// Entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys and tokens were resolved from the database (cache misses) so far.
    pub fn resolutions(&self) -> u64 {
        self.resolutions.load(Ordering::Relaxed)
    }

    /// The generation up to which announced changes have been applied.
    pub fn applied_generation(&self) -> Option<i64> {
        self.lock().applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tenant_id: Uuid) -> CachedKey {
        CachedKey {
            id: Uuid::new_v4(),
            tenant_id,
            secret_hash: "00".repeat(32),
            role: "viewer".into(),
            expires_at: None,
        }
    }

    fn subject(tenant_id: Uuid, user_id: Uuid) -> CachedSubject {
        CachedSubject {
            tenant_id,
            user_id,
            role: "admin".into(),
            is_platform_admin: false,
        }
    }

    fn note(generation: i64, tenant_id: Uuid) -> AuthNote {
        AuthNote {
            generation,
            tenant_id,
            user_id: None,
            key_prefix: None,
            jti: None,
        }
    }

    #[test]
    fn without_notifications_an_entry_is_trusted_at_its_own_generation_only() {
        let cache = AuthCache::default();
        let t = Uuid::new_v4();
        cache.insert_api_key("p1", key(t), 5);
        assert!(cache.api_key("p1", 5).is_some());
        // anything changed anywhere: resolve again
        assert!(cache.api_key("p1", 6).is_none());
        assert!(cache.is_empty());
        // notifications are ignored while not listening
        cache.insert_api_key("p1", key(t), 6);
        cache.apply(&note(7, t));
        assert!(cache.api_key("p1", 6).is_some());
    }

    #[test]
    fn an_announced_change_evicts_only_what_it_touched() {
        let cache = AuthCache::default();
        let (t, other) = (Uuid::new_v4(), Uuid::new_v4());
        let (user, jti, jti2) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        cache.listening_from(10);
        cache.insert_api_key("p1", key(t), 10);
        cache.insert_api_key("p2", key(t), 10);
        cache.insert_api_key("p3", key(other), 10);
        cache.insert_subject(jti, subject(t, user), 10);
        cache.insert_subject(jti2, subject(t, Uuid::new_v4()), 10);

        // generation 11 has not arrived here yet: nothing is trusted at 11
        assert!(cache.api_key("p2", 11).is_none());
        cache.insert_api_key("p2", key(t), 10);

        cache.apply(&AuthNote {
            key_prefix: Some("p1".into()),
            ..note(11, t)
        });
        assert!(cache.api_key("p1", 11).is_none(), "the revoked key");
        assert!(cache.api_key("p2", 11).is_some());
        assert!(cache.api_key("p3", 11).is_some());
        assert!(cache.subject(jti, 11).is_some());

        cache.apply(&AuthNote {
            jti: Some(jti2.to_string()),
            ..note(12, t)
        });
        assert!(cache.subject(jti2, 12).is_none(), "the logged-out token");
        assert!(cache.subject(jti, 12).is_some());

        cache.apply(&AuthNote {
            user_id: Some(user),
            ..note(13, t)
        });
        assert!(cache.subject(jti, 13).is_none(), "the deactivated user");
        assert!(cache.api_key("p2", 13).is_some(), "a key is not a user's");

        // a tenant deactivated: all of it, and nothing of the other tenant
        cache.apply(&note(14, t));
        assert!(cache.api_key("p2", 14).is_none());
        assert!(cache.api_key("p3", 14).is_some());
    }

    #[test]
    fn a_lost_notification_flushes_older_entries() {
        let cache = AuthCache::default();
        let t = Uuid::new_v4();
        cache.listening_from(1);
        cache.insert_api_key("old", key(t), 1);
        cache.insert_api_key("new", key(t), 3);
        // 2 was lost; 3 names another key
        cache.apply(&AuthNote {
            key_prefix: Some("x".into()),
            ..note(3, t)
        });
        assert!(cache.api_key("old", 3).is_none());
        assert!(cache.api_key("new", 3).is_some());
        assert_eq!(cache.applied_generation(), Some(3));
    }

    #[test]
    fn an_entry_resolved_before_an_applied_change_is_not_kept() {
        let cache = AuthCache::default();
        let t = Uuid::new_v4();
        cache.listening_from(1);
        // a request read generation 1, then the key's revocation (2) was applied, then the
        // request stores what it resolved: it may predate the revocation
        cache.apply(&AuthNote {
            key_prefix: Some("p".into()),
            ..note(2, t)
        });
        cache.insert_api_key("p", key(t), 1);
        assert!(cache.api_key("p", 2).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn reconnecting_drops_entries_that_may_have_missed_a_change() {
        let cache = AuthCache::default();
        let t = Uuid::new_v4();
        cache.insert_api_key("a", key(t), 4);
        cache.insert_api_key("b", key(t), 6);
        cache.listening_from(6);
        assert!(cache.api_key("a", 6).is_none());
        assert!(cache.api_key("b", 6).is_some());
        cache.not_listening();
        assert!(cache.api_key("b", 7).is_none());
    }

    #[test]
    fn entries_age_out_and_use_is_recorded_once_a_minute() {
        let cache = AuthCache::new(Duration::ZERO, 10);
        let t = Uuid::new_v4();
        cache.insert_api_key("p", key(t), 1);
        assert!(cache.api_key("p", 1).is_none());

        let cache = AuthCache::default();
        cache.insert_api_key("p", key(t), 1);
        assert!(cache.api_key("p", 1).unwrap().1, "never recorded: due");
        cache.touched("p");
        assert!(!cache.api_key("p", 1).unwrap().1);
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = AuthCache::new(DEFAULT_TTL, 3);
        let t = Uuid::new_v4();
        for i in 0..10 {
            cache.insert_api_key(&format!("p{i}"), key(t), 1);
            assert!(cache.len() <= 3);
        }
        assert!(cache.api_key("p9", 1).is_some());
    }
}
