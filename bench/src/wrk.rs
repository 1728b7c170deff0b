//! The load generator: installing `wrk`, running it for a bounded time, reading its
//! report.
//!
//! wrk (Debian's package) is used rather than a home-made client so that the numbers
//! come from an established tool whose latency accounting others can check. Its
//! report is plain text; [`parse`] reads the lines we need and fails loudly when one
//! is missing, so a changed wrk output never turns into silent zeros.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Extra time granted to a wrk process beyond its `-d` before it is killed: wrk waits
/// for its last requests (up to its own 2 s socket timeout) and prints the report.
const GRACE: Duration = Duration::from_secs(15);

/// One wrk invocation.
#[derive(Debug, Clone)]
pub struct WrkRun {
    pub url: String,
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    /// A Lua script (`-s`), e.g. one that sets a different user header per request.
    pub script: Option<PathBuf>,
}

/// What wrk reported for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkReport {
    pub requests: u64,
    pub requests_per_sec: f64,
    pub latency_avg: Duration,
    pub latency_max: Duration,
    pub p50: Duration,
    pub p75: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub socket_errors: SocketErrors,
    /// Responses whose status was not 2xx or 3xx.
    pub non_2xx_3xx: u64,
    /// CPU the harness process (the servers under test) spent during the run; not
    /// wrk's output: set by the harness around the run ([`crate::cpu`]).
    pub server_cpu: Option<Duration>,
}

impl WrkReport {
    /// Every kind of failed request together: socket errors and non-2xx/3xx answers.
    pub fn errors(&self) -> u64 {
        self.socket_errors.total() + self.non_2xx_3xx
    }

    /// The servers' CPU time per request of the run.
    pub fn cpu_per_request(&self) -> Option<Duration> {
        let cpu = self.server_cpu?;
        (self.requests > 0).then(|| cpu / u32::try_from(self.requests).unwrap_or(u32::MAX))
    }
}

/// wrk's `Socket errors:` line (absent when there were none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
}

impl SocketErrors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

/// Why wrk could not be installed, run, or understood.
#[derive(Debug, thiserror::Error)]
pub enum WrkError {
    #[error("wrk is not installed and could not be installed with `apt-get install -y wrk` ({0}); install it by hand (Debian/Ubuntu: `apt-get install wrk`) and run again")]
    NotInstalled(String),
    #[error("cannot start wrk: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("wrk did not finish within {0:?}")]
    Hung(Duration),
    #[error("wrk failed (exit status {status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("cannot read wrk's report: {0}\n--- wrk output ---\n{1}")]
    Output(ParseError, String),
}

/// A line wrk should have printed and did not, or printed in a form we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no {0} in the output")]
    Missing(&'static str),
    #[error("{what}: cannot read {value:?}")]
    Malformed { what: &'static str, value: String },
}

/// Makes sure `wrk` is on the PATH: `command -v wrk`, else `apt-get install -y wrk`,
/// else `apt-get update` and the install again.
pub async fn ensure_installed() -> Result<(), WrkError> {
    if is_on_path().await {
        return Ok(());
    }
    eprintln!("wrk not found; installing it with apt-get install -y wrk");
    let mut last = apt(&["install", "-y", "wrk"]).await;
    if last.is_err() || !is_on_path().await {
        eprintln!("install failed; running apt-get update and trying again");
        if let Err(e) = apt(&["update"]).await {
            return Err(WrkError::NotInstalled(format!("apt-get update: {e}")));
        }
        last = apt(&["install", "-y", "wrk"]).await;
    }
    match (last, is_on_path().await) {
        (_, true) => Ok(()),
        (Err(e), false) => Err(WrkError::NotInstalled(e)),
        (Ok(()), false) => Err(WrkError::NotInstalled(
            "apt-get succeeded but wrk is still not on the PATH".into(),
        )),
    }
}

async fn is_on_path() -> bool {
    Command::new("sh")
        .args(["-c", "command -v wrk"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Runs `apt-get ARGS` (through `sudo -n` when not root), non-interactively.
async fn apt(args: &[&str]) -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .await
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut cmd = if root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    let status = cmd
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("apt-get {} exited with {status}", args.join(" ")))
    }
}

/// Runs wrk once (`wrk -t T -c C -d Ns --latency URL`) and reads its report. The
/// process is killed if it outlives its duration by more than [`GRACE`].
pub async fn run(run: &WrkRun) -> Result<WrkReport, WrkError> {
    let secs = run.duration.as_secs().max(1);
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{}", run.threads.min(run.connections).max(1)))
        .arg(format!("-c{}", run.connections.max(1)))
        .arg(format!("-d{secs}s"))
        .arg("--latency");
    if let Some(script) = &run.script {
        cmd.arg("-s").arg(script);
    }
    let child = cmd
        .arg(&run.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(WrkError::Spawn)?;
    let limit = Duration::from_secs(secs) + GRACE;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| WrkError::Hung(limit))?
        .map_err(WrkError::Spawn)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(WrkError::Failed {
            status: output.status.to_string(),
            stderr: format!("{}{}", String::from_utf8_lossy(&output.stderr), stdout),
        });
    }
    parse(&stdout).map_err(|e| WrkError::Output(e, stdout))
}

