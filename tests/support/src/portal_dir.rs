//! [`PortalDir`]: a temporary portal folder for one test.

use std::fs;
use std::path::{Component, Path, PathBuf};

use tempfile::TempDir;

/// Written by [`PortalDir::new`]: the smallest valid portal configuration.
const TESSERA_TOML: &str = "[portal]\nname = \"Test Portal\"\nhome = \"home\"\n";

/// Written by [`PortalDir::new`]: a layout that renders every region and slot
/// with its id and status, so tests can find fragments in the page.
const BASE_LAYOUT: &str = concat!(
    "{% for name, slots in regions|items %}",
    "<section id=\"region-{{ name }}\">",
    "{% for f in slots %}",
    "<div class=\"slot\" id=\"slot-{{ f.id }}\" data-status=\"{{ f.status }}\">{{ f.html }}</div>",
    "{% endfor %}",
    "</section>",
    "{% endfor %}",
);

/// Written by [`PortalDir::new`]: the not-found page.
const NOT_FOUND: &str = "not found: {{ path }}";

/// A temporary portal folder, deleted when dropped.
///
/// Layout (relative to [`PortalDir::root`]):
/// ```text
/// config/tessera.toml
/// config/services/*.xml
/// config/fragments/*.xml
/// config/pages/*.xml
/// templates/layouts/base.html
/// templates/errors/404.html
/// templates/**
/// ```
/// `new()` writes `config/tessera.toml`, `templates/layouts/base.html` and
/// `templates/errors/404.html`, and creates the three descriptor folders
/// empty. Tests overwrite any of them with [`PortalDir::file`].
///
/// Writers panic on I/O errors: this is test code, and a failed write must
/// fail the test loudly rather than leave a half-built fixture.
#[derive(Debug)]
pub struct PortalDir {
    dir: TempDir,
}

impl PortalDir {
    /// A fresh folder with a minimal working portal.
    ///
    /// # Panics
    /// If the temporary folder cannot be created or written.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tessera-portal-")
            .tempdir()
            .unwrap_or_else(|e| panic!("PortalDir: cannot create a temporary folder: {e}"));
        let portal = PortalDir { dir };
        for folder in ["config/services", "config/fragments", "config/pages"] {
            let path = portal.root().join(folder);
            fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("PortalDir: cannot create {}: {e}", path.display()));
        }
        portal.file("config/tessera.toml", TESSERA_TOML);
        portal.template("layouts/base.html", BASE_LAYOUT);
        portal.template("errors/404.html", NOT_FOUND);
        portal
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `<root>/config`.
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config")
    }

    /// `<root>/templates`.
    pub fn templates_dir(&self) -> PathBuf {
        self.root().join("templates")
    }

    /// Writes `contents` to `relative` (e.g. `"config/services/news.xml"`),
    /// creating parent folders and replacing any existing file. Returns the
    /// absolute path written.
    ///
    /// # Panics
    /// If `relative` is absolute or contains `..` (it must stay inside the
    /// folder), or if writing fails.
    pub fn file(&self, relative: &str, contents: &str) -> PathBuf {
        let relative_path = Path::new(relative);
        let stays_inside = relative_path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        assert!(
            stays_inside,
            "PortalDir::file: {relative:?} must be a relative path inside the portal folder"
        );
        let path = self.root().join(relative_path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("PortalDir: cannot create {}: {e}", parent.display()));
        }
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("PortalDir: cannot write {}: {e}", path.display()));
        path
    }

    /// Writes `templates/<relative>`, e.g. `template("fragments/news.html", ..)`.
    pub fn template(&self, relative: &str, contents: &str) -> PathBuf {
        self.file(&format!("templates/{relative}"), contents)
    }

    /// Writes `config/services/<id>.xml` as
    /// `<service id="ID" base-url="URL" timeout="1s"/>`. For other attributes,
    /// write the file with [`PortalDir::file`].
    pub fn service(&self, id: &str, base_url: &str) -> PathBuf {
        let xml = format!(
            "<service id=\"{}\" base-url=\"{}\" timeout=\"1s\"/>\n",
            escape_attr(id),
            escape_attr(base_url)
        );
        self.file(&format!("config/services/{id}.xml"), &xml)
    }

    /// Writes `config/fragments/<id>.xml`.
    pub fn fragment_xml(&self, id: &str, xml: &str) -> PathBuf {
        self.file(&format!("config/fragments/{id}.xml"), xml)
    }

    /// Writes `config/pages/<id>.xml`.
    pub fn page_xml(&self, id: &str, xml: &str) -> PathBuf {
        self.file(&format!("config/pages/{id}.xml"), xml)
    }
}

impl Default for PortalDir {
    fn default() -> Self {
        Self::new()
    }
}

/// Escapes a value for a double-quoted XML attribute (a URL with a query
/// string contains `&`).
fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &PortalDir, relative: &str) -> String {
        fs::read_to_string(p.root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    #[test]
    fn new_writes_a_minimal_portal() {
        let p = PortalDir::new();
        assert_eq!(
            read(&p, "config/tessera.toml"),
            "[portal]\nname = \"Test Portal\"\nhome = \"home\"\n"
        );
        assert!(read(&p, "templates/layouts/base.html")
            .contains(r#"<div class="slot" id="slot-{{ f.id }}" data-status="{{ f.status }}">{{ f.html }}</div>"#));
        assert_eq!(
            read(&p, "templates/errors/404.html"),
            "not found: {{ path }}"
        );
        for folder in ["services", "fragments", "pages"] {
            assert!(p.config_dir().join(folder).is_dir(), "{folder}");
        }
        assert_eq!(p.templates_dir(), p.root().join("templates"));
    }

    #[test]
    fn writers_create_parents_and_overwrite() {
        let p = PortalDir::new();
        let path = p.template("fragments/deep/news.html", "one");
        assert_eq!(path, p.templates_dir().join("fragments/deep/news.html"));
        p.template("fragments/deep/news.html", "two");
        assert_eq!(read(&p, "templates/fragments/deep/news.html"), "two");
        p.fragment_xml("headlines", "<fragment/>");
        p.page_xml("home", "<page/>");
        assert_eq!(read(&p, "config/fragments/headlines.xml"), "<fragment/>");
        assert_eq!(read(&p, "config/pages/home.xml"), "<page/>");
    }

    #[test]
    fn service_descriptor_points_at_the_backend() {
        let p = PortalDir::new();
        p.service("news", "http://127.0.0.1:4000/api?a=1&b=2");
        assert_eq!(
            read(&p, "config/services/news.xml"),
            "<service id=\"news\" base-url=\"http://127.0.0.1:4000/api?a=1&amp;b=2\" timeout=\"1s\"/>\n"
        );
    }

    #[test]
    #[should_panic(expected = "must be a relative path inside the portal folder")]
    fn paths_cannot_escape_the_folder() {
        PortalDir::new().file("../outside.txt", "x");
    }

    #[test]
    fn the_folder_is_removed_on_drop() {
        let p = PortalDir::new();
        let root = p.root().to_path_buf();
        drop(p);
        assert!(!root.exists());
    }
}
