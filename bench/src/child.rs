//! A Tessera node in a process of its own, so that its resident memory can be read
//! apart from the harness's (the memory scenario): this same binary, started with the
//! hidden `--serve-child <PORTAL> --store <URL>` options, serves the portal folder
//! `<PORTAL>` (its `config/` and `templates/`) over the store at `<URL>` exactly as
//! [`Node::tessera_at`] does in-process, prints `listening http://127.0.0.1:PORT/` on
//! stdout, and runs until its stdin closes (the harness holds the other end; it also
//! kills the process when done).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::node::Node;
use crate::portal::ADMIN_TOKEN;
use crate::BenchError;

/// What the child prints once it listens.
const LISTENING: &str = "listening ";

/// How long the child may take to open its store and start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The child's side: serve until stdin closes. Returns the process's exit status.
pub async fn serve(portal: &Path, store_url: &str) -> Result<(), BenchError> {
    let store = tessera_store::open(store_url)
        .await
        .map_err(|e| BenchError::Setup(format!("store {store_url}: {e}")))?;
    let node = Node::tessera_at(&portal.join("config"), &portal.join("templates"), store).await?;
    println!("{LISTENING}{}", node.url());
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    // EOF (or an error) means the harness is gone.
    while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    drop(node);
    Ok(())
}

/// The harness's side: a node process it started.
#[derive(Debug)]
pub struct ChildNode {
    child: Child,
    pid: u32,
    url: String,
}

impl ChildNode {
    /// Starts this binary as a node serving `portal` over `store_url` and waits until it
    /// listens.
    pub async fn start(portal: &Path, store_url: &str) -> Result<ChildNode, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Setup(format!("the harness's own path: {e}")))?;
        let mut child = Command::new(exe)
            .arg("--serve-child")
            .arg(portal)
            .arg("--store")
            .arg(store_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Logs (with `RUST_LOG`, as for the harness) go where the harness's go.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Setup(format!("starting the node process: {e}")))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Setup("the node process ended at once".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Setup("the node process has no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix(LISTENING) {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            BenchError::Setup(format!(
                "the node process did not start listening within {START_TIMEOUT:?}"
            ))
        })?;
        Ok(ChildNode { child, pid, url })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT/admin/api/cache`.
    pub fn cache_url(&self) -> String {
        format!("{}admin/api/cache", self.url)
    }

    /// The admin API's token (the benchmark portal's).
    pub fn admin_token(&self) -> &'static str {
        ADMIN_TOKEN
    }

    /// The process's memory as `/proc/<pid>/status` says now.
    pub fn memory(&self) -> Result<Memory, BenchError> {
        Memory::of(self.pid)
    }

    /// Stops the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Resident memory of a process, from `/proc/<pid>/status` (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most it was resident at any moment so far.
    pub peak: u64,
    /// `RssAnon`: the part of `rss` that is the heap and stacks (not the binary's pages).
    pub anon: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Result<Memory, BenchError> {
        let path = PathBuf::from(format!("/proc/{pid}/status"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BenchError::Setup(format!("reading {}: {e}", path.display())))?;
        Memory::parse(&text)
            .ok_or_else(|| BenchError::Setup(format!("no VmRSS/VmHWM in {}", path.display())))
    }

    /// Reads `VmRSS`, `VmHWM` and `RssAnon` (kB) from a `/proc/<pid>/status` text.
    pub fn parse(status: &str) -> Option<Memory> {
        let field = |name: &str| {
            status.lines().find_map(|l| {
                let rest = l.strip_prefix(name)?.strip_prefix(':')?;
                let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
                Some(kb * 1024)
            })
        };
        Some(Memory {
            rss: field("VmRSS")?,
            peak: field("VmHWM")?,
            anon: field("RssAnon").unwrap_or(0),
        })
    }
}

/// Bytes as MiB with one decimal: `263.4 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_status_is_read_in_bytes() {
        let status = "Name:\ttessera-bench\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nRssAnon:\t   90000 kB\nThreads:\t4\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss: 100 * 1024 * 1024,
                peak: 200 * 1024 * 1024,
                anon: 90_000 * 1024,
            })
        );
        assert_eq!(Memory::parse("Name:\tx\n"), None);
        assert_eq!(mib(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn our_own_status_parses() {
        let me = Memory::of(std::process::id()).expect("own /proc status");
        assert!(me.rss > 0 && me.peak >= me.rss, "{me:?}");
    }
}
