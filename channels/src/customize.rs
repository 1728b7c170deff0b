//! Page customization: users add fragments from the catalog they are entitled to, remove,
//! reorder, minimize and restore them, and set their parameters — through plain HTML
//! forms (no JavaScript needed) and the JSON API. A change is validated in full before
//! anything is saved; the next page view shows it (the page's cache key changes with it).

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tessera_descriptors::PageDef;
use tessera_engine::Channel;
use tessera_store::{CustomSlot, Customization};

use crate::auth::{csrf, identify, Identity};
use crate::AppState;

/// One placed fragment, as users arrange them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub region: String,
    pub fragment: String,
    #[serde(default)]
    pub minimized: bool,
}

/// Why a customization was refused (400): a sentence for the user.
#[derive(Debug)]
pub struct Refused(pub String);

/// The user's current arrangement of `page`: saved, else the page's defaults they may see.
pub async fn current(state: &AppState, identity: &Identity, page: &PageDef) -> Vec<Placement> {
    if let Some(user) = &identity.user {
        if let Ok(Some(c)) = state.store.customization(user.id, &page.id).await {
            return c
                .slots
                .into_iter()
                .map(|s| Placement {
                    region: s.region,
                    fragment: s.fragment,
                    minimized: s.minimized,
                })
                .collect();
        }
    }
    let portal = state.engine().portal().clone();
    page.regions
        .iter()
        .flat_map(|r| r.slots.iter().map(move |s| (r, s)))
        .filter(|(_, s)| {
            portal
                .fragments
                .get(&s.fragment)
                .is_some_and(|f| f.access.iter().all(|t| identity.tokens.contains(t)))
        })
        .map(|(r, s)| Placement {
            region: r.name.clone(),
            fragment: s.fragment.clone(),
            minimized: false,
        })
        .collect()
}

