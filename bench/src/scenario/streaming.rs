//! `s4-streaming` (issue #9 S4, issue #6's benchmark): the S2 page — backends answer
//! after 10, 10, 20, 20, 30, 30, 40 and 80 ms, nothing cached (no `<lifecycle>`, the
//! backends say `no-store`), so every request waits for every backend — delivered
//! three ways side by side: `buffered`, `in-order` and `out-of-order`
//! (`?delivery=…` on the URL).
//!
//! wrk only reports the time to the last byte, so this scenario uses the harness's own
//! client ([`crate::ttfb`]): 8 connections (S2's), each sending
//! `--stream-requests` requests one after the other, the three modes interleaved
//! round by round (`--rounds`); percentiles over every request of a mode.
//!
//! Targets, for each streamed mode, on the medians:
//! - issue #6: TTFB under 5 ms; TTLB within 5 ms of the slowest fragment (≤ 85 ms);
//! - issue #9 S4: TTFB under 2 ms; TTLB within 1 ms of it (≤ 81 ms).
//!
//! Reference run: the 80 ms backend alone, through the same client.

use std::net::SocketAddr;
use std::time::Duration;

use crate::check::Expect;
use crate::context::{ms, StreamSummary};
use crate::page::BenchPage;
use crate::portal::FRAGMENTS;
use crate::probe::Probe;
use crate::ttfb::{self, Sample, StreamRun};
use crate::{check, BenchError, Context, ScenarioId};

/// The delivery modes, labelled as in the tables.
const MODES: [(&str, &str); 3] = [
    ("s4 buffered", "/?delivery=buffered"),
    ("s4 in-order", "/?delivery=in-order"),
    ("s4 out-of-order", "/?delivery=out-of-order"),
];

/// Label of the diagnostic arm: out of order from a second node whose accepted
/// connections have `TCP_NODELAY` set (the node under test is served as `tessera
/// serve` serves, by `tessera_channels::server::serve`, which does not set it).
const NODELAY: &str = "s4 out-of-order, TCP_NODELAY (diagnostic)";

/// Label of the reference run against the 80 ms backend alone.
const BACKEND_ALONE: &str = "s4: the 80 ms backend alone";

pub(super) async fn run(ctx: &mut Context, _probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::S4Streaming;
    let page = BenchPage::start(&super::s2_backends(None)).await?;
    let addr = page.node.addr();
    for (label, path) in MODES {
        check_delivery(ctx, id, addr, label, path).await?;
    }
    let nodelay = page.nodelay_node().await?;
    let mut arms: Vec<(&str, SocketAddr, &str)> = MODES
        .iter()
        .map(|(label, path)| (*label, addr, *path))
        .collect();
    arms.push((NODELAY, nodelay.addr(), MODES[2].1));

    let conns = super::FANOUT_CONNECTIONS as usize;
    let per_conn = ctx.options.stream_requests as usize;
    let rounds = ctx.options.rounds.max(1) as usize;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); arms.len()];
    let mut run_medians: Vec<Vec<Duration>> = vec![Vec::new(); arms.len()];
    let mut calls = vec![0u64; arms.len()];
    for round in 1..=rounds {
        for (i, (label, addr, path)) in arms.iter().enumerate() {
            let before = page.backend_calls();
            let run = StreamRun {
                addr: *addr,
                path: (*path).to_owned(),
                connections: conns,
                requests_per_connection: per_conn,
            };
            let got = ttfb::measure(&run).await?;
            calls[i] += page.backend_calls().saturating_sub(before);
            let ttfb: Vec<Duration> = got.iter().map(|s| s.ttfb).collect();
            let ttlb: Vec<Duration> = got.iter().map(|s| s.ttlb).collect();
            eprintln!(
                "  {label} #{round}: {} requests, TTFB p50 {}, TTLB p50 {}, p99 {}",
                got.len(),
                ms(ttfb::median(&ttfb)),
                ms(ttfb::median(&ttlb)),
                ms(ttfb::percentile(&ttlb, 0.99))
            );
            run_medians[i].push(ttfb::median(&ttlb));
            samples[i].extend(got);
        }
    }
    for (i, (label, _, _)) in arms.iter().enumerate() {
        let mut summary = summarize(id, label, rounds, &samples[i], run_medians[i].clone());
        summary.backend_calls_per_request = Some(calls[i] as f64 / samples[i].len().max(1) as f64);
        ctx.streams.push(summary);
    }

    // The floor: the slowest backend alone, through the same client.
    let backend = page
        .backend_url(FRAGMENTS - 1)
        .ok_or_else(|| BenchError::Setup("no slowest backend".into()))?;
    let (backend_addr, backend_path) = split_url(&backend)?;
    let run = StreamRun {
        addr: backend_addr,
        path: backend_path,
        connections: conns,
        requests_per_connection: per_conn,
    };
    let alone = ttfb::measure(&run).await?;
    let ttlb: Vec<Duration> = alone.iter().map(|s| s.ttlb).collect();
    let floor = summarize(id, BACKEND_ALONE, 1, &alone, vec![ttfb::median(&ttlb)]);
    ctx.streams.push(floor);

    judge(ctx, id);
    Ok(())
}

