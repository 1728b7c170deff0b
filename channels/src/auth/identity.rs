//! Who is asking: a session cookie (form sign-in) or a trusted single-sign-on header,
//! resolved to the user's access tokens and layered profile. An unknown, expired or
//! tampered session cookie is simply anonymous — never an error page.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use tessera_descriptors::Settings;
use tessera_engine::{Channel, PortalRequest};
use tessera_fragments::{Profile, Viewer};
use tessera_store::{StoreError, User};

use super::cookies::{self, constant_time_eq};
use super::known::{Generation, Known};
use crate::AppState;

/// The identity of one request.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Shared with the identity cache: cloning an identity copies no user data.
    pub user: Option<Arc<User>>,
    /// The session id (cookie value), when signed in through a session.
    pub session_id: Option<String>,
    /// The session's CSRF token: state-changing requests must echo it.
    pub csrf: Option<String>,
    pub tokens: Arc<BTreeSet<String>>,
    pub profile: Profile,
}

impl Identity {
    pub fn viewer(&self) -> Viewer {
        match &self.user {
            Some(u) => Viewer {
                id: u.login.clone(),
                name: u.display_name.clone(),
                anonymous: false,
            },
            None => Viewer::anonymous(),
        }
    }

    /// Whether the user may operate the portal (console and admin API).
    pub fn is_operator(&self, settings: &Settings) -> bool {
        self.user.is_some() && self.tokens.contains(&settings.access.operator_token)
    }

    /// The engine's view of a page request by this identity.
    pub fn request(&self, page: Option<String>, channel: Channel, path: &str) -> PortalRequest {
        PortalRequest {
            page,
            viewer: self.viewer(),
            channel,
            path: path.to_owned(),
            tokens: self.tokens.clone(),
            profile: self.profile.clone(),
            layout: None,
            csrf: self.csrf.clone(),
            trace: None,
        }
    }
}

/// Whether [`identify`] takes the request for a guest without asking the store: it
/// carries no single-sign-on secret header (where that sign-on is configured) and no
/// session cookie. (A request with an unknown or expired session cookie is a guest too,
/// which only the store can tell.)
pub fn is_plain_guest(settings: &Settings, headers: &HeaderMap) -> bool {
    settings
        .auth
        .header
        .as_ref()
        .is_none_or(|h| !headers.contains_key(h.secret_header.as_str()))
        && cookies::read(headers, cookies::SESSION).is_none()
}

/// Resolves the request's identity. Store failures degrade to anonymous (logged): the
/// public portal keeps working when the database does not. A user signed in moments ago
/// comes from [`super::known::KnownUsers`] rather than the store.
pub async fn identify(state: &AppState, headers: &HeaderMap) -> Identity {
    let settings = state.settings();
    if let Some(h) = &settings.auth.header {
        let secret_ok = headers
            .get(h.secret_header.as_str())
            .is_some_and(|v| constant_time_eq(v.as_bytes(), h.secret.as_bytes()));
        if secret_ok {
            if let Some(login) = headers
                .get(h.user_header.as_str())
                .and_then(|v| v.to_str().ok())
            {
                if let Some(known) = state.identities.get(&Known::login(login)) {
                    return Identity::clone(&known);
                }
                let read_at = state.identities.generation();
                match state.store.user_by_login(login).await {
                    Ok(Some(user)) => return signed_in(state, user, read_at).await,
                    Ok(None) => {
                        tracing::info!(login, "single-sign-on header names an unknown user")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot look the user up"),
                }
            }
        }
    }
    let Some(id) = cookies::read(headers, cookies::SESSION) else {
        return state.identities.anonymous();
    };
    // Session ids are 64 hex characters; anything else is not worth a lookup.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return state.identities.anonymous();
    }
    let now = SystemTime::now();
    let session = match state.store.session(&id, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return state.identities.anonymous(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the session");
            return state.identities.anonymous();
        }
    };
    // Push the idle expiry back, at most once a minute per session (not a write per
    // request).
    let idle = settings.auth.idle_timeout;
    let renewed = now + idle;
    if renewed
        .duration_since(session.idle_expires_at)
        .is_ok_and(|ahead| ahead >= Duration::from_secs(60))
    {
        if let Err(e) = state.store.touch_session(&id, renewed).await {
            tracing::warn!(error = %e, "cannot renew the session");
        }
    }
    let user = match state.identities.get(&Known::Id(session.user_id)) {
        Some(known) => Identity::clone(&known),
        None => {
            let read_at = state.identities.generation();
            match state.store.user(session.user_id).await {
                Ok(Some(user)) => signed_in(state, user, read_at).await,
                Ok(None) => return state.identities.anonymous(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the user");
                    return state.identities.anonymous();
                }
            }
        }
    };
    Identity {
        session_id: Some(id),
        csrf: Some(session.csrf_token),
        ..user
    }
}

