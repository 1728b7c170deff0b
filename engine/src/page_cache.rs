//! The page stage's key and its fast path: a page served whole from the cache, without
//! producing any of its fragments.
//!
//! An assembled page is cached under its *instance* — everything that decides which
//! fragments it shows, how, and for whom: the portal version, the page and its layout's
//! version, the channel, every planned slot (fragment, region, parameters, optional /
//! primary / minimized / allowed), the request's access tokens, and the user, the
//! profile's hash and the session's CSRF token where the layout or one of the page's
//! fragments reads them. The instance is known before any fragment is produced, so one
//! lookup finds the page.
//!
//! The fragments' versions are not in the key; the entry records them
//! ([`PageValue::parts`]) and depends on every slot's rendered entry in the object
//! dependency graph. So whatever removes or replaces a part — an invalidation (by object,
//! fragment, page, user or template), a refreshed source, an eviction — removes the page
//! with it, and a page entry that is present was built from parts that are still the
//! cached ones. What the graph does not say is time: a part can stop being fresh by its
//! lifecycle while it stays cached (stale-while-revalidate, stale-if-error, validators).
//! So the entry also carries [`PageValue::fresh_until_ms`], the earliest moment one of
//! the sources behind it stops being fresh, and a soft invalidation marks it stale.
//!
//! The fast path ([`whole`]) uses the page when it is present, not marked stale and not
//! past that moment. Otherwise every slot is produced (from its own cached stages where
//! it can be) and [`crate::assemble::page_stage`] compares the parts: unchanged, the
//! cached markup is kept and its freshness renewed; changed, the layout is rendered again
//! and the new page replaces the old one under the same key.

use std::borrow::Cow;
use std::sync::Arc;

use tessera_descriptors::{FragmentDef, PageDef, ParamValue, Portal};
use tessera_fragments::cache::{ChannelKey, KeyHasher, StageKey};
use tessera_fragments::{Fragments, Params};

use crate::assemble::{LayoutReads, PageOutput};
use crate::personalize::Planned;
use crate::request::PortalRequest;

/// The page instance a request asks for: the page stage's key and what went into it.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub key: StageKey,
    /// The layout template for the request's channel (borrowed from the page unless the
    /// channel has a variant of its own).
    pub layout: Cow<'a, str>,
    pub reads: LayoutReads,
    /// Set when the layout or a produced fragment reads the user (or fetches per user):
    /// the page is this user's alone.
    pub user: Option<Arc<str>>,
}

/// What a fragment's produced content depends on beyond its parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    /// Its template reads the user, or its backend path names the user.
    pub user: bool,
    /// Its template reads the profile.
    pub profile: bool,
}

impl Reads {
    fn or(self, other: Reads) -> Reads {
        Reads {
            user: self.user || other.user,
            profile: self.profile || other.profile,
        }
    }
}

/// Composite fragments nest at most this deep in a page's analysis; deeper ones (which
/// the descriptors' cycle check makes finite anyway) count as reading everything.
const MAX_INCLUDE_DEPTH: usize = 16;

/// What a fragment (with the fragments it includes) reads, decided from its descriptor
/// and templates alone — the same rules by which `Fragments::produce_in` keys its
/// rendered entry by user or profile, so a page instance keyed by this is never shared
/// by requests whose fragments would differ.
pub fn fragment_reads(
    portal: &Portal,
    fragments: &Fragments,
    def: &FragmentDef,
    channel: ChannelKey,
) -> Reads {
    reads_at(portal, fragments, def, channel, 0)
}

fn reads_at(
    portal: &Portal,
    fragments: &Fragments,
    def: &FragmentDef,
    channel: ChannelKey,
    depth: usize,
) -> Reads {
    if depth > MAX_INCLUDE_DEPTH {
        return Reads {
            user: true,
            profile: true,
        };
    }
    let renderer = fragments.renderer();
    let mut reads = Reads {
        user: def.source.as_ref().is_some_and(|s| s.path.reads_user()),
        profile: false,
    };
    if let Some(t) = &def.template {
        let t = renderer.for_channel(t, channel.rendering());
        reads.user |= renderer.reads_user(&t);
        reads.profile |= renderer.reads_profile(&t);
    }
    for inc in &def.includes {
        if let Some(child) = portal.fragments.get(&inc.fragment) {
            reads = reads.or(reads_at(portal, fragments, child, channel, depth + 1));
        }
    }
    reads
}

