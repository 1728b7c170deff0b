//! What a cached entry costs in memory: the weigher behind `[cache] max-bytes`.
//!
//! The cache evicts by these numbers, so they must not undercount: a bound that
//! counts a parsed JSON model as twice its text while the tree takes six times as much
//! is no bound. Each value is counted as the heap it holds — every allocation rounded
//! the way the binaries' allocator (mimalloc, ADR 0010) rounds it, every `BTreeMap`
//! node and `Vec` buffer at its
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
/// the memory scenario (100,000 users, 700,018 entries all kept): with mimalloc 3.x the
/// node's resident memory grew by 8,237.6 MiB and the entries weighed 8,200.4 MiB with
/// 896 bytes here; the 56 bytes per entry missing, rounded up, are added. With mimalloc
/// 2.x (ADR 0010) it grows by about 75 MiB more, the same whether 28,000 entries are
/// cached or 700,000 (docs/benchmarks.md, Memory): memory the allocator keeps after
/// heavy traffic, part of the node's fixed overhead, not of any entry's cost.
pub const BOOKKEEPING: usize = 960;

/// Bytes the allocator takes for a request of `n` bytes. mimalloc (the `tessera`
/// binary's allocator, ADR 0010) keeps no header; it serves a request from the block
/// size of its bin: whole 8-byte words up to 64 bytes, then four bins per power of two
/// (a request rounded up by at most 25%, 12.5% on average), and above its medium size
/// (64 KiB) whole 4 KiB pages. Nothing for `n == 0` (no allocation).
pub fn alloc(n: usize) -> usize {
    const WORD: usize = 8;
    const MEDIUM_MAX: usize = 64 * 1024;
    if n == 0 {
        return 0;
    }
    let words = n.div_ceil(WORD);
    if words <= 8 {
        return words * WORD;
    }
    if n > MEDIUM_MAX {
        return n.next_multiple_of(4096);
    }
    // The bin keeps the top three bits of `words - 1`; its blocks are the largest size
    // with those bits.
    let w = words - 1;
    let shift = (usize::BITS - 1 - w.leading_zeros()) - 2;
    (((w >> shift) + 1) << shift) * WORD
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
    fn allocations_round_like_mimalloc() {
        assert_eq!(alloc(0), 0);
        assert_eq!(alloc(1), 8);
        assert_eq!(alloc(24), 24);
        assert_eq!(alloc(64), 64);
        // 9 words: the bin of 10.
        assert_eq!(alloc(65), 80);
        assert_eq!(alloc(96), 96);
        assert_eq!(alloc(97), 112);
        // 386 words: the bin of 448 (384 < 386 ≤ 448).
        assert_eq!(alloc(3087), 3584);
        assert_eq!(alloc(4096), 4096);
        assert_eq!(alloc(64 * 1024), 64 * 1024);
        assert_eq!(alloc(64 * 1024 + 1), 64 * 1024 + 4096);
    }

    #[test]
    fn a_request_never_weighs_less_than_it_asks_nor_more_than_a_quarter_over() {
        for n in (1..70_000).step_by(7) {
            let a = alloc(n);
            assert!(a >= n, "{n} → {a}");
            assert!(a <= n.max(64) + n.max(64) / 4 + 4096, "{n} → {a}");
        }
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
        // One word-sized block for three bytes.
        assert_eq!(json(&Value::String("abc".into())), 8);
    }
}
