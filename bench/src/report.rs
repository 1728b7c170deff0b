//! The Markdown report: machine, one row per measured run, one row per target.

use std::fmt::Write as _;

use crate::child::mib;
use crate::context::{ms, us, Context, Options};
use crate::machine::Machine;
use crate::ScenarioId;

/// The whole report for an invocation.
pub fn markdown(ctx: &Context, machine: &Machine, ran: &[ScenarioId]) -> String {
    let mut out = String::new();
    let names: Vec<&str> = ran.iter().map(|s| s.name()).collect();
    let _ = writeln!(out, "## Tessera benchmark results\n");
    let _ = writeln!(
        out,
        "Scenarios: {}. {}\n",
        names.join(", "),
        describe_options(&ctx.options)
    );
    let _ = writeln!(
        out,
        "Machine: {} cores ({}), {} GiB RAM; load generator: {}. Load generator and servers share the cores.\n",
        machine.cores,
        machine.cpu,
        machine
            .memory_gib
            .map_or_else(|| "?".to_owned(), |g| g.to_string()),
        machine.wrk
    );
    out.push_str(&runs_table(ctx));
    out.push('\n');
    if !ctx.summaries.is_empty() {
        out.push_str(&medians_table(ctx));
        out.push('\n');
    }
    if !ctx.streams.is_empty() {
        out.push_str(&streams_table(ctx));
        out.push('\n');
    }
    if !ctx.memory.is_empty() {
        out.push_str(&memory_table(ctx));
        out.push('\n');
    }
    out.push_str(&targets_table(ctx));
    if !ctx.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in &ctx.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

fn describe_options(options: &Options) -> String {
    format!(
        "Each run: wrk -t{} --latency for {} s; `static`, `healthy8`, `hung-breaker-open` and `cached8` with {} connections, S1 with 64, S2/S3 with 8. Interleaved comparisons: {} runs per arm, in turn (A, B, A, B, …), judged on the medians. S4: the harness's own client, 8 connections × {} requests per run, the delivery modes in turn, {} runs each.",
        options.threads,
        options.duration.as_secs(),
        options.connections,
        options.rounds,
        options.stream_requests,
        options.rounds
    )
}

/// One row per wrk run; requests/s also as a fraction of `static` when it ran.
pub fn runs_table(ctx: &Context) -> String {
    let baseline = ctx
        .measurement(ScenarioId::Static.name())
        .map(|r| r.requests_per_sec);
    let mut out = String::from(
        "| run | conns | requests | req/s | req/s vs static | p50 | p90 | p99 | max | errors | backend calls/page | server CPU/request |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in &ctx.measurements {
        let r = &m.report;
        let ratio = baseline.filter(|b| *b > 0.0).map_or_else(
            || "—".to_owned(),
            |b| format!("{:.1}%", 100.0 * r.requests_per_sec / b),
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.label,
            m.connections,
            r.requests,
            r.requests_per_sec,
            ratio,
            ms(r.p50),
            ms(r.p90),
            ms(r.p99),
            ms(r.latency_max),
            r.errors(),
            m.backend_calls.map_or_else(
                || "—".to_owned(),
                |c| format!("{:.2}", c as f64 / r.requests.max(1) as f64)
            ),
            us(r.cpu_per_request())
        );
    }
    out
}

/// One row per arm of an interleaved comparison: the medians of its runs (each metric's
/// median on its own), and every run's requests/s.
pub fn medians_table(ctx: &Context) -> String {
    let mut out = String::from(
        "| arm (medians) | conns | runs | req/s | p50 | p90 | p99 | errors | server CPU/request | req/s of each run |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for s in &ctx.summaries {
        let each: Vec<String> = s
            .runs
            .iter()
            .map(|r| format!("{:.0}", r.requests_per_sec))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            s.label,
            s.connections,
            s.runs.len(),
            s.requests_per_sec,
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            s.errors,
            us(s.cpu_per_request),
            each.join(", ")
        );
    }
    out
}

/// S4: one row per delivery mode (and the reference), percentiles over all its requests.
pub fn streams_table(ctx: &Context) -> String {
    let mut out = String::from(
        "| mode (all runs) | conns | runs | requests | headers p50 | TTFB p50 | TTFB p99 | TTLB p50 | TTLB p99 | TTLB max | first read without fragments | first read p50 | body | backend calls/page | TTLB p50 of each run |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for s in &ctx.streams {
        let each: Vec<String> = s.ttlb_p50_of_runs.iter().map(|d| ms(*d)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} B | {} B | {} | {} |",
            s.label,
            s.connections,
            s.runs,
            s.requests,
            ms(s.headers_p50),
            ms(s.ttfb_p50),
            ms(s.ttfb_p99),
            ms(s.ttlb_p50),
            ms(s.ttlb_p99),
            ms(s.ttlb_max),
            s.skeleton_first,
            s.requests,
            s.first_bytes_p50,
            s.body_bytes,
            s.backend_calls_per_request
                .map_or_else(|| "—".to_owned(), |c| format!("{c:.2}")),
            each.join(", ")
        );
    }
    out
}

/// The memory scenario: one row per cache size.
pub fn memory_table(ctx: &Context) -> String {
    let mut out = String::from(
        "| arm | users | warm-up | max-bytes | entries | weighed | evictions | RSS at start | RSS after | peak RSS | peak − weighed | sample served whole |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in &ctx.memory {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            m.label,
            m.users,
            m.warm.as_secs_f64(),
            mib(m.cache.max_bytes),
            m.cache.entries,
            mib(m.cache.bytes),
            m.cache.evictions,
            mib(m.at_start.rss),
            mib(m.after.rss),
            mib(m.after.peak),
            mib(m.after.peak.saturating_sub(m.cache.bytes)),
            m.sample_whole,
            m.sample
        );
    }
    out
}

/// One row per target, with its verdict.
pub fn targets_table(ctx: &Context) -> String {
    let mut out = String::from("| scenario | target | measured | verdict |\n|---|---|---|---|\n");
    for c in &ctx.checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.scenario,
            c.target,
            c.measured.replace('|', "\\|"),
            if c.met { "met" } else { "**NOT met**" }
        );
    }
    out
}