/// One fetch per mode before the runs: the page is whole, and what its first read held.
async fn check_delivery(
    ctx: &mut Context,
    id: ScenarioId,
    addr: SocketAddr,
    label: &str,
    path: &str,
) -> Result<(), BenchError> {
    let fetched = ttfb::fetch_one(addr, path).await?;
    let body = String::from_utf8_lossy(fetched.body.as_deref().unwrap_or_default()).into_owned();
    let first = fetched.first;
    let (whole, first_ok, what) = match label {
        "s4 out-of-order" => {
            let fills = body.matches("<section class=\"tessera-late\"").count();
            let contents = body.matches("<ul>").count();
            (
                fetched.status == 200
                    && fills == FRAGMENTS
                    && contents == FRAGMENTS
                    && body.trim_end().ends_with("</html>"),
                first.head && first.placeholders == FRAGMENTS && first.fragments == 0,
                format!(
                    "HTTP {}; {fills} late sections, {contents} fragment contents, ends with </html>: {}; first read: {} bytes, head {}, {} placeholders, {} fragment contents",
                    fetched.status,
                    body.trim_end().ends_with("</html>"),
                    first.bytes,
                    first.head,
                    first.placeholders,
                    first.fragments
                ),
            )
        }
        _ => {
            let slots = check::slots(&body, &[Expect::Content; FRAGMENTS]);
            let streamed = label == "s4 in-order";
            (
                fetched.status == 200 && slots.is_ok(),
                !streamed || (first.head && first.fragments == 0),
                format!(
                    "HTTP {}; slots: {}; first read: {} bytes, head {}, {} fragment contents",
                    fetched.status,
                    slots.err().unwrap_or_else(|| "8/8 with content".into()),
                    first.bytes,
                    first.head,
                    first.fragments
                ),
            )
        }
    };
    let target = match label {
        "s4 out-of-order" => "one page: complete (8 late sections with content), first flush = head + 8 placeholders, no fragment",
        "s4 in-order" => "one page: every slot filled, first flush = head, no fragment",
        _ => "one page: every slot filled",
    };
    ctx.check(id, format!("{label}: {target}"), what, whole && first_ok);
    Ok(())
}

fn summarize(
    id: ScenarioId,
    label: &str,
    runs: usize,
    samples: &[Sample],
    ttlb_p50_of_runs: Vec<Duration>,
) -> StreamSummary {
    let pick = |f: fn(&Sample) -> Duration| samples.iter().map(f).collect::<Vec<Duration>>();
    let (headers, ttfb, ttlb) = (pick(|s| s.headers), pick(|s| s.ttfb), pick(|s| s.ttlb));
    let mut first_bytes: Vec<usize> = samples.iter().map(|s| s.first.bytes).collect();
    first_bytes.sort_unstable();
    StreamSummary {
        scenario: id,
        label: label.to_owned(),
        connections: super::FANOUT_CONNECTIONS,
        runs,
        requests: samples.len(),
        failed: samples.iter().filter(|s| s.status != 200).count(),
        headers_p50: ttfb::median(&headers),
        ttfb_p50: ttfb::median(&ttfb),
        ttfb_p99: ttfb::percentile(&ttfb, 0.99),
        ttlb_p50: ttfb::median(&ttlb),
        ttlb_p99: ttfb::percentile(&ttlb, 0.99),
        ttlb_max: ttfb::percentile(&ttlb, 1.0),
        ttlb_p50_of_runs,
        skeleton_first: samples.iter().filter(|s| s.first.fragments == 0).count(),
        first_bytes_p50: first_bytes.get(first_bytes.len() / 2).copied().unwrap_or(0),
        body_bytes: samples.first().map_or(0, |s| s.body_bytes),
        backend_calls_per_request: None,
    }
}

/// Issue #6's and S4's targets for each streamed mode, on the medians.
fn judge(ctx: &mut Context, id: ScenarioId) {
    let slowest = Duration::from_millis(super::S2_DELAYS_MS[FRAGMENTS - 1]);
    let buffered = ctx
        .streams
        .iter()
        .find(|s| s.label == MODES[0].0)
        .map(|s| s.ttlb_p50);
    let streamed: Vec<StreamSummary> = ctx
        .streams
        .iter()
        .filter(|s| s.label == MODES[1].0 || s.label == MODES[2].0)
        .cloned()
        .collect();
    for s in &streamed {
        ctx.check(
            id,
            format!("{}: every request answered 200", s.label),
            format!("{} other of {} requests", s.failed, s.requests),
            s.failed == 0,
        );
        for (issue, ttfb_limit, ttlb_margin) in [("#6", 5, 5), ("#9 S4", 2, 1)] {
            let ttfb_limit = Duration::from_millis(ttfb_limit);
            ctx.check(
                id,
                format!("{issue} {}: median TTFB < {}", s.label, ms(ttfb_limit)),
                format!("{} (p99 {})", ms(s.ttfb_p50), ms(s.ttfb_p99)),
                s.ttfb_p50 < ttfb_limit,
            );
            let ttlb_limit = slowest + Duration::from_millis(ttlb_margin);
            ctx.check(
                id,
                format!(
                    "{issue} {}: median TTLB ≤ {} (slowest fragment + {ttlb_margin} ms)",
                    s.label,
                    ms(ttlb_limit)
                ),
                format!(
                    "{} (+{} over the slowest; p99 {}){}",
                    ms(s.ttlb_p50),
                    ms(s.ttlb_p50.saturating_sub(slowest)),
                    ms(s.ttlb_p99),
                    buffered.map_or_else(String::new, |b| format!("; buffered {}", ms(b)))
                ),
                s.ttlb_p50 <= ttlb_limit,
            );
        }
    }
}

/// `http://127.0.0.1:PORT/path` → the address and the path.
fn split_url(url: &str) -> Result<(SocketAddr, String), BenchError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| BenchError::Setup(format!("not an http URL: {url}")))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = host
        .parse()
        .map_err(|e| BenchError::Setup(format!("address {host:?}: {e}")))?;
    Ok((addr, format!("/{path}")))
}
