//! What a node knows about its place in the cluster, for `/healthz`, `/readyz` and the
//! operator console: is its bus listening, can it reach the store, since when not, how
//! often it resynchronized.

use std::time::SystemTime;

use serde::Serialize;

/// The listening side of the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum BusState {
    /// No bus: the store is SQLite, whose file belongs to this node alone.
    Single,
    /// Not listening yet (starting up).
    Connecting,
    /// Listening since the node last resynchronized.
    Listening {
        #[serde(serialize_with = "time")]
        since: SystemTime,
    },
    /// The listening connection is lost (or never came up) since `since`; the node
    /// serves from its cache and its last known state, and resynchronizes once it is
    /// listening again.
    Reconnecting {
        #[serde(serialize_with = "time")]
        since: SystemTime,
        error: String,
    },
}

/// Whether the store answered the last time the node asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum StoreState {
    Reachable,
    Unreachable {
        /// The first failure of this outage.
        #[serde(serialize_with = "time")]
        since: SystemTime,
        error: String,
    },
}

/// A snapshot of the node's cluster state ([`super::Cluster::status`]).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// This node's id (messages it sends carry it; it ignores those it receives back).
    pub node: String,
    /// The notification channel, when there is a bus.
    pub channel: Option<String>,
    pub bus: BusState,
    pub store: StoreState,
    /// Resynchronizations done (at start, after every reconnect, on request).
    pub resyncs: u64,
    #[serde(serialize_with = "optional_time")]
    pub last_resync: Option<SystemTime>,
    /// Messages from other nodes applied.
    pub applied: u64,
    /// Messages sent to other nodes.
    pub published: u64,
    /// Failed attempts to send (each is retried; see `docs/operations.md`).
    pub publish_failures: u64,
    pub last_publish_error: Option<String>,
}

impl ClusterStatus {
    pub(super) fn new(node: String, channel: Option<String>) -> Self {
        ClusterStatus {
            node,
            bus: if channel.is_some() {
                BusState::Connecting
            } else {
                BusState::Single
            },
            channel,
            store: StoreState::Reachable,
            resyncs: 0,
            last_resync: None,
            applied: 0,
            published: 0,
            publish_failures: 0,
            last_publish_error: None,
        }
    }

    /// Whether the node can trust its cache: it has no bus, or it listens (having
    /// resynchronized when it began to).
    pub fn in_sync(&self) -> bool {
        matches!(self.bus, BusState::Single | BusState::Listening { .. })
    }

    /// One line for people: `/healthz` and `/readyz` say this.
    pub fn bus_line(&self) -> String {
        match &self.bus {
            BusState::Single => "single node (SQLite store): no cluster bus".into(),
            BusState::Connecting => "cluster bus: connecting".into(),
            BusState::Listening { since } => format!(
                "cluster bus: listening on {} since {}",
                self.channel.as_deref().unwrap_or_default(),
                rfc3339(*since)
            ),
            BusState::Reconnecting { since, error } => format!(
                "cluster bus: reconnecting since {} ({error}); serving from cache and last known state",
                rfc3339(*since)
            ),
        }
    }

    /// `"ok"` or `"unreachable since … (error)"`.
    pub fn store_line(&self) -> String {
        match &self.store {
            StoreState::Reachable => "ok".into(),
            StoreState::Unreachable { since, error } => {
                format!("unreachable since {} ({error})", rfc3339(*since))
            }
        }
    }

    /// What is wrong, if anything: `None` when the store is reachable and the node is
    /// in sync.
    pub fn degraded(&self) -> Option<String> {
        let mut problems = Vec::new();
        if self.store != StoreState::Reachable {
            problems.push(format!("store {}", self.store_line()));
        }
        if !self.in_sync() {
            problems.push(self.bus_line());
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

/// `2026-11-21T22:17:14Z`. The `time` crate comes with `cookie` (which re-exports it),
/// so no extra dependency is needed for a correct calendar.
pub fn rfc3339(t: SystemTime) -> String {
    use cookie::time::format_description::well_known::Rfc3339;
    use cookie::time::OffsetDateTime;
    let whole_seconds = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()))
        .unwrap_or(t);
    OffsetDateTime::from(whole_seconds)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "an unknown time".into())
}

fn time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn optional_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(250)
    }

    #[test]
    fn times_are_rfc3339_utc_to_the_second() {
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_303_034)), "2026-11-21T23:17:14Z");
    }

    #[test]
    fn a_single_node_is_in_sync_and_says_it_has_no_bus() {
        let s = ClusterStatus::new("n1".into(), None);
        assert!(s.in_sync());
        assert_eq!(s.degraded(), None);
        assert_eq!(s.bus_line(), "single node (SQLite store): no cluster bus");
        assert_eq!(
            serde_json::to_value(&s).expect("json")["bus"],
            serde_json::json!({"state": "single"})
        );
    }

    #[test]
    fn a_node_with_a_bus_is_in_sync_only_while_listening() {
        let mut s = ClusterStatus::new("n1".into(), Some("tessera_events".into()));
        assert!(!s.in_sync(), "not before it listens");
        assert_eq!(s.degraded().as_deref(), Some("cluster bus: connecting"));
        s.bus = BusState::Listening { since: at(60) };
        assert!(s.in_sync());
        assert_eq!(
            s.bus_line(),
            "cluster bus: listening on tessera_events since 1970-01-01T00:01:00Z"
        );
        s.bus = BusState::Reconnecting {
            since: at(120),
            error: "connection refused".into(),
        };
        s.store = StoreState::Unreachable {
            since: at(119),
            error: "pool timed out".into(),
        };
        assert!(!s.in_sync());
        assert_eq!(
            s.degraded().as_deref(),
            Some(
                "store unreachable since 1970-01-01T00:01:59Z (pool timed out); \
                 cluster bus: reconnecting since 1970-01-01T00:02:00Z (connection refused); \
                 serving from cache and last known state"
            )
        );
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(
            json["bus"],
            serde_json::json!({"state": "reconnecting", "since": "1970-01-01T00:02:00Z", "error": "connection refused"})
        );
        assert_eq!(json["store"]["state"], "unreachable");
    }
}
