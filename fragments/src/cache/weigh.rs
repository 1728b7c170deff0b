//! What a cached entry costs in memory: the weigher behind `[cache] max-bytes`.
//!
//! The cache evicts by these numbers, so they must not undercount: a bound that
//! counts a parsed JSON model as twice its text while the tree takes six times as much
//! is no bound. Each value is counted as the heap it holds — every allocation rounded
//! the way glibc's malloc rounds it, every `BTreeMap` node and `Vec` buffer at its
//! capacity — plus the entry's own structures and a measured allowance for the cache's
//! and the dependency graph's bookkeeping per entry. The memory scenario of the load
//! harness (`memory-100k`, docs/benchmarks.md) checks the sum against the resident
//! memory of a node holding 100,000 users' pages.

use std::mem::size_of;

use serde_json::Value;

use super::entry::{Entry, PageValue, SourceData, StageValue};
use super::key::StageKey;
use crate::model::Model;

/// Bookkeeping per entry outside the entry itself: moka's entry record, its access- and
/// write-order queue nodes and timer wheel slot, its hash table slot and the `Arc`
/// around the key; the graph's slot, its edge sets and its two index maps. Measured with
/// the memory scenario (20,000 users, 140,018 entries all kept): the node's resident
/// memory grew by what the entries weighed with this allowance, within 1%.
pub const BOOKKEEPING: usize = 896;

/// Bytes the allocator takes for a request of `n` bytes: glibc's malloc adds an 8-byte
/// header and rounds up to 16, 32 at least. Nothing for `n == 0` (no allocation).
pub fn alloc(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        ((n + 8 + 15) & !15).max(32)
    }
}

/// An `Arc<str>` of `len` bytes: the text after two counters.
pub fn arc_str(len: usize) -> usize {
    alloc(len + 16)
}

/// The whole entry: its value's heap, its key, the `Arc<Entry>` and the bookkeeping.
pub fn entry(value: &StageValue, key: &StageKey) -> usize {
    self::value(value) + self::key(key) + alloc(size_of::<Entry>() + 16) + BOOKKEEPING
}

/// The heap a value holds beyond the entry's own inline fields.
pub fn value(v: &StageValue) -> usize {
    match v {
        StageValue::Source(s) => source(s),
        StageValue::Model(m) => model(m),
        StageValue::Markup(m) => arc_str(m.len()),
        StageValue::Page(p) => alloc(size_of::<PageValue>() + 16) + arc_str(p.html.len()),
    }
}

fn source(s: &SourceData) -> usize {
    let text = |o: &Option<String>| o.as_ref().map_or(0, |s| alloc(s.capacity()));
    // The body is stored as an exact copy (see `source::source_data`): one allocation
    // with the `Bytes` shared header.
    alloc(s.body.len() + 32)
        + text(&s.content_type)
        + text(&s.etag)
        + text(&s.last_modified)
        + alloc(s.object_keys.capacity() * size_of::<std::sync::Arc<str>>())
        + s.object_keys
            .iter()
            .map(|k| arc_str(k.len()))
            .sum::<usize>()
        + arc_str(s.path.len())
        + arc_str(s.service.len())
        + s.user.as_ref().map_or(0, |u| arc_str(u.len()))
}

/// A parsed model's heap.
pub fn model(m: &Model) -> usize {
    match m {
        Model::Data(v) => json(v),
        Model::Markup(s) => alloc(s.capacity()),
    }
}

/// `BTreeMap<String, Value>` nodes hold up to 11 keys and values; after splits they
/// are about two thirds full, so a map of `n` entries has about `n / 7` of them.
const BTREE_LEAF: usize = 11 * (size_of::<String>() + size_of::<Value>()) + 16;
const BTREE_FILL: usize = 7;

/// The heap of a parsed JSON value: strings, arrays at capacity, map nodes and keys.
pub fn json(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => alloc(s.capacity()),
        Value::Array(items) => {
            alloc(items.capacity() * size_of::<Value>()) + items.iter().map(json).sum::<usize>()
        }
        Value::Object(map) if map.is_empty() => 0,
        Value::Object(map) => {
            map.len().div_ceil(BTREE_FILL) * alloc(BTREE_LEAF)
                + map
                    .iter()
                    .map(|(k, v)| alloc(k.capacity()) + json(v))
                    .sum::<usize>()
        }
    }
}

/// A key: held twice inline (moka's `Arc` of it and the graph's map of keys), plus its
/// shared strings once.
pub fn key(k: &StageKey) -> usize {
    let s = |a: &std::sync::Arc<str>| arc_str(a.len());
    let o = |a: &Option<std::sync::Arc<str>>| a.as_ref().map_or(0, |x| arc_str(x.len()));
    2 * size_of::<StageKey>()
        + match k {
            StageKey::Source {
                service,
                path,
                user,
            } => s(service) + s(path) + o(user),
            StageKey::Model { fragment, .. } => s(fragment),
            StageKey::Rendered { fragment, user, .. } => s(fragment) + o(user),
            StageKey::Page { page, user, .. } => s(page) + o(user),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_round_like_malloc() {
        assert_eq!(alloc(0), 0);
        assert_eq!(alloc(1), 32);
        assert_eq!(alloc(24), 32);
        assert_eq!(alloc(25), 48);
        assert_eq!(alloc(3087), 3104);
    }

    #[test]
    fn a_parsed_document_weighs_more_than_its_text() {
        let items: Vec<String> = (0..19)
            .map(|n| {
                format!(
                    r#"{{"id":{n},"title":"Benchmark headline number {n}","url":"https://example.invalid/news/{n}","summary":"A short teaser text for item {n}, long enough to look like one."}}"#
                )
            })
            .collect();
        let text = format!(r#"{{"items":[{}]}}"#, items.join(","));
        let v: Value = serde_json::from_str(&text).expect("JSON");
        let heap = json(&v);
        // 19 maps of 4 entries: a node each (~650 B), 4 keys and 3 strings (~300 B).
        assert!(
            heap > 5 * text.len(),
            "{heap} for {} bytes of text",
            text.len()
        );
        assert!(
            heap < 8 * text.len(),
            "{heap} for {} bytes of text",
            text.len()
        );
        assert_eq!(json(&Value::Null), 0);
        assert_eq!(json(&Value::String("abc".into())), 32);
    }
}
