//! `s1-cached-home` (issue #9 S1): the cached benchmark page for 1,000 distinct users,
//! two of the eight fragments per user (their backend path ends in `/{user.id}`), 64
//! connections.
//!
//! Users sign in through the trusted single-sign-on header (`[auth.header]`): wrk sends
//! the proxy secret and a different `X-Remote-User` on every request, cycling through
//! the 1,000 users (a Lua script). Every user's page is warmed first, so that the runs
//! measure cache hits: per request the node looks the user up in the store, finds six
//! shared and two per-user rendered fragments and the user's assembled page in the cache.
//!
//! Arms, interleaved (`--rounds`), all driven with the same script so that wrk does the
//! same work: two static baselines serving the page's bytes and headers — through
//! Tessera's whole HTTP stack (a route behind `tessera_channels::finish`: issue #9's
//! "the same page bytes served as one static in-memory response by the same HTTP
//! stack") and from axum alone (what the stack itself costs shows between the two) —,
//! the page for 1,000 users, and the page for one user (the same script with one login:
//! what the number of users costs). Targets: median requests/s ≥ 50% of the static
//! median (judged against each static arm, reported for both), median p99 under 10 ms.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use tessera_store::{NewUser, Store};

use super::cached::{checked, page_cache_check, served_from_cache, wire_headers};
use super::interleave::{self, Arm};
use crate::context::ms;
use crate::node::{file_store, Node};
use crate::page::{Backend, BenchPage};
use crate::portal::{PortalSpec, FRAGMENTS, LONG_LIFECYCLE};
use crate::probe::Probe;
use crate::{BenchError, Context, ScenarioId};

/// Distinct users (issue #9 S1).
pub const USERS: usize = 1000;
/// Fragments per user out of the eight (issue #9 S1).
pub const PER_USER_FRAGMENTS: usize = 2;
/// Connections (issue #9 S1).
pub const CONNECTIONS: u32 = 64;
/// The shared secret of the trusted single-sign-on proxy the harness plays.
pub(crate) const SSO_SECRET: &str = "bench-sso-proxy-secret";
/// Headers of `[auth.header]` (the defaults).
const USER_HEADER: &str = "X-Remote-User";
const SECRET_HEADER: &str = "X-Tessera-Proxy-Secret";
/// Pages fetched at once while warming the caches.
const WARM_CONCURRENCY: usize = 16;

/// Labels of the arms.
pub(crate) const STATIC_ARM: &str = "static (s1 bytes, same script)";
/// The same bytes as a route behind Tessera's whole HTTP stack, driven with the same
/// script: "served as one static in-memory response by the same HTTP stack" (issue #9).
pub(crate) const STACK_ARM: &str = "static (s1 bytes, Tessera's stack)";
pub(crate) const ONE_USER_ARM: &str = "s1-cached-home, 1 user";

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::S1CachedHome;
    // The users are looked up on every request: a file store with its pool of
    // connections, as `tessera serve` has, not the one connection of an in-memory store.
    let (store, _store_folder) = file_store().await?;
    create_users(&store, USERS).await?;
    let spec = PortalSpec {
        lifecycle: Some(LONG_LIFECYCLE),
        per_user_fragments: PER_USER_FRAGMENTS,
        sso_secret: Some(SSO_SECRET),
        steady_services: true,
        ..PortalSpec::default()
    };
    let page = BenchPage::start_with(&[Backend::FAST; FRAGMENTS], &spec, store).await?;
    let url = page.node.url();

    let started = std::time::Instant::now();
    let fetch = |n: usize| {
        let (probe, url) = (probe.clone(), url.clone());
        async move { probe.page_as(&url, &sso(&login(n))).await }
    };
    let retried = warm_users(probe, &url, 1..=USERS, WARM_CONCURRENCY, id.name()).await?;
    ctx.note(format!(
        "{id}: {USERS} users created and their pages warmed in {} ({retried} pages asked again)",
        ms(started.elapsed())
    ));

    let first = fetch(1).await?;
    let again = fetch(1).await?;
    let other = fetch(2).await?;
    checked(&again)?;
    page_cache_check(ctx, id, &first, &again, "user1 fetched twice");
    ctx.check(
        id,
        "pages are per user (another user's page has its own ETag; Cache-Control private)",
        format!(
            "user1 {}, user2 {}; Cache-Control {:?}",
            again.header("etag"),
            other.header("etag"),
            again.header("cache-control")
        ),
        again.header("etag") != other.header("etag")
            && again.header("cache-control").starts_with("private"),
    );
    let static_node =
        Node::static_response(Bytes::from(again.body.clone()), wire_headers(&again)).await?;
    let stack_node = page
        .static_through_stack(Bytes::from(again.body.clone()), wire_headers(&again))
        .await?;

    let scripts = tempfile::tempdir()
        .map_err(|e| BenchError::Setup(format!("temporary folder for wrk scripts: {e}")))?;
    let many = write_script(scripts.path(), USERS)?;
    let one = write_script(scripts.path(), 1)?;
    let before = probe.cache_stats(&page.node).await?;
    let calls_before = page.backend_calls();
    let arm = |label: &str, url: String, script: &PathBuf, page| Arm {
        label: label.to_owned(),
        url,
        connections: CONNECTIONS,
        script: Some(script.clone()),
        page,
    };
    let arms = [
        arm(STATIC_ARM, static_node.url(), &many, None),
        arm(STACK_ARM, stack_node.url(), &many, None),
        arm(id.name(), url.clone(), &many, Some(&page)),
        arm(ONE_USER_ARM, url.clone(), &one, Some(&page)),
    ];
    let [bare, stack, subject, one_user] = interleave::interleaved(ctx, id, &arms)
        .await?
        .try_into()
        .map_err(|_| BenchError::Setup("four arms measured, four summaries expected".into()))?;
    let during = probe.cache_stats(&page.node).await?.since(&before);
    let calls = page.backend_calls().saturating_sub(calls_before);
    served_from_cache(
        ctx,
        id,
        &during,
        calls,
        subject.requests + one_user.requests,
    );
    interleave::no_failed_requests(ctx, id, &subject);
    interleave::no_failed_requests(ctx, id, &one_user);

    for (what, base) in [
        (
            "static through Tessera's stack's (the issue's baseline)",
            &stack,
        ),
        ("bare static's", &bare),
    ] {
        let ratio = subject.requests_per_sec / base.requests_per_sec;
        ctx.check(
            id,
            format!("median req/s ≥ 50% of {what}"),
            format!(
                "{:.0} vs {:.0} req/s: {:.1}% (1 user: {:.1}%)",
                subject.requests_per_sec,
                base.requests_per_sec,
                100.0 * ratio,
                100.0 * one_user.requests_per_sec / base.requests_per_sec
            ),
            ratio >= 0.5,
        );
    }
    interleave::cpu_note(ctx, id, &subject, &stack);
    interleave::cpu_note(ctx, id, &one_user, &stack);
    let p99_limit = Duration::from_millis(10);
    ctx.check(
        id,
        "median p99 < 10 ms",
        format!("{} (1 user: {})", ms(subject.p99), ms(one_user.p99)),
        subject.p99 < p99_limit,
    );
    Ok(())
}

