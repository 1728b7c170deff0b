//! Signed-in users as the store last gave them: the user record and their resolved
//! tokens and profile, reused for the user's next requests for `[auth]
//! identity-cache-ttl` instead of two store round trips per request.
//!
//! What keeps it true:
//! - Every change this node makes to a user's profile goes through
//!   [`super::identity::set_profile_values`], which forgets the user here and tells the
//!   other nodes (a `user` message on the cluster bus), which forget them too.
//! - A lookup that started before a change cannot put what it read back afterwards: each
//!   forget moves a generation on, and an entry read under an older generation is not
//!   kept ([`KnownUsers::keep`]).
//! - A cluster resynchronization (after a gap on the bus) forgets everyone.
//! - Changes written to the store by other means (SQL, another program) take effect
//!   within the time to live.
//!
//! Sessions are not cached: a session cookie is still checked against the store on every
//! request, so signing out (here or on another node) ends it at once; only the user
//! behind it comes from here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use tessera_descriptors::Settings;

use super::identity::{self, Identity};

/// Under which a user is found: the single-sign-on header's login (as the store folds
/// it) or the user id a session names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Known {
    Login(Box<str>),
    Id(i64),
}

impl Known {
    pub fn login(login: &str) -> Self {
        Known::Login(tessera_store::login_key(login).into_boxed_str())
    }
}

/// The cache. Disabled (every lookup misses, nothing is kept) when the time to live is 0.
/// It also holds the anonymous identity, the same for every guest of the node (its
/// settings are fixed), made once rather than per request.
pub struct KnownUsers {
    entries: Option<Cache<Known, Arc<Identity>>>,
    generation: AtomicU64,
    anonymous: Identity,
}

/// Where a lookup started: pass it to [`KnownUsers::keep`] with what the store answered.
#[derive(Clone, Copy, Debug)]
pub struct Generation(u64);

impl KnownUsers {
    pub fn new(settings: &Settings) -> Self {
        let auth = &settings.auth;
        let entries = (!auth.identity_cache_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(auth.identity_cache_size)
                .time_to_live(auth.identity_cache_ttl)
                .build()
        });
        Self {
            entries,
            generation: AtomicU64::new(0),
            anonymous: identity::anonymous(settings),
        }
    }

    /// A cache that keeps nothing.
    pub fn disabled() -> Self {
        let mut settings = Settings::default();
        settings.auth.identity_cache_ttl = Duration::ZERO;
        Self::new(&settings)
    }

    /// A guest's identity.
    pub fn anonymous(&self) -> Identity {
        self.anonymous.clone()
    }

    /// The identity known under `key` (without session or CSRF token).
    pub fn get(&self, key: &Known) -> Option<Arc<Identity>> {
        self.entries.as_ref()?.get(key)
    }

    /// Call before reading a user from the store.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `identity` under `keys`, unless a user was forgotten since `read_at`: then
    /// what was read may predate that change, and the next request reads again.
    pub fn keep(&self, read_at: Generation, keys: &[Known], identity: Arc<Identity>) {
        let Some(entries) = &self.entries else { return };
        for key in keys {
            entries.insert(key.clone(), identity.clone());
        }
        // Checked after inserting: a forget that ran meanwhile may have missed the new
        // entries, so they go again.
        if self.generation.load(Ordering::Acquire) != read_at.0 {
            for key in keys {
                entries.invalidate(key);
            }
        }
    }

    /// Forgets the user with this id and login: their next request reads the store.
    pub fn forget(&self, id: i64, login: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.invalidate(&Known::Id(id));
            entries.invalidate(&Known::login(login));
        }
    }

    /// Forgets everyone (a cluster resynchronization).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }
}

impl std::fmt::Debug for KnownUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownUsers")
            .field("enabled", &self.entries.is_some())
            .field("entries", &self.entries.as_ref().map(Cache::entry_count))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> KnownUsers {
        KnownUsers::new(&Settings::default())
    }

    fn anna() -> Arc<Identity> {
        Arc::new(Identity::default())
    }

    #[test]
    fn logins_are_folded_as_the_store_folds_them() {
        assert_eq!(Known::login("Anna"), Known::login("anna"));
        assert_ne!(Known::login("anna"), Known::login("anne"));
    }

    #[test]
    fn kept_until_forgotten() {
        let known = cache();
        let at = known.generation();
        known.keep(at, &[Known::login("Anna"), Known::Id(7)], anna());
        assert!(known.get(&Known::login("ANNA")).is_some());
        assert!(known.get(&Known::Id(7)).is_some());
        known.forget(7, "anna");
        assert!(known.get(&Known::login("anna")).is_none());
        assert!(known.get(&Known::Id(7)).is_none());
    }

    #[test]
    fn a_read_that_started_before_a_forget_is_not_kept() {
        let known = cache();
        let at = known.generation();
        // The user changes while their old record is being read …
        known.forget(7, "anna");
        // … and the old record must not come back.
        known.keep(at, &[Known::Id(7)], anna());
        assert!(known.get(&Known::Id(7)).is_none());
        // A read that starts afterwards is kept.
        let at = known.generation();
        known.keep(at, &[Known::Id(7)], anna());
        assert!(known.get(&Known::Id(7)).is_some());
    }

    #[test]
    fn clear_forgets_everyone() {
        let known = cache();
        let at = known.generation();
        known.keep(at, &[Known::Id(1), Known::Id(2)], anna());
        known.clear();
        assert!(known.get(&Known::Id(1)).is_none());
        assert!(known.get(&Known::Id(2)).is_none());
    }

    #[test]
    fn a_zero_time_to_live_keeps_nothing() {
        let known = KnownUsers::disabled();
        let at = known.generation();
        known.keep(at, &[Known::Id(1)], anna());
        assert!(known.get(&Known::Id(1)).is_none());
    }
}
