//! The platform-independent request the channels hand to the engine.

use tessera_fragments::Viewer;

/// Which channel a request came through; channels render the same fragments differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Full HTML pages for browsers.
    Html,
    /// The JSON API for other front ends.
    Json,
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
}

impl PortalRequest {
    pub fn page(page: impl Into<String>) -> Self {
        Self {
            page: Some(page.into()),
            viewer: Viewer::anonymous(),
            channel: Channel::Html,
            path: String::new(),
        }
    }

    pub fn home() -> Self {
        Self {
            page: None,
            ..Self::page("")
        }
    }
}
