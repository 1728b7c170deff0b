//! The platform-independent request the channels hand to the engine.

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_fragments::cache::ChannelKey;
use tessera_fragments::{Profile, RequestTrace, Viewer};

/// Which channel a request came through; channels render the same fragments differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Full HTML pages for browsers.
    Html,
    /// The JSON API for other front ends (shares the HTML channel's rendered stages).
    Json,
    /// Small screens: the same models rendered with the `light/` template set.
    Light,
}

impl Channel {
    pub fn key(self) -> ChannelKey {
        match self {
            Channel::Html => ChannelKey::Html,
            Channel::Json => ChannelKey::Json,
            Channel::Light => ChannelKey::Light,
        }
    }
}

/// A user's arrangement of a customizable page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLayout {
    pub slots: Vec<LayoutSlot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSlot {
    pub region: String,
    pub fragment: String,
    pub minimized: bool,
}

/// One page request, normalized by the channel-access layer.
#[derive(Debug, Clone)]
pub struct PortalRequest {
    /// The page id; `None` for the portal's home page.
    pub page: Option<String>,
    pub viewer: Viewer,
    pub channel: Channel,
    /// The path as requested, for messages such as the 404 page.
    pub path: String,
    /// The user's access tokens (roles' tokens and personal exceptions).
    /// Shared: an identity's tokens are copied into every request.
    pub tokens: Arc<BTreeSet<String>>,
    /// The user's resolved profile.
    pub profile: Profile,
    /// The user's arrangement of this page, if the page is customizable and they made one.
    pub layout: Option<PageLayout>,
    /// The session's CSRF token, for forms a layout renders (signed-in users only).
    pub csrf: Option<String>,
    /// The request id and trace context the channel made; passed to every backend call
    /// (`None`: backends get no ids).
    pub trace: Option<RequestTrace>,
}

impl PortalRequest {
    /// A request for a page by an anonymous visitor with the given tokens.
    pub fn page(page: impl Into<String>) -> Self {
        Self {
            page: Some(page.into()),
            viewer: Viewer::anonymous(),
            channel: Channel::Html,
            path: String::new(),
            tokens: Arc::new(BTreeSet::from(["public".to_owned()])),
            profile: Profile::default(),
            layout: None,
            csrf: None,
            trace: None,
        }
    }

    pub fn home() -> Self {
        Self {
            page: None,
            ..Self::page("")
        }
    }

    /// Whether the request holds every token in `required`.
    pub fn allows(&self, required: &[String]) -> bool {
        required.iter().all(|t| self.tokens.contains(t))
    }
}
