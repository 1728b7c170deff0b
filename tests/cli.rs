//! The `tessera` binary: `check` on the shipped portal and on broken ones; `serve`
//! refusing to start on a broken portal.

use std::path::Path;
use std::process::Command;

use tessera_test_support::PortalDir;

fn tessera(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run tessera");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_passes_on_the_shipped_portal() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let (code, stdout, stderr) = tessera(&["check", &config.to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
}

fn broken_portal() -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/services/news.xml",
        "<service id=\"news\" base-url=\"http://127.0.0.1:1\" timeout=\"fast\"/>\n",
    );
    dir.file(
        "config/pages/home.xml",
        "<page id=\"home\" layout=\"layouts/base.html\">\n  <region name=\"main\"><fragment ref=\"newz\"/></region>\n</page>\n",
    );
    dir
}

#[test]
fn check_reports_every_problem_with_exit_status_2() {
    let dir = broken_portal();
    let config = dir.config_dir();
    let (code, stdout, stderr) = tessera(&["check", &config.to_string_lossy()]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    let prefix = format!("{}/", config.display());
    let lines: Vec<String> = stderr.lines().map(|l| l.replace(&prefix, "")).collect();
    assert_eq!(
        lines,
        [
            "pages/home.xml:2:33: page \"home\" refers to unknown fragment \"newz\"",
            "services/news.xml:1:50: attribute \"timeout\": invalid duration \"fast\": expected a whole number followed by a unit (ms, s, m, h), for example \"300ms\" or \"5s\"",
            "2 problem(s) found; nothing was started",
        ]
    );
}

#[test]
fn serve_refuses_to_start_on_a_broken_portal() {
    let dir = broken_portal();
    let (code, _, stderr) = tessera(&[
        "serve",
        "--config",
        &dir.config_dir().to_string_lossy(),
        "--templates",
        &dir.templates_dir().to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("refers to unknown fragment \"newz\""),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was started"), "{stderr}");
}
