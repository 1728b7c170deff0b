//! Data-driven descriptor cases: each folder in `tests/cases/` overlays files on
//! `tests/cases/_base` (a valid portal), and `expected.txt` holds the exact messages the
//! loader must give, one per line. Run with `BLESS=1` to rewrite them after a deliberate
//! change of wording, then review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use tessera_descriptors::Portal;

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("readable case folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "expected.txt" {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn load_case(name: &str) -> Result<Portal, Vec<String>> {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_tree(&cases_dir().join("_base"), tmp.path());
    if name != "_base" {
        copy_tree(&cases_dir().join(name), tmp.path());
    }
    let prefix = format!("{}/", tmp.path().display());
    Portal::load(&tmp.path().join("config"), &tmp.path().join("templates"))
        .map_err(|d| d.lines().iter().map(|l| l.replace(&prefix, "")).collect())
}

#[test]
fn the_base_portal_is_valid() {
    let portal = load_case("_base").expect("the base case loads");
    assert_eq!(portal.pages["home"].slots().count(), 2);
    assert_eq!(portal.services["news"].timeout.as_millis(), 300);
    // A named lifecycle, overridden by the fragment's own attributes.
    let l = &portal.fragments["news"].lifecycle;
    assert_eq!(l.ttl, Some(std::time::Duration::from_secs(30)));
    assert_eq!(l.stale_while_revalidate, std::time::Duration::from_secs(30));
    assert_eq!(l.stale_if_error, std::time::Duration::from_secs(600));
    assert_eq!(l.max_age, Some(std::time::Duration::from_secs(20)));
    assert_eq!(l.on_invalidate, tessera_descriptors::OnInvalidate::Refresh);
    assert_eq!(portal.fragments["news"].depends_on, ["news"]);
    assert_eq!(portal.fragments["greeting"].lifecycle, Default::default());
}

#[test]
fn every_bad_case_gives_its_pinned_messages() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let mut names: Vec<_> = fs::read_dir(cases_dir())
        .expect("cases")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "_base")
        .collect();
    names.sort();
    assert!(names.len() >= 20, "the case catalog shrank: {names:?}");
    for name in names {
        let got = match load_case(&name) {
            Ok(_) => vec!["(loaded without errors)".to_owned()],
            Err(lines) => lines,
        };
        let got = got.join("\n") + "\n";
        let expected_path = cases_dir().join(&name).join("expected.txt");
        if bless {
            fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "case {name}:\n--- expected\n{expected}--- got\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