/// Passes over the users whose warm-up page came with a fallback (not cached): a backend
/// call can time out when the machine is busy with something else.
const RETRY_PASSES: usize = 3;

/// Requests every user's page in `users`, `concurrency` at a time, until each came back
/// whole (200, every slot with content — a page with a fallback is not cached); at most
/// [`RETRY_PASSES`] more passes over the ones that did not. Returns how many were asked
/// again.
pub(crate) async fn warm_users(
    probe: &Probe,
    url: &str,
    users: impl Iterator<Item = usize>,
    concurrency: usize,
    label: &str,
) -> Result<usize, BenchError> {
    let mut pending: Vec<usize> = users.collect();
    let mut retried = 0;
    for pass in 0..=RETRY_PASSES {
        let failed: Vec<(usize, String)> = stream::iter(pending)
            .map(|n| async move {
                let page = probe.page_as(url, &sso(&login(n))).await?;
                Ok::<_, BenchError>((n, checked(&page).err().map(|e| e.to_string())))
            })
            .buffer_unordered(concurrency)
            .try_filter_map(|(n, problem)| async move { Ok(problem.map(|p| (n, p))) })
            .try_collect()
            .await?;
        if let Some((n, problem)) = failed.first() {
            if pass == RETRY_PASSES {
                return Err(BenchError::Page(format!(
                    "{label}: {} pages still not whole after {RETRY_PASSES} more tries; user{n}'s: {problem}",
                    failed.len()
                )));
            }
            eprintln!(
                "  {label}: {} warm-up pages not whole (user{n}'s: {problem}); asking again",
                failed.len()
            );
            retried += failed.len();
        }
        pending = failed.into_iter().map(|(n, _)| n).collect();
        if pending.is_empty() {
            break;
        }
    }
    Ok(retried)
}

/// `user1` … `user1000`.
pub(crate) fn login(n: usize) -> String {
    format!("user{n}")
}

/// The headers a trusted single-sign-on proxy sends for `login`.
pub(crate) fn sso(login: &str) -> [(&'static str, String); 2] {
    [
        (USER_HEADER, login.to_owned()),
        (SECRET_HEADER, SSO_SECRET.to_owned()),
    ]
}

/// Creates `users` users (`user1` …), all with one password hash (argon2 is slow on
/// purpose; the harness never signs in with a password, so one hash serves all).
pub(crate) async fn create_users(
    store: &std::sync::Arc<dyn Store>,
    users: usize,
) -> Result<(), BenchError> {
    let hash = tessera_channels::auth::password::hash("bench-password".into())
        .await
        .map_err(|e| BenchError::Setup(format!("password hash: {e}")))?;
    for n in 1..=users {
        let user = NewUser {
            login: login(n),
            display_name: format!("Bench user {n}"),
            password_hash: hash.clone(),
            roles: Vec::new(),
            segment: None,
            extra_tokens: Vec::new(),
            attributes: Default::default(),
            created_at: std::time::SystemTime::now(),
        };
        store
            .create_user(&user)
            .await
            .map_err(|e| BenchError::Setup(format!("creating {}: {e}", user.login)))?;
    }
    Ok(())
}

/// A wrk script sending the proxy secret and `X-Remote-User: userN`, N cycling through
/// `users` (each wrk thread starts at its own offset).
fn write_script(dir: &Path, users: usize) -> Result<PathBuf, BenchError> {
    let script = format!(
        r#"-- Tessera bench (generated): one single-sign-on user per request, cycling through {users}.
wrk.headers["{SECRET_HEADER}"] = "{SSO_SECRET}"
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function init(args)
  n = offset or 0
end
function request()
  n = n + 1
  wrk.headers["{USER_HEADER}"] = "user" .. (n % {users} + 1)
  return wrk.format()
end
"#
    );
    let path = dir.join(format!("sso-{users}-users.lua"));
    std::fs::write(&path, script)
        .map_err(|e| BenchError::Setup(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}