/// The instance of `page` that `planned` (the request's slots) makes, for this request.
/// `generation` identifies the portal version: a new descriptor set (another template,
/// another navigation) never meets pages of the old one.
pub fn instance<'a>(
    generation: u64,
    fragments: &Fragments,
    page: &'a PageDef,
    planned: &[Planned<'_>],
    request: &PortalRequest,
) -> Instance<'a> {
    let portal = fragments.portal();
    let renderer = fragments.renderer();
    let channel = request.channel.key();
    let layout = match renderer.for_channel(&page.layout, channel) {
        Cow::Borrowed(_) => Cow::Borrowed(page.layout.as_str()),
        Cow::Owned(variant) => Cow::Owned(variant),
    };
    let reads = LayoutReads {
        user: renderer.reads_user(&layout),
        profile: renderer.reads_profile(&layout),
        csrf: renderer.reads_csrf(&layout),
    };
    let mut content = Reads {
        user: reads.user,
        profile: reads.profile,
    };
    let mut h = KeyHasher::default();
    h.u64(generation);
    for p in planned {
        h.bytes(p.region.as_bytes())
            .bytes(p.def.id.as_bytes())
            .bytes(&[
                u8::from(p.optional),
                u8::from(p.primary),
                u8::from(p.minimized),
                u8::from(p.allowed),
            ]);
        hash_params(&mut h, &p.params);
        if p.allowed && !p.minimized {
            content = content.or(fragment_reads(portal, fragments, p.def, channel));
        }
    }
    // The layout shows the navigation and the customization catalog by access tokens.
    for t in request.tokens.iter() {
        h.bytes(t.as_bytes());
    }
    h.bytes(b"tokens");
    if reads.csrf {
        // A layout with forms carries the session's token: one entry per session.
        h.bytes(request.csrf.as_deref().unwrap_or_default().as_bytes());
    }
    let user: Option<Arc<str>> = content.user.then(|| Arc::from(request.viewer.id.as_str()));
    let key = StageKey::Page {
        page: Arc::from(page.id.as_str()),
        definition: page.fingerprint,
        layout_version: renderer.version(&layout),
        channel,
        slots: h.finish(),
        profile: if content.profile {
            request.profile.hash()
        } else {
            0
        },
        user: user.clone(),
    };
    Instance {
        key,
        layout,
        reads,
        user,
    }
}

/// Parameter values in a canonical byte form (names, then each value with its kind).
fn hash_params(h: &mut KeyHasher, params: &Params) {
    for (name, value) in params {
        h.bytes(name.as_bytes());
        match value {
            ParamValue::String(s) => h.bytes(b"s").bytes(s.as_bytes()),
            ParamValue::Int(i) => h.bytes(b"i").u64(*i as u64),
            ParamValue::Bool(b) => h.bytes(b"b").bytes(&[u8::from(*b)]),
            ParamValue::List(items) => {
                h.bytes(b"l");
                for i in items {
                    h.bytes(i.as_bytes());
                }
                h.bytes(b"]")
            }
        };
    }
    h.bytes(b"params");
}

/// The fast path: the instance's page, whole, when it is cached, not soft-invalidated
/// and every source behind it is still fresh. Nothing is produced, fetched or rendered;
/// the answer's `slots` are empty and `fragments_produced` is false.
pub fn whole(fragments: &Fragments, page: &PageDef, instance: &Instance<'_>) -> Option<PageOutput> {
    let cache = fragments.cache();
    let entry = cache.get(&instance.key)?;
    let value = entry.page()?;
    if entry.is_stale() || cache.now_ms() >= value.fresh_until_ms() {
        return None;
    }
    Some(PageOutput {
        page_id: page.id.clone(),
        title: page.title.clone(),
        slots: Vec::new(),
        html: value.html.clone(),
        etag: format!("\"p{}\"", entry.version),
        per_user: value.per_user,
        max_age: value.max_age,
        page_cached: true,
        fragments_produced: false,
        status: value.status,
        redirect: None,
    })
}