pub fn anonymous(settings: &Settings) -> Identity {
    Identity {
        tokens: Arc::new(settings.access.anonymous.iter().cloned().collect()),
        profile: Profile::new(settings.profile.defaults.clone()),
        ..Identity::default()
    }
}

/// `user`'s identity (no session yet): tokens and layered profile. Kept for the user's
/// next requests unless the profile could not be read (then it is served without the
/// user's own values, logged, and read again next time).
async fn signed_in(state: &AppState, user: User, read_at: Generation) -> Identity {
    let settings = state.settings();
    let (own, complete) = match state.store.profile_values(user.id).await {
        Ok(v) => (v, true),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the profile");
            (BTreeMap::new(), false)
        }
    };
    let identity = Identity {
        tokens: Arc::new(tokens_of(settings, &user)),
        profile: Profile::new(profile_of(settings, &user, own)),
        session_id: None,
        csrf: None,
        user: Some(Arc::new(user)),
    };
    if complete {
        if let Some(user) = &identity.user {
            let keys = [Known::Id(user.id), Known::login(&user.login)];
            state
                .identities
                .keep(read_at, &keys, Arc::new(identity.clone()));
        }
    }
    identity
}

/// Writes `user`'s own profile values (see [`tessera_store::Store::set_profile_values`])
/// and makes the change count from the user's next request, on this node and, through
/// the cluster bus, on the others.
pub async fn set_profile_values(
    state: &AppState,
    user: &User,
    changes: &BTreeMap<String, Option<String>>,
) -> Result<(), StoreError> {
    let written = state.store.set_profile_values(user.id, changes).await;
    // Forgotten whatever the outcome: a failed write may still have committed.
    state.identities.forget(user.id, &user.login);
    state.cluster.publish_user(user.id, &user.login);
    written
}

/// The union of the tokens every signed-in user has, the user's roles' tokens and the
/// user's own exceptions. Code asks for tokens, never for roles or customer types.
pub fn tokens_of(settings: &Settings, user: &User) -> BTreeSet<String> {
    let mut tokens: BTreeSet<String> = settings.access.authenticated.iter().cloned().collect();
    for role in &user.roles {
        if let Some(granted) = settings.access.roles.get(role) {
            tokens.extend(granted.iter().cloned());
        }
    }
    tokens.extend(user.extra_tokens.iter().cloned());
    tokens
}

/// The user's segment: their explicit one, else the first rule they match.
pub fn segment_of<'a>(settings: &'a Settings, user: &'a User) -> Option<&'a str> {
    if let Some(s) = user.segment.as_deref() {
        return Some(s);
    }
    settings
        .profile
        .segments
        .iter()
        .find(|rule| {
            (rule.roles.is_empty() || rule.roles.iter().any(|r| user.roles.contains(r)))
                && rule
                    .attributes
                    .iter()
                    .all(|(k, v)| user.attributes.get(k) == Some(v))
        })
        .map(|rule| rule.name.as_str())
}

/// The profile in layers: portal defaults, then the segment's defaults, then the user's
/// own values (descriptor defaults sit beneath all of them, in the engine).
pub fn profile_of(
    settings: &Settings,
    user: &User,
    own: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut values = settings.profile.defaults.clone();
    if let Some(segment) = segment_of(settings, user) {
        values.insert("segment".into(), segment.to_owned());
        if let Some(rule) = settings.profile.segments.iter().find(|r| r.name == segment) {
            values.extend(rule.defaults.clone());
        }
    }
    values.extend(own);
    values
}