/// Reads wrk's `--latency` report.
pub fn parse(output: &str) -> Result<WrkReport, ParseError> {
    let mut thread_latency = None;
    let (mut p50, mut p75, mut p90, mut p99) = (None, None, None, None);
    let mut requests = None;
    let mut requests_per_sec = None;
    let mut socket_errors = SocketErrors::default();
    let mut non_2xx_3xx = 0;
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            // "Latency   81.23ms  512.00us  84.00ms   70.00%" (not "Latency Distribution")
            ["Latency", avg, _stdev, max, ..] if *avg != "Distribution" => {
                thread_latency = Some((
                    duration("average latency", avg)?,
                    duration("maximum latency", max)?,
                ));
            }
            ["50%", v] => p50 = Some(duration("p50", v)?),
            ["75%", v] => p75 = Some(duration("p75", v)?),
            ["90%", v] => p90 = Some(duration("p90", v)?),
            ["99%", v] => p99 = Some(duration("p99", v)?),
            // "490 requests in 5.01s, 12.34MB read"
            [n, "requests", "in", ..] => requests = Some(number::<u64>("request count", n)?),
            ["Requests/sec:", v] => requests_per_sec = Some(number::<f64>("requests/sec", v)?),
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                non_2xx_3xx = number::<u64>("non-2xx responses", n)?;
            }
            // "Socket errors: connect 0, read 0, write 0, timeout 0"
            ["Socket", "errors:", rest @ ..] => socket_errors = parse_socket_errors(rest)?,
            _ => {}
        }
    }
    let (latency_avg, latency_max) =
        thread_latency.ok_or(ParseError::Missing("\"Latency\" thread-stats line"))?;
    Ok(WrkReport {
        requests: requests.ok_or(ParseError::Missing("\"N requests in\" line"))?,
        requests_per_sec: requests_per_sec.ok_or(ParseError::Missing("\"Requests/sec:\" line"))?,
        latency_avg,
        latency_max,
        p50: p50.ok_or(ParseError::Missing("50% latency (was --latency given?)"))?,
        p75: p75.ok_or(ParseError::Missing("75% latency"))?,
        p90: p90.ok_or(ParseError::Missing("90% latency"))?,
        p99: p99.ok_or(ParseError::Missing("99% latency"))?,
        socket_errors,
        non_2xx_3xx,
        server_cpu: None,
    })
}

fn parse_socket_errors(words: &[&str]) -> Result<SocketErrors, ParseError> {
    let mut errors = SocketErrors::default();
    for pair in words.chunks(2) {
        let [kind, n] = pair else {
            return Err(ParseError::Malformed {
                what: "socket errors",
                value: words.join(" "),
            });
        };
        let n = number::<u64>("socket errors", n.trim_end_matches(','))?;
        match *kind {
            "connect" => errors.connect = n,
            "read" => errors.read = n,
            "write" => errors.write = n,
            "timeout" => errors.timeout = n,
            _ => {}
        }
    }
    Ok(errors)
}

fn number<T: std::str::FromStr>(what: &'static str, value: &str) -> Result<T, ParseError> {
    value.parse().map_err(|_| ParseError::Malformed {
        what,
        value: value.to_owned(),
    })
}

/// wrk prints times as a number and a unit: `us`, `ms`, `s`, `m` or `h`.
fn duration(what: &'static str, value: &str) -> Result<Duration, ParseError> {
    let malformed = || ParseError::Malformed {
        what,
        value: value.to_owned(),
    };
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(malformed)?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| malformed())?;
    let seconds_per_unit = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(malformed()),
    };
    Duration::try_from_secs_f64(number * seconds_per_unit).map_err(|_| malformed())
}

impl fmt::Display for WrkRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrk -t{} -c{} -d{}s --latency",
            self.threads.min(self.connections).max(1),
            self.connections,
            self.duration.as_secs().max(1),
        )?;
        if let Some(script) = &self.script {
            write!(f, " -s {}", script.display())?;
        }
        write!(f, " {}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(duration("x", "512.00us"), Ok(Duration::from_micros(512)));
        assert_eq!(duration("x", "81.25ms"), Ok(Duration::from_micros(81_250)));
        assert_eq!(duration("x", "1.50s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("x", "2.00m"), Ok(Duration::from_secs(120)));
        assert!(duration("x", "12").is_err());
        assert!(duration("x", "12parsecs").is_err());
        assert!(duration("x", "-1ms").is_err());
    }

    #[test]
    fn a_report_without_latency_distribution_is_refused() {
        let out = "  Latency 1.00ms 0.10ms 2.00ms 90%\n 10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n";
        assert_eq!(
            parse(out),
            Err(ParseError::Missing("50% latency (was --latency given?)"))
        );
    }
}
