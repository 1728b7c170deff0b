//! Stage keys: what each cached stage really depends on — never the user id unless the
//! stage reads per-user data, so that users with equal inputs share one entry.

use std::sync::Arc;

/// Which channel a rendered stage is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKey {
    Html,
    Light,
    /// The JSON channel: HTML's rendered entries, plus each fragment's data model.
    Json,
}

impl ChannelKey {
    /// The channel whose rendered entries this one uses (JSON shares HTML's).
    pub fn rendering(self) -> ChannelKey {
        match self {
            ChannelKey::Json => ChannelKey::Html,
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageKey {
    /// A backend response: the resolved request. `user` is set only when the request
    /// names the user (then the path holds the user id too).
    Source {
        service: Arc<str>,
        path: Arc<str>,
        user: Option<Arc<str>>,
    },
    /// A fragment's parsed and selected data, derived from one source version.
    Model {
        fragment: Arc<str>,
        /// The fragment definition's fingerprint: a re-registered fragment with another
        /// selection never meets its predecessor's models.
        definition: u64,
        source_version: u64,
    },
    /// A fragment's markup for a channel.
    Rendered {
        fragment: Arc<str>,
        /// The fragment definition's fingerprint.
        definition: u64,
        /// The model's source version (0 for fragments without a backend).
        source_version: u64,
        template_version: u64,
        channel: ChannelKey,
        /// A hash of the parameter values the template sees.
        params: u64,
        /// A hash of the children's versions (composite fragments).
        children: u64,
        /// The profile's hash when the template reads the profile, else 0.
        profile: u64,
        /// Set only when the template reads the user (or its source is per user).
        user: Option<Arc<str>>,
    },
    /// An assembled page.
    Page {
        page: Arc<str>,
        /// The page definition's fingerprint.
        definition: u64,
        layout_version: u64,
        channel: ChannelKey,
        /// A hash of the page instance: its planned slots (fragments, regions, parameters,
        /// flags), the request's access tokens, the portal version, the session's CSRF
        /// token where the layout reads it (`tessera_engine::page_cache::instance`). The
        /// versions of the parts are in the value, not in the key.
        slots: u64,
        /// The profile's hash when the layout reads the profile, else 0.
        profile: u64,
        user: Option<Arc<str>>,
    },
}

impl StageKey {
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Source { .. } => "source",
            Self::Model { .. } => "model",
            Self::Rendered { .. } => "rendered",
            Self::Page { .. } => "page",
        }
    }

    pub fn fragment(&self) -> Option<&str> {
        match self {
            Self::Model { fragment, .. } | Self::Rendered { fragment, .. } => Some(fragment),
            _ => None,
        }
    }

    pub fn page(&self) -> Option<&str> {
        match self {
            Self::Page { page, .. } => Some(page),
            _ => None,
        }
    }

    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Source { user, .. } | Self::Rendered { user, .. } | Self::Page { user, .. } => {
                user.as_deref()
            }
            Self::Model { .. } => None,
        }
    }

    /// Bytes the key holds in the cache ([`super::weigh::key`]).
    pub fn weight(&self) -> usize {
        super::weigh::key(self)
    }
}

/// A stable 64-bit hash (FNV-1a over a canonical byte form), for parameter and slot sets.
#[derive(Debug, Clone, Copy)]
pub struct KeyHasher(u64);

impl Default for KeyHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl KeyHasher {
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for byte in b {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}
