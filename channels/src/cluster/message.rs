//! What nodes tell each other over the bus, and how it is written: one small JSON object
//! per notification, well below PostgreSQL's 8000-byte limit.
//!
//! ```json
//! {"node":"web-1","kind":"invalidate","targets":{"objects":["news:42"]},"mode":"hard"}
//! {"node":"web-1","kind":"toggle","service":"news"}
//! {"node":"web-1","kind":"descriptors","version":12}
//! {"node":"web-1","kind":"user","id":7,"login":"anna"}
//! {"node":"web-1","kind":"resync"}
//! ```
//!
//! Messages carry keys, ids and versions, never state: a receiver reads the state itself
//! from the store (the toggle of `news`, the descriptor set), so a late or repeated
//! message does no harm. An invalidation naming more keys than fit in one notification is
//! split into several; one that cannot be split small enough (a single enormous key)
//! becomes a `resync`, which makes every other node drop its whole cache.

use serde::{Deserialize, Serialize};
use tessera_fragments::cache::{Mode, Targets};

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The sending node: a node ignores its own messages.
    pub node: String,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened on the sending node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Event {
    /// Cached entries were invalidated: do the same here.
    Invalidate { targets: WireTargets, mode: Mode },
    /// An operator toggle of this service changed: read it from the store.
    Toggle { service: String },
    /// The registered descriptor set is now at this version: read it from the store.
    Descriptors { version: i64 },
    /// This user's profile changed: read the user from the store on their next request.
    User { id: i64, login: String },
    /// The sender cannot say what changed: reload everything and drop the cache.
    Resync,
}

/// [`Targets`] on the wire: empty lists are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireTargets {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fragments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
}

impl From<&Targets> for WireTargets {
    fn from(t: &Targets) -> Self {
        WireTargets {
            objects: t.objects.clone(),
            fragments: t.fragments.clone(),
            pages: t.pages.clone(),
            users: t.users.clone(),
            templates: t.templates.clone(),
        }
    }
}

impl From<WireTargets> for Targets {
    fn from(t: WireTargets) -> Self {
        Targets {
            objects: t.objects,
            fragments: t.fragments,
            pages: t.pages,
            users: t.users,
            templates: t.templates,
        }
    }
}

impl WireTargets {
    fn lists_mut(&mut self) -> [&mut Vec<String>; 5] {
        [
            &mut self.objects,
            &mut self.fragments,
            &mut self.pages,
            &mut self.users,
            &mut self.templates,
        ]
    }

    fn len(&self) -> usize {
        self.objects.len()
            + self.fragments.len()
            + self.pages.len()
            + self.users.len()
            + self.templates.len()
    }
}

impl Message {
    pub fn new(node: &str, event: Event) -> Self {
        Message {
            node: node.to_owned(),
            event,
        }
    }

