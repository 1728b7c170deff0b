//! The shipped portal in `config/` fits the simulated backends and the
//! shipped templates: one service descriptor per simulated service (same id,
//! same format, a loopback placeholder URL), fragments naming known services
//! and existing templates, pages referencing known fragments and layouts.
//! (The full schema is checked by tessera-descriptors; this pins what the
//! demo itself promises.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use quick_xml::Reader;
use tessera_demo::SERVICES;

/// The workspace folder holding `config/` and `templates/`.
fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("demo/ has a parent")
        .to_path_buf()
}

/// An element: name, attributes, text, children.
#[derive(Debug, Default)]
struct El {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<El>,
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn descendants<'a>(&'a self, name: &'a str, out: &mut Vec<&'a El>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
}

fn start(e: &quick_xml::events::BytesStart<'_>) -> El {
    let mut el = El {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        ..El::default()
    };
    for a in e.attributes() {
        let a = a.expect("attribute");
        el.attrs.insert(
            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
            a.unescape_value().expect("value").into_owned(),
        );
    }
    el
}

fn parse(path: &Path) -> El {
    let text = std::fs::read_to_string(path).expect("readable descriptor");
    let mut reader = Reader::from_str(&text);
    let mut stack: Vec<El> = Vec::new();
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            Event::Start(e) => stack.push(start(&e)),
            Event::Empty(e) => {
                let el = start(&e);
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => return el,
                }
            }
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t.decode().expect("text"));
                }
            }
            Event::End(_) => {
                let el = stack.pop().expect("balanced");
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => return el,
                }
            }
            Event::Eof => panic!("{}: no root element", path.display()),
            _ => {}
        }
    }
}

/// Every `*.xml` in `config/<kind>/`, parsed, with its file stem.
fn descriptors(kind: &str) -> Vec<(String, El)> {
    let dir = workspace_dir().join("config").join(kind);
    let mut out: Vec<(String, El)> = std::fs::read_dir(&dir)
        .expect("config folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (stem, parse(&p))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn template_exists(name: &str) -> bool {
    workspace_dir().join("templates").join(name).is_file()
}

#[test]
fn one_service_descriptor_per_simulated_service() {
    let services = descriptors("services");
    let ids: BTreeSet<&str> = services
        .iter()
        .map(|(_, s)| s.attr("id").expect("id"))
        .collect();
    let sim: BTreeSet<&str> = SERVICES.iter().map(|s| s.id).collect();
    assert_eq!(ids, sim);
    for (stem, s) in &services {
        let id = s.attr("id").expect("id");
        assert_eq!(s.name, "service");
        assert_eq!(stem, id, "file name matches id");
        let spec = SERVICES.iter().find(|x| x.id == id).expect("simulated");
        assert_eq!(s.attr("format").unwrap_or("json"), spec.format, "{id}");
        assert!(
            s.attr("base-url")
                .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
            "{id}"
        );
        for t in ["timeout", "connect-timeout"] {
            assert!(s.attr(t).is_some_and(|v| v.ends_with("ms")), "{id} {t}");
        }
        let timeout: u64 = s
            .attr("timeout")
            .and_then(|t| t.trim_end_matches("ms").parse().ok())
            .expect("ms");
        assert!(
            timeout as u128 > 2 * (spec.latency + spec.jitter).as_millis(),
            "{id}: timeout leaves room for the simulated latency"
        );
    }
}

#[test]
fn fragments_use_known_services_and_existing_templates() {
    let services: BTreeSet<String> = descriptors("services")
        .iter()
        .filter_map(|(_, s)| s.attr("id").map(str::to_owned))
        .collect();
    let fragments = descriptors("fragments");
    let ids: BTreeSet<&str> = fragments.iter().filter_map(|(_, f)| f.attr("id")).collect();
    for required in [
        "greeting",
        "news.headlines",
        "quotes.watchlist",
        "markets.summary",
        "research.teaser",
        "accounts.overview",
        "weather.forecast",
        "offers.personal",
        "service.contact",
    ] {
        assert!(ids.contains(required), "missing fragment {required}");
    }
    for (stem, f) in &fragments {
        let id = f.attr("id").expect("id");
        assert_eq!(f.name, "fragment");
        assert_eq!(stem, id);
        let template: Option<&str> = f.all("template").next().map(|t| t.text.trim());
        if let Some(t) = template {
            assert!(template_exists(t), "{id}: template {t} exists");
        }
        for fb in f.all("fallback") {
            if let Some(t) = fb.attr("template") {
                assert!(template_exists(t), "{id}: fallback {t} exists");
            } else {
                assert!(!fb.text.trim().is_empty(), "{id}: fallback has a message");
            }
        }
        let params: BTreeSet<&str> = f.all("param").filter_map(|p| p.attr("name")).collect();
        match f.attr("service") {
            None => assert!(f.attr("path").is_none() && template.is_some(), "{id}"),
            Some(service) => {
                assert!(
                    services.contains(service),
                    "{id}: unknown service {service}"
                );
                let path = f.attr("path").expect("path with service");
                assert!(path.starts_with('/'), "{id}");
                for placeholder in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                    let ok = placeholder == "user.id"
                        || placeholder
                            .strip_prefix("param.")
                            .is_some_and(|p| params.contains(p));
                    assert!(ok, "{id}: placeholder {{{placeholder}}} is declared");
                }
                let html = f.attr("format") == Some("html") || service == "research";
                assert!(template.is_some() || html, "{id}: needs a template");
            }
        }
    }
    let accounts = fragments
        .iter()
        .find(|(_, f)| f.attr("id") == Some("accounts.overview"))
        .expect("accounts");
    let fallback = accounts.1.all("fallback").next().expect("fallback");
    assert_eq!(fallback.text.trim(), "Sign in to see your accounts.");
}

#[test]
fn pages_reference_known_fragments_and_layouts() {
    let fragments: BTreeSet<String> = descriptors("fragments")
        .iter()
        .filter_map(|(_, f)| f.attr("id").map(str::to_owned))
        .collect();
    let pages = descriptors("pages");
    let ids: Vec<&str> = pages.iter().filter_map(|(_, p)| p.attr("id")).collect();
    assert_eq!(ids, ["home", "markets"]);
    for (stem, p) in &pages {
        let id = p.attr("id").expect("id");
        assert_eq!(stem, id);
        let layout = p.attr("layout").expect("layout");
        assert!(template_exists(layout), "{id}: layout {layout}");
        let mut refs = Vec::new();
        p.descendants("fragment", &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.attr("ref").expect("ref");
            assert!(fragments.contains(name), "{id}: unknown fragment {name}");
        }
        let regions: Vec<&str> = p.all("region").filter_map(|r| r.attr("name")).collect();
        assert!(
            regions.contains(&"main") && regions.contains(&"side"),
            "{id}: {regions:?}"
        );
    }
    let settings =
        std::fs::read_to_string(workspace_dir().join("config/tessera.toml")).expect("settings");
    assert!(
        settings.contains("home = \"home\"") && settings.contains("listen = \"127.0.0.1:8080\"")
    );
}
