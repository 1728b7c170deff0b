//! The harness process's CPU time, read around each wrk run: the servers under test run
//! in this process (wrk in its own), so the difference is what serving the run cost the
//! server side — user and system time together, on every thread. Divided by the run's
//! requests it gives the server's CPU per request, a figure that moves much less between
//! invocations on a shared machine than requests/s does, because it does not depend on
//! how much of the cores the process was given.

use std::time::Duration;

/// Linux's `USER_HZ`, the unit of `/proc/<pid>/stat`'s CPU times: 100 on x86 and Arm,
/// where the harness runs (fixed by the kernel ABI, not by `CONFIG_HZ`; Alpha's 1024 is
/// the exception Tessera is not built for).
const USER_HZ: u64 = 100;

/// User plus system CPU time of this process so far (every thread, including ended
/// ones); `None` where `/proc/self/stat` cannot be read (not Linux).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

/// `utime` and `stime`, fields 14 and 15 of `/proc/<pid>/stat`. The command name (field
/// 2) is in parentheses and may hold spaces and parentheses itself, so fields are
/// counted after its last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; utime is field 14.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_the_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let stat = "4242 (tessera (bench) x) S 1 2 3 4 5 6 7 8 9 10 250 130 0 0 20 0 5";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3800)));
    }

    #[test]
    fn a_truncated_line_is_none() {
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }
}
