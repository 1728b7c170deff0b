//! wrk's report, as captured from wrk 4.1.0 (Debian) runs against a local server
//! (`tests/data/*.txt`), read by the harness's parser.

use std::time::Duration;

use tessera_bench::wrk::{parse, SocketErrors};

fn sample(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

#[test]
fn a_clean_run() {
    let r = parse(&sample("wrk-ok.txt")).expect("parses");
    assert_eq!(r.requests, 2063);
    assert!((r.requests_per_sec - 1028.49).abs() < 1e-9);
    assert_eq!(r.latency_avg, us(6_850));
    assert_eq!(r.latency_max, us(220_830));
    assert_eq!(r.p50, us(4_370));
    assert_eq!(r.p75, us(7_760));
    assert_eq!(r.p90, us(11_620));
    assert_eq!(r.p99, us(56_940));
    assert_eq!(r.socket_errors, SocketErrors::default());
    assert_eq!(r.non_2xx_3xx, 0);
    assert_eq!(r.errors(), 0);
}

#[test]
fn non_2xx_responses_are_counted_as_errors() {
    let r = parse(&sample("wrk-non2xx.txt")).expect("parses");
    assert_eq!(r.requests, 2753);
    assert_eq!(r.non_2xx_3xx, 2753);
    assert_eq!(r.errors(), 2753);
    assert_eq!(r.p99, us(16_530));
}

#[test]
fn socket_errors_are_read_by_kind() {
    let r = parse(&sample("wrk-socket-errors.txt")).expect("parses");
    assert_eq!(
        r.socket_errors,
        SocketErrors {
            connect: 0,
            read: 8,
            write: 2874,
            timeout: 0
        }
    );
    assert_eq!(r.errors(), 2882);
    assert_eq!(r.requests, 1291);
}

#[test]
fn a_truncated_report_is_an_error_not_zeros() {
    let full = sample("wrk-ok.txt");
    let truncated: String = full
        .lines()
        .filter(|l| !l.starts_with("Requests/sec"))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = parse(&truncated).expect_err("no Requests/sec line");
    assert_eq!(err.to_string(), "no \"Requests/sec:\" line in the output");
}
