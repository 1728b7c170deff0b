//! The behaviour every backend must show. Each function takes a fresh, empty store;
//! [`conformance_suite!`] turns the list into one `#[tokio::test]` per function for a
//! backend harness (see `sqlite.rs`, `postgres.rs`).
//!
//! This file holds the toggle and audit tests; `conformance/` those of users, sessions,
//! profile values and customizations, and login throttling.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::{AuditEntry, AuditRecord, Store, StoreError, Toggle, ToggleMode};

mod descriptors;
mod profile;
mod sessions;
mod throttle;
mod users;

pub(crate) use descriptors::*;
pub(crate) use profile::*;
pub(crate) use sessions::*;
pub(crate) use throttle::*;
pub(crate) use users::*;

/// Generates one test per conformance function, each run through `$harness`, an async
/// fn taking the test function and providing it a fresh store.
macro_rules! conformance_suite {
    ($harness:path) => {
        conformance_suite!(@tests $harness;
            kind_and_ping,
            toggles_upsert_list_delete,
            toggles_are_listed_in_byte_order,
            audit_ids_increase_and_list_newest_first,
            audit_pages_with_limit_and_before_id,
            audit_fields_round_trip,
            unicode_and_quotes_round_trip,
            concurrent_appends_get_unique_ids,
            nul_characters_are_rejected,
            sample_round_trips,
            users_create_read_and_list,
            duplicate_login_is_a_conflict_ignoring_case,
            invalid_users_are_rejected,
            session_round_trip_and_expiry,
            touch_extends_idle_expiry,
            sessions_delete_and_purge,
            invalid_sessions_are_rejected,
            profile_set_and_delete_in_one_call,
            invalid_profile_values_are_rejected_whole,
            customization_round_trip,
            invalid_customizations_are_rejected,
            concurrent_customizations_all_land,
            login_failures_count_in_the_window,
            concurrent_login_failures_are_all_counted,
            invalid_throttle_keys_are_rejected,
            user_sample_round_trips,
            descriptor_versions_commit_and_list,
            stale_descriptor_commits_are_conflicts,
            invalid_descriptor_commits_are_rejected,
        );
    };
    (@tests $harness:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $harness($crate::tests::conformance::$name).await;
            }
        )*
    };
}
pub(crate) use conformance_suite;

/// A time with millisecond precision (what the store keeps), `ms` after a fixed instant.
pub(crate) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

fn toggle(service: &str, mode: ToggleMode, reason: &str, ms: u64) -> Toggle {
    Toggle {
        service: service.into(),
        mode,
        reason: reason.into(),
        actor: "ops.alice".into(),
        at: at(ms),
    }
}

fn entry(action: &str, target: &str, ms: u64) -> AuditEntry {
    AuditEntry {
        at: at(ms),
        actor: "ops.alice".into(),
        action: action.into(),
        target: target.into(),
        reason: None,
        origin: None,
        detail: None,
    }
}

async fn append_all(store: &dyn Store, entries: &[AuditEntry]) -> Vec<i64> {
    let mut ids = Vec::new();
    for e in entries {
        ids.push(store.append_audit(e).await.expect("append_audit"));
    }
    ids
}

fn ids(records: &[AuditRecord]) -> Vec<i64> {
    records.iter().map(|r| r.id).collect()
}

pub(crate) async fn kind_and_ping(store: Arc<dyn Store>) {
    assert!(
        matches!(store.kind(), "sqlite" | "postgres"),
        "{}",
        store.kind()
    );
    store.ping().await.expect("ping");
}

