//! `tessera-bench [SCENARIO…]`: runs the load harness and writes
//! `bench/results/latest.md`. See `docs/benchmarks.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tessera_bench::machine::Machine;
use tessera_bench::{report, scenario, wrk, Context, Options, ScenarioId};

/// The node runs in this process (the memory scenario's node too, as `--serve-child`):
/// the same allocator as the `tessera` binary (ADR 0010).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tessera's load harness: the benchmark portal against a static baseline, driven by
/// wrk on 127.0.0.1, bounded in time.
#[derive(Debug, Parser)]
#[command(name = "tessera-bench")]
struct Cli {
    /// Scenarios to run (default: all). Scenarios a target compares against are
    /// added. One of: all, static, healthy8, hung-breaker-open, cached8, s1-cached-home,
    /// s2-cold-fanout, s3-hung, s4-streaming, memory-100k.
    scenarios: Vec<String>,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    secs: u64,
    /// Connections for static, healthy8, hung-breaker-open and cached8 (S1 uses 64,
    /// S2/S3 use 8).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Runs of each arm of an interleaved comparison (hung-breaker-open, cached8,
    /// s1-cached-home): A, B, A, B, …; targets are judged on the medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// S4 (s4-streaming): requests per connection (8 connections) in each run of each
    /// delivery mode.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=1000))]
    stream_requests: u32,
    /// Where to write the Markdown report.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results/latest.md"))]
    out: PathBuf,
    /// memory-100k: distinct users whose homepages are cached.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    memory_users: u64,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Internal (memory-100k): serve the portal folder given here as a node process.
    #[arg(long, hide = true, requires = "store")]
    serve_child: Option<PathBuf>,
    /// Internal (memory-100k): the node process's store URL.
    #[arg(long, hide = true)]
    store: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    if let (Some(portal), Some(store)) = (&cli.serve_child, &cli.store) {
        return match tessera_bench::child::serve(portal, store).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("node process: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.list {
        for s in ScenarioId::ALL {
            println!("{:<18} {}", s.name(), s.summary());
        }
        return ExitCode::SUCCESS;
    }
    let selected = match select(&cli.scenarios) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = wrk::ensure_installed().await {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let plan = scenario::plan(&selected);
    let mut ctx = Context::new(Options {
        duration: Duration::from_secs(cli.secs),
        connections: cli.connections,
        threads: cli.threads,
        rounds: cli.rounds,
        stream_requests: cli.stream_requests,
        memory_users: usize::try_from(cli.memory_users).unwrap_or(usize::MAX),
    });
    let mut failed = false;
    for id in &plan {
        eprintln!("== {id}: {}", id.summary());
        if let Err(e) = scenario::run(*id, &mut ctx).await {
            eprintln!("  {id} could not run: {e}");
            ctx.note(format!("{id} could not run: {e}"));
            failed = true;
        }
    }
    let markdown = report::markdown(&ctx, &Machine::detect(), &plan);
    println!("\n{markdown}");
    if let Err(e) = write(&cli.out, &markdown) {
        eprintln!("cannot write {}: {e}", cli.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("written to {}", cli.out.display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn select(names: &[String]) -> Result<Vec<ScenarioId>, String> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(ScenarioId::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            ScenarioId::from_name(n).ok_or_else(|| {
                let known: Vec<&str> = ScenarioId::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown scenario {n:?}; expected all or one of: {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn write(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}