/// Checks a whole arrangement: known regions, known fragments the user may see, each
/// placed once, new ones from the catalog (or the page's own).
pub fn validate(
    state: &AppState,
    identity: &Identity,
    page: &PageDef,
    slots: &[Placement],
) -> Result<(), Refused> {
    let portal = state.engine().portal().clone();
    if slots.len() > 50 {
        return Err(Refused("a page holds at most 50 fragments".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in slots {
        if !page.regions.iter().any(|r| r.name == s.region) {
            return Err(Refused(format!(
                "page \"{}\" has no region \"{}\"",
                page.id, s.region
            )));
        }
        let Some(def) = portal.fragments.get(&s.fragment) else {
            return Err(Refused(format!("there is no fragment \"{}\"", s.fragment)));
        };
        if !def.access.iter().all(|t| identity.tokens.contains(t)) {
            return Err(Refused(format!(
                "fragment \"{}\" is not available to you",
                s.fragment
            )));
        }
        let on_page = page.slots().any(|p| p.fragment == s.fragment);
        if !def.catalog && !on_page {
            return Err(Refused(format!(
                "fragment \"{}\" cannot be added to pages",
                s.fragment
            )));
        }
        if !seen.insert(&s.fragment) {
            return Err(Refused(format!(
                "fragment \"{}\" is placed twice",
                s.fragment
            )));
        }
    }
    Ok(())
}

/// Checks parameter values against the fragment's declarations.
pub fn validate_params(
    state: &AppState,
    identity: &Identity,
    fragment: &str,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Option<String>>, Refused> {
    let portal = state.engine().portal().clone();
    let Some(def) = portal.fragments.get(fragment) else {
        return Err(Refused(format!("there is no fragment \"{fragment}\"")));
    };
    if !def.access.iter().all(|t| identity.tokens.contains(t)) {
        return Err(Refused(format!(
            "fragment \"{fragment}\" is not available to you"
        )));
    }
    let mut changes = BTreeMap::new();
    for (name, raw) in values {
        let Some(decl) = def.param(name) else {
            return Err(Refused(format!(
                "fragment \"{fragment}\" has no parameter \"{name}\""
            )));
        };
        decl.parse_value(raw).map_err(Refused)?;
        changes.insert(format!("fragment.{fragment}.{name}"), Some(raw.clone()));
    }
    Ok(changes)
}

pub async fn save(
    state: &AppState,
    identity: &Identity,
    page: &PageDef,
    slots: Vec<Placement>,
) -> Result<(), Response> {
    let Some(user) = &identity.user else {
        return Err((StatusCode::UNAUTHORIZED, "sign in to customize pages").into_response());
    };
    let c = Customization {
        slots: slots
            .into_iter()
            .map(|p| CustomSlot {
                region: p.region,
                fragment: p.fragment,
                minimized: p.minimized,
                params: BTreeMap::new(),
            })
            .collect(),
        updated_at: SystemTime::now(),
    };
    state
        .store
        .put_customization(user.id, &page.id, &c)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot save a customization");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "your change could not be saved; please try again",
            )
                .into_response()
        })
}

/// The form: `action` is add, remove, up, down, minimize, restore, reset or params.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    fragment: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

pub async fn form_action(
    State(state): State<AppState>,
    Path(page_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let identity = identify(&state, &headers).await;
    if identity.user.is_none() {
        return Redirect::to(&format!("/login?next=/pages/{page_id}")).into_response();
    }
    if !csrf::valid(&identity, &form.csrf) {
        return csrf::rejected();
    }
    let portal = state.engine().portal().clone();
    let Some(page) = portal.pages.get(&page_id).filter(|p| p.customizable) else {
        return bad_request(&format!("page \"{page_id}\" cannot be customized"));
    };
    let back = if page_id == portal.settings.portal.home {
        "/".to_owned()
    } else {
        format!("/pages/{page_id}")
    };
    if form.action == "params" {
        let values: BTreeMap<String, String> = form
            .rest
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("param.").map(|n| (n.to_owned(), v.clone())))
            .collect();
        let changes = match validate_params(&state, &identity, &form.fragment, &values) {
            Ok(c) => c,
            Err(Refused(m)) => return bad_request(&m),
        };
        if let Some(user) = &identity.user {
            if let Err(e) = crate::auth::identity::set_profile_values(&state, user, &changes).await
            {
                tracing::error!(error = %e, "cannot save parameters");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "your change could not be saved",
                )
                    .into_response();
            }
        }
        return Redirect::to(&back).into_response();
    }
    let mut slots = current(&state, &identity, page).await;
    let at = slots.iter().position(|s| s.fragment == form.fragment);
    match (form.action.as_str(), at) {
        ("add", None) => {
            let region = form
                .region
                .clone()
                .or_else(|| page.regions.first().map(|r| r.name.clone()))
                .unwrap_or_default();
            slots.push(Placement {
                region,
                fragment: form.fragment.clone(),
                minimized: false,
            });
        }
        ("add", Some(_)) => {
            return bad_request(&format!(
                "fragment \"{}\" is already on this page",
                form.fragment
            ))
        }
        ("remove", Some(i)) => {
            slots.remove(i);
        }
        ("up", Some(i)) => {
            if let Some(j) = (0..i).rev().find(|j| slots[*j].region == slots[i].region) {
                slots.swap(i, j);
            }
        }
        ("down", Some(i)) => {
            if let Some(j) = (i + 1..slots.len()).find(|j| slots[*j].region == slots[i].region) {
                slots.swap(i, j);
            }
        }
        ("minimize", Some(i)) => slots[i].minimized = true,
        ("restore", Some(i)) => slots[i].minimized = false,
        ("reset", _) => {
            if let Some(user) = &identity.user {
                let _ = state.store.delete_customization(user.id, &page.id).await;
            }
            return Redirect::to(&back).into_response();
        }
        ("remove" | "up" | "down" | "minimize" | "restore", None) => {
            return bad_request(&format!(
                "fragment \"{}\" is not on this page",
                form.fragment
            ))
        }
        (other, _) => return bad_request(&format!("unknown action \"{other}\"")),
    }
    if let Err(Refused(m)) = validate(&state, &identity, page, &slots) {
        return bad_request(&m);
    }
    match save(&state, &identity, page, slots).await {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(res) => res,
    }
}

fn bad_request(message: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Not changed</title><h1>Your page was not changed</h1><p>{}</p><p><a href=\"javascript:history.back()\">Back</a></p>",
        tessera_fragments::escape_html(message)
    );
    crate::html::html(StatusCode::BAD_REQUEST, body)
}

/// The catalog of a page as the customization panel shows it.
pub fn catalog_value(state: &AppState, identity: &Identity, page: &str) -> Vec<(String, String)> {
    let request = identity.request(Some(page.to_owned()), Channel::Html, "");
    state
        .engine()
        .catalog(&request)
        .into_iter()
        .map(|f| (f.id.clone(), f.title.clone()))
        .collect()
}