pub(crate) async fn toggles_upsert_list_delete(store: Arc<dyn Store>) {
    assert_eq!(store.toggles().await.expect("toggles"), vec![]);

    let news = toggle("news", ToggleMode::Disabled, "backend migration", 1);
    let quotes = toggle("quotes", ToggleMode::ForcedClosed, "error storm", 2);
    store.put_toggle(&quotes).await.expect("put quotes");
    store.put_toggle(&news).await.expect("put news");
    assert_eq!(
        store.toggles().await.expect("toggles"),
        vec![news.clone(), quotes.clone()]
    );

    // Upsert: same service, everything else replaced; still one row.
    let news2 = Toggle {
        mode: ToggleMode::ForcedClosed,
        reason: "still migrating".into(),
        actor: "ops.bob".into(),
        at: at(10),
        ..news.clone()
    };
    store.put_toggle(&news2).await.expect("upsert news");
    assert_eq!(
        store.toggles().await.expect("toggles"),
        vec![news2, quotes.clone()]
    );

    assert!(store.delete_toggle("news").await.expect("delete news"));
    assert!(!store.delete_toggle("news").await.expect("delete again"));
    assert!(!store
        .delete_toggle("unknown")
        .await
        .expect("delete unknown"));
    assert_eq!(store.toggles().await.expect("toggles"), vec![quotes]);
}

pub(crate) async fn toggles_are_listed_in_byte_order(store: Arc<dyn Store>) {
    // A locale collation would sort these case-insensitively or ignore '_' and '.'.
    let services = ["b", "B", "a_b", "a.b", "ab", "A", "é"];
    for (i, s) in (0u64..).zip(services) {
        store
            .put_toggle(&toggle(s, ToggleMode::Disabled, "", i))
            .await
            .expect("put");
    }
    let listed: Vec<String> = store
        .toggles()
        .await
        .expect("toggles")
        .into_iter()
        .map(|t| t.service)
        .collect();
    let mut expected: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

pub(crate) async fn audit_ids_increase_and_list_newest_first(store: Arc<dyn Store>) {
    assert_eq!(store.audit(10, None).await.expect("audit"), vec![]);
    let entries: Vec<AuditEntry> = (0..5)
        .map(|i| entry("service.disable", &format!("svc{i}"), i))
        .collect();
    let appended = append_all(&*store, &entries).await;
    assert!(
        appended.windows(2).all(|w| w[0] < w[1]),
        "ids must increase: {appended:?}"
    );

    let listed = store.audit(100, None).await.expect("audit");
    let mut newest_first = appended.clone();
    newest_first.reverse();
    assert_eq!(ids(&listed), newest_first);
    let targets: Vec<&str> = listed.iter().map(|r| r.entry.target.as_str()).collect();
    assert_eq!(targets, ["svc4", "svc3", "svc2", "svc1", "svc0"]);
}

pub(crate) async fn audit_pages_with_limit_and_before_id(store: Arc<dyn Store>) {
    let entries: Vec<AuditEntry> = (0..7).map(|i| entry("page.test", "t", i)).collect();
    let appended = append_all(&*store, &entries).await;
    let mut newest_first = appended.clone();
    newest_first.reverse();

    // Walk the whole log three at a time, following the cursor.
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.audit(3, cursor).await.expect("audit page");
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        pages.push(ids(&page));
    }
    assert_eq!(
        pages,
        [
            &newest_first[0..3],
            &newest_first[3..6],
            &newest_first[6..7]
        ]
    );

    assert_eq!(store.audit(0, None).await.expect("limit 0"), vec![]);
    assert_eq!(
        store
            .audit(10, Some(appended[0]))
            .await
            .expect("before first"),
        vec![]
    );
    // A cursor need not be an existing id.
    let beyond = appended[6] + 1000;
    assert_eq!(
        ids(&store.audit(2, Some(beyond)).await.expect("future cursor")),
        newest_first[..2]
    );
    assert_eq!(
        ids(&store.audit(10, Some(appended[3])).await.expect("middle")),
        [appended[2], appended[1], appended[0]]
    );
}

