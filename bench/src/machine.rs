//! What a run ran on, for the report: the numbers only mean something next to it.

use std::fs;

/// The machine, as far as Linux tells us without privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Cores available to this process (what `nproc` prints).
    pub cores: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// `MemTotal` from `/proc/meminfo`, in GiB (rounded down, as `free -g`).
    pub memory_gib: Option<u64>,
    /// wrk's version line.
    pub wrk: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpu = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_model(&text))
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| mem_total_gib(&text));
        let wrk = std::process::Command::new("wrk")
            .arg("-v")
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.lines()
                    .next()
                    .map(|l| l.split(" Copyright").next().unwrap_or(l).trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            memory_gib,
            wrk,
        }
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn mem_total_gib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_files() {
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: x\n"),
            Some("AMD EPYC".into())
        );
        assert_eq!(
            mem_total_gib("MemTotal:       24641000 kB\nMemFree: 1 kB\n"),
            Some(23)
        );
    }
}