    pub fn encode(&self) -> String {
        // Serializing strings, integers and unit variants cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(payload: &str) -> Result<Message, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

/// The payloads announcing one invalidation, each at most `limit` bytes: one when it
/// fits, else the keys split over several, else (a key too large to travel at all) one
/// `resync`.
pub fn invalidation_payloads(
    node: &str,
    targets: &Targets,
    mode: Mode,
    limit: usize,
) -> Vec<String> {
    let whole = Message::new(
        node,
        Event::Invalidate {
            targets: targets.into(),
            mode,
        },
    )
    .encode();
    if whole.len() <= limit {
        return vec![whole];
    }
    let mut payloads = Vec::new();
    let mut chunk = WireTargets::default();
    let mut rest = WireTargets::from(targets);
    for list in 0..5 {
        let keys = std::mem::take(rest.lists_mut()[list]);
        for key in keys {
            chunk.lists_mut()[list].push(key);
            if encoded_len(node, &chunk, mode) <= limit {
                continue;
            }
            // The key does not fit beside the others: they travel, it starts the next.
            let key = chunk.lists_mut()[list].pop().unwrap_or_default();
            if chunk.len() > 0 {
                payloads.push(encode_invalidation(node, std::mem::take(&mut chunk), mode));
            }
            chunk.lists_mut()[list].push(key);
            if encoded_len(node, &chunk, mode) > limit {
                return vec![Message::new(node, Event::Resync).encode()];
            }
        }
    }
    if chunk.len() > 0 {
        payloads.push(encode_invalidation(node, chunk, mode));
    }
    payloads
}

fn encode_invalidation(node: &str, targets: WireTargets, mode: Mode) -> String {
    Message::new(node, Event::Invalidate { targets, mode }).encode()
}

/// Exact, and cheap enough: a split happens only for invalidations of a thousand keys,
/// an operator's act, not a hot path.
fn encoded_len(node: &str, targets: &WireTargets, mode: Mode) -> usize {
    encode_invalidation(node, targets.clone(), mode).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(objects: &[&str], pages: &[&str]) -> Targets {
        Targets {
            objects: objects.iter().map(|s| s.to_string()).collect(),
            pages: pages.iter().map(|s| s.to_string()).collect(),
            ..Targets::default()
        }
    }

    #[test]
    fn messages_are_small_json_objects_naming_their_sender() {
        let cases = [
            (
                Event::Invalidate {
                    targets: WireTargets::from(&targets(&["news:42"], &[])),
                    mode: Mode::Hard,
                },
                r#"{"node":"web-1","kind":"invalidate","targets":{"objects":["news:42"]},"mode":"hard"}"#,
            ),
            (
                Event::Toggle {
                    service: "news".into(),
                },
                r#"{"node":"web-1","kind":"toggle","service":"news"}"#,
            ),
            (
                Event::Descriptors { version: 12 },
                r#"{"node":"web-1","kind":"descriptors","version":12}"#,
            ),
            (Event::Resync, r#"{"node":"web-1","kind":"resync"}"#),
        ];
        for (event, wire) in cases {
            let message = Message::new("web-1", event);
            assert_eq!(message.encode(), wire);
            assert_eq!(Message::decode(wire).expect("decodes"), message);
        }
    }

    #[test]
    fn unknown_or_malformed_messages_are_errors() {
        for bad in [
            "",
            "not json",
            r#"{"node":"a","kind":"reboot"}"#,
            r#"{"kind":"resync"}"#,
            r#"{"node":"a","kind":"invalidate","targets":{"things":["x"]},"mode":"hard"}"#,
            r#"{"node":"a","kind":"descriptors","version":"twelve"}"#,
        ] {
            assert!(Message::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_small_invalidation_is_one_payload() {
        let t = targets(&["a", "b"], &["home"]);
        let payloads = invalidation_payloads("n", &t, Mode::Soft, 7999);
        assert_eq!(payloads.len(), 1);
        let Event::Invalidate { targets, mode } = Message::decode(&payloads[0]).expect("ok").event
        else {
            panic!("not an invalidation");
        };
        assert_eq!(
            (Targets::from(targets).objects, mode),
            (t.objects, Mode::Soft)
        );
    }

    #[test]
    fn a_large_invalidation_is_split_into_payloads_under_the_limit_carrying_every_key_once() {
        let objects: Vec<String> = (0..1000)
            .map(|i| format!("object:{i:05}:{}", "x".repeat(20)))
            .collect();
        let pages: Vec<String> = (0..30).map(|i| format!("page-{i}")).collect();
        let t = Targets {
            objects: objects.clone(),
            pages: pages.clone(),
            ..Targets::default()
        };
        let limit = 7999;
        let payloads = invalidation_payloads("node-1", &t, Mode::Refresh, limit);
        assert!(payloads.len() >= 4, "{} payloads", payloads.len());
        let (mut got_objects, mut got_pages) = (Vec::new(), Vec::new());
        for p in &payloads {
            assert!(p.len() <= limit, "{} bytes", p.len());
            let message = Message::decode(p).expect("decodes");
            assert_eq!(message.node, "node-1");
            let Event::Invalidate { targets, mode } = message.event else {
                panic!("not an invalidation: {p}");
            };
            assert_eq!(mode, Mode::Refresh);
            got_objects.extend(targets.objects);
            got_pages.extend(targets.pages);
        }
        assert_eq!((got_objects, got_pages), (objects, pages));
        // Full payloads: no more of them than the bytes need (with room for overhead).
        let total: usize = payloads.iter().map(String::len).sum();
        assert!(payloads.len() <= total / (limit - 200) + 1);
    }

    #[test]
    fn a_key_too_large_for_any_payload_becomes_a_resync() {
        let t = targets(&["small", &"k".repeat(9000)], &[]);
        let payloads = invalidation_payloads("n", &t, Mode::Hard, 7999);
        assert_eq!(payloads, [r#"{"node":"n","kind":"resync"}"#]);
    }
}