pub(crate) async fn audit_fields_round_trip(store: Arc<dyn Store>) {
    let full = AuditEntry {
        at: at(123),
        actor: "ops.alice".into(),
        action: "service.disable".into(),
        target: "news".into(),
        reason: Some("backend migration".into()),
        origin: Some("192.0.2.7:51234".into()),
        detail: Some(json!({
            "previous": {"mode": null, "breaker": "closed"},
            "counts": [1, 2.5, -3, 9_007_199_254_740_993_i64],
            "flag": true,
            "text": "a \"quoted\" \\ value",
        })),
    };
    let bare = AuditEntry {
        at: UNIX_EPOCH - Duration::from_millis(86_400_000), // before 1970
        actor: "breaker".into(),
        action: "breaker.open".into(),
        target: String::new(),
        reason: None,
        origin: None,
        detail: None,
    };
    let empty_strings_and_scalar = AuditEntry {
        detail: Some(json!("just a string")),
        reason: Some(String::new()),
        origin: Some(String::new()),
        ..entry("x.y", "z", 5)
    };
    // JSON `null` is a value, distinct from no detail at all.
    let json_null = AuditEntry {
        detail: Some(serde_json::Value::Null),
        ..entry("x.y", "z", 6)
    };
    let empty_array = AuditEntry {
        detail: Some(json!([])),
        ..entry("x.y", "z", 7)
    };
    let all = [full, bare, empty_strings_and_scalar, json_null, empty_array];
    let ids_in = append_all(&*store, &all).await;
    let listed = store.audit(10, None).await.expect("audit");
    let expected: Vec<AuditRecord> = ids_in
        .iter()
        .zip(all)
        .rev()
        .map(|(id, entry)| AuditRecord { id: *id, entry })
        .collect();
    assert_eq!(listed, expected);
}

pub(crate) async fn unicode_and_quotes_round_trip(store: Arc<dyn Store>) {
    let tricky = "l'opérateur a dit \"non\"; DROP TABLE toggles; -- 😀 ünïcödé \\ % _ ?1 $1 \n\t";
    let t = Toggle {
        service: "news-ünï'\"".into(),
        mode: ToggleMode::Disabled,
        reason: tricky.into(),
        actor: "ops.zoë".into(),
        at: at(1),
    };
    store.put_toggle(&t).await.expect("put");
    assert_eq!(store.toggles().await.expect("toggles"), vec![t.clone()]);
    assert!(store.delete_toggle(&t.service).await.expect("delete"));

    let e = AuditEntry {
        reason: Some(tricky.into()),
        origin: Some("[2001:db8::1]:443".into()),
        detail: Some(json!({ tricky: [tricky, "日本語"] })),
        actor: "ops.zoë".into(),
        ..entry("service.enable", tricky, 2)
    };
    let id = store.append_audit(&e).await.expect("append");
    assert_eq!(
        store.audit(1, None).await.expect("audit"),
        vec![AuditRecord { id, entry: e }]
    );
    // The tables are still there.
    assert_eq!(store.toggles().await.expect("toggles"), vec![]);
}

pub(crate) async fn concurrent_appends_get_unique_ids(store: Arc<dyn Store>) {
    const TASKS: u64 = 50;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let e = entry("concurrent.append", &format!("task{i}"), i);
                store.append_audit(&e).await
            })
        })
        .collect();
    let mut ids_out = HashSet::new();
    for h in handles {
        let id = h.await.expect("task panicked").expect("append_audit");
        assert!(ids_out.insert(id), "duplicate id {id}");
    }
    let listed = store.audit(1000, None).await.expect("audit");
    assert_eq!(listed.len(), ids_out.len());
    let listed_ids: HashSet<i64> = ids(&listed).into_iter().collect();
    assert_eq!(listed_ids, ids_out);
    let targets: HashSet<String> = listed.into_iter().map(|r| r.entry.target).collect();
    assert_eq!(targets.len(), ids_out.len());
}

pub(crate) async fn nul_characters_are_rejected(store: Arc<dyn Store>) {
    let bad_toggle = toggle("news", ToggleMode::Disabled, "a\0b", 1);
    assert!(matches!(
        store.put_toggle(&bad_toggle).await,
        Err(StoreError::Invalid(m)) if m.contains("toggle reason")
    ));
    let bad_detail = AuditEntry {
        detail: Some(json!({"k": "\u{0}"})),
        ..entry("a", "b", 1)
    };
    assert!(matches!(
        store.append_audit(&bad_detail).await,
        Err(StoreError::Invalid(_))
    ));
    let bad_origin = AuditEntry {
        origin: Some("\0".into()),
        ..entry("a", "b", 1)
    };
    assert!(matches!(
        store.append_audit(&bad_origin).await,
        Err(StoreError::Invalid(_))
    ));
    // Nothing was written.
    assert_eq!(store.toggles().await.expect("toggles"), vec![]);
    assert_eq!(store.audit(10, None).await.expect("audit"), vec![]);
}

