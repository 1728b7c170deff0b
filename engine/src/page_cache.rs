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
use std::collections::HashMap;
use std::sync::Arc;

use tessera_descriptors::{FragmentDef, PageDef, ParamValue, Portal};
use tessera_fragments::cache::{ChannelKey, Entry, KeyHasher, PageValue, StageKey, StageValue};
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

/// What a portal version's fragments and templates read, worked out once per version
/// (descriptors and templates do not change within one) instead of on every request:
/// each fragment's [`Reads`] per rendering channel, and each template's reads and
/// version for use as a layout. [`instance`] looks them up here and works out anything
/// missing as before.
#[derive(Debug, Default)]
pub struct Analysis {
    /// By fragment id: what it reads on the HTML channel (JSON renders as HTML) and on
    /// the light channel.
    fragments: HashMap<String, [Reads; 2], foldhash::fast::RandomState>,
    /// By template name.
    layouts: HashMap<String, (LayoutReads, u64), foldhash::fast::RandomState>,
}

impl Analysis {
    pub fn new(fragments: &Fragments) -> Self {
        let portal = fragments.portal();
        Self {
            fragments: portal
                .fragments
                .values()
                .map(|def| {
                    let reads = [ChannelKey::Html, ChannelKey::Light]
                        .map(|c| fragment_reads(portal, fragments, def, c));
                    (def.id.clone(), reads)
                })
                .collect(),
            layouts: portal
                .templates
                .iter()
                .map(|(name, _)| (name.clone(), layout_facts(fragments, name)))
                .collect(),
        }
    }

    fn fragment(&self, fragments: &Fragments, def: &FragmentDef, channel: ChannelKey) -> Reads {
        let i = usize::from(channel.rendering() == ChannelKey::Light);
        match self.fragments.get(def.id.as_str()) {
            Some(reads) => reads[i],
            None => fragment_reads(fragments.portal(), fragments, def, channel),
        }
    }

    fn layout(&self, fragments: &Fragments, layout: &str) -> (LayoutReads, u64) {
        match self.layouts.get(layout) {
            Some(facts) => *facts,
            None => layout_facts(fragments, layout),
        }
    }
}

/// What a layout template reads, and its version.
fn layout_facts(fragments: &Fragments, layout: &str) -> (LayoutReads, u64) {
    let renderer = fragments.renderer();
    let reads = LayoutReads {
        user: renderer.reads_user(layout),
        profile: renderer.reads_profile(layout),
        csrf: renderer.reads_csrf(layout),
    };
    (reads, renderer.version(layout))
}

/// The instance of `page` that `planned` (the request's slots) makes, for this request.
/// `generation` identifies the portal version: a new descriptor set (another template,
/// another navigation) never meets pages of the old one. `analysis` is that version's
/// ([`Analysis::new`] over the same `fragments`).
pub fn instance<'a>(
    generation: u64,
    fragments: &Fragments,
    analysis: &Analysis,
    page: &'a PageDef,
    planned: &[Planned<'_>],
    request: &PortalRequest,
) -> Instance<'a> {
    let renderer = fragments.renderer();
    let channel = request.channel.key();
    let layout = match renderer.for_channel(&page.layout, channel) {
        Cow::Borrowed(_) => Cow::Borrowed(page.layout.as_str()),
        Cow::Owned(variant) => Cow::Owned(variant),
    };
    let (reads, layout_version) = analysis.layout(fragments, &layout);
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
            content = content.or(analysis.fragment(fragments, p.def, channel));
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
        layout_version,
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

/// A page [`whole`] found in the cache: what a later request for the same instance may
/// be answered with, without building the instance again, while [`WholePage::current`]
/// says so.
#[derive(Debug, Clone)]
pub struct WholePage {
    key: StageKey,
    entry: Arc<Entry>,
    /// The entry's value.
    page: Arc<PageValue>,
    /// The cache's epoch when it was looked up ([`tessera_fragments::cache::FragmentCache::still_cached`]).
    epoch: u64,
}

impl WholePage {
    pub fn html(&self) -> &Arc<str> {
        &self.page.html
    }

    /// Whether [`whole`] would answer with this same page at `now` for its instance:
    /// the entry is still the cache's (not removed, replaced or expired, see
    /// [`tessera_fragments::cache::FragmentCache::still_cached`], which counts the hit), not soft-invalidated, and
    /// every source behind it still fresh.
    pub fn current(&self, fragments: &Fragments, now: tokio::time::Instant) -> bool {
        let cache = fragments.cache();
        let now_ms = cache.ms_at(now);
        usable(&self.entry, &self.page, now_ms)
            && cache.still_cached(&self.key, &self.entry, self.epoch, now_ms)
    }
}