/// Writes a known set of toggles and audit entries (used by the reopen tests).
pub(crate) async fn write_sample(store: &dyn Store) -> Vec<i64> {
    store
        .put_toggle(&toggle("news", ToggleMode::Disabled, "maintenance", 1))
        .await
        .expect("put news");
    store
        .put_toggle(&toggle("quotes", ToggleMode::ForcedClosed, "flapping", 2))
        .await
        .expect("put quotes");
    append_all(store, &sample_entries()).await
}

/// Checks that exactly what [`write_sample`] wrote is there.
pub(crate) async fn check_sample(store: &dyn Store, ids_in: &[i64]) {
    assert_eq!(
        store.toggles().await.expect("toggles"),
        vec![
            toggle("news", ToggleMode::Disabled, "maintenance", 1),
            toggle("quotes", ToggleMode::ForcedClosed, "flapping", 2),
        ]
    );
    let expected: Vec<AuditRecord> = ids_in
        .iter()
        .zip(sample_entries())
        .rev()
        .map(|(id, entry)| AuditRecord { id: *id, entry })
        .collect();
    assert_eq!(store.audit(100, None).await.expect("audit"), expected);
}

fn sample_entries() -> Vec<AuditEntry> {
    vec![
        AuditEntry {
            reason: Some("maintenance".into()),
            origin: Some("10.0.0.5".into()),
            detail: Some(json!({"mode": "disabled"})),
            ..entry("service.disable", "news", 1)
        },
        entry("service.force_closed", "quotes", 2),
    ]
}

pub(crate) async fn sample_round_trips(store: Arc<dyn Store>) {
    let ids_in = write_sample(&*store).await;
    check_sample(&*store, &ids_in).await;
}

/// What [`write_user_sample`] wrote, for [`check_user_sample`].
pub(crate) struct UserSample {
    user: crate::User,
}

/// Writes a user with a session, profile values and a customization (used by the reopen
/// tests: acknowledged writes of every kind must survive).
pub(crate) async fn write_user_sample(store: &dyn Store) -> UserSample {
    let user = users::create(store, "Sample.User").await;
    store
        .create_session(&sessions::new_session(
            "sample-sid",
            user.id,
            60_000,
            30_000,
        ))
        .await
        .expect("create session");
    let changes = std::collections::BTreeMap::from([
        ("theme.color".to_owned(), Some("dark".to_owned())),
        ("fragment.news.topics".to_owned(), Some("tech".to_owned())),
    ]);
    store
        .set_profile_values(user.id, &changes)
        .await
        .expect("set profile");
    store
        .put_customization(user.id, "home", &profile::sample_customization(3))
        .await
        .expect("put customization");
    store
        .record_login_failure("user:sample.user", at(1))
        .await
        .expect("record failure");
    UserSample { user }
}

/// Checks that exactly what [`write_user_sample`] wrote is there.
pub(crate) async fn check_user_sample(store: &dyn Store, sample: &UserSample) {
    let id = sample.user.id;
    assert_eq!(
        store.user(id).await.expect("user"),
        Some(sample.user.clone())
    );
    assert_eq!(
        store.user_by_login("sample.user").await.expect("by login"),
        Some(sample.user.clone())
    );
    let session = store
        .session("sample-sid", at(1))
        .await
        .expect("session")
        .expect("session survived");
    assert_eq!(session.user_id, id);
    let values = store.profile_values(id).await.expect("profile");
    assert_eq!(values.get("theme.color").map(String::as_str), Some("dark"));
    assert_eq!(values.len(), 2);
    assert_eq!(
        store
            .customization(id, "home")
            .await
            .expect("customization"),
        Some(profile::sample_customization(3))
    );
    assert_eq!(
        store
            .login_failures("user:sample.user", at(0))
            .await
            .expect("failures"),
        1
    );
}

pub(crate) async fn user_sample_round_trips(store: Arc<dyn Store>) {
    let sample = write_user_sample(&*store).await;
    check_user_sample(&*store, &sample).await;
}