/// A cached page is served whole while it is not marked stale and its sources are fresh.
fn usable(entry: &Entry, page: &PageValue, now_ms: u64) -> bool {
    !entry.is_stale() && now_ms < page.fresh_until_ms()
}

/// The fast path: the instance's page, whole, when it is cached, not soft-invalidated
/// and every source behind it is still fresh. Nothing is produced, fetched or rendered;
/// the answer's `slots` are empty and `fragments_produced` is false.
pub fn whole(fragments: &Fragments, page: &PageDef, instance: &Instance<'_>) -> Option<PageOutput> {
    let cache = fragments.cache();
    let epoch = cache.epoch();
    let entry = cache.get(&instance.key)?;
    let StageValue::Page(value) = &entry.value else {
        return None;
    };
    if !usable(&entry, value, cache.now_ms()) {
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
        whole: Some(WholePage {
            key: instance.key.clone(),
            page: value.clone(),
            entry,
            epoch,
        }),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The repository's demo portal: templates that read the user, layouts with
    /// light-channel variants.
    fn demo() -> crate::Engine {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let portal = Portal::load(&root.join("config"), &root.join("templates"))
            .unwrap_or_else(|d| panic!("the demo portal loads:\n{d}"));
        crate::Engine::new(portal)
    }

    #[test]
    fn a_versions_analysis_agrees_with_working_it_out_per_request() {
        let engine = demo();
        let fragments = engine.fragments();
        let portal = fragments.portal();
        let analysis = Analysis::new(fragments);
        let none = Analysis::default();
        let mut seen = Reads::default();
        for def in portal.fragments.values() {
            for channel in [ChannelKey::Html, ChannelKey::Light, ChannelKey::Json] {
                let direct = fragment_reads(portal, fragments, def, channel);
                assert_eq!(
                    analysis.fragment(fragments, def, channel),
                    direct,
                    "{} on {channel:?}",
                    def.id
                );
                assert_eq!(none.fragment(fragments, def, channel), direct);
                seen = seen.or(direct);
            }
        }
        assert!(seen.user, "the demo has fragments reading the user");
        let mut light_layouts = 0;
        for page in portal.pages.values() {
            for channel in [ChannelKey::Html, ChannelKey::Light] {
                let layout = fragments.renderer().for_channel(&page.layout, channel);
                light_layouts += usize::from(matches!(layout, Cow::Owned(_)));
                let direct = layout_facts(fragments, &layout);
                assert_eq!(analysis.layout(fragments, &layout), direct, "{layout}");
                assert_eq!(none.layout(fragments, &layout), direct);
            }
        }
        assert!(light_layouts > 0, "the demo has light-channel layouts");
    }

    #[test]
    fn a_composite_fragment_reads_what_its_children_read() {
        use tessera_descriptors::{build, Kind, Sources};
        let mut sources = Sources::default();
        for (kind, label, text) in [
            (
                Kind::Fragment,
                "fragments/inner.xml",
                r#"<fragment id="inner"><template>inner.html</template></fragment>"#,
            ),
            (
                Kind::Fragment,
                "fragments/outer.xml",
                r#"<fragment id="outer"><include ref="inner"/><template>outer.html</template></fragment>"#,
            ),
            (
                Kind::Page,
                "pages/home.xml",
                r#"<page id="home" layout="page.html"><region name="main"><fragment ref="outer"/></region></page>"#,
            ),
        ] {
            sources.add_file(kind, label, text);
        }
        sources
            .templates
            .insert("inner.html", "inner.html", "Hello {{ user.name }}");
        sources
            .templates
            .insert("outer.html", "outer.html", "{{ children.inner.html }}");
        sources
            .templates
            .insert("page.html", "page.html", "{{ fragments.outer.html }}");
        let engine = crate::Engine::new(build(&sources).expect("valid"));
        let fragments = engine.fragments();
        let analysis = Analysis::new(fragments);
        let outer = &fragments.portal().fragments["outer"];
        assert!(fragments.renderer().reads_user("inner.html"));
        assert!(!fragments.renderer().reads_user("outer.html"));
        assert_eq!(
            analysis.fragment(fragments, outer, ChannelKey::Html),
            Reads {
                user: true,
                profile: false
            }
        );
    }
}
