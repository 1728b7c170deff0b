//! Reading a portal (settings, descriptors, templates) and validating it as a whole.
//!
//! Reading ([`Sources::read`]) and building ([`build`]) are separate so that a change
//! proposed at runtime can be validated against the whole resulting set before it is
//! applied (hot registration), and so that the demo can point services at its simulated
//! backends before building.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::diag::{did_you_mean, Diagnostics, Location};
use crate::model::{Fallback, Format, FragmentDef, PageDef, ServiceDef};
use crate::parse::service::check_base_url;
use crate::parse::{parse_fragment, parse_named_lifecycle, parse_page, parse_service};
use crate::settings::{ServiceOverride, Settings};
use crate::templates::Templates;
use crate::xml::{self, XmlLimits};

/// The three kinds of descriptor, each in its own folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Service,
    Fragment,
    Page,
    Lifecycle,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Service, Kind::Fragment, Kind::Page, Kind::Lifecycle];

    pub fn element(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Fragment => "fragment",
            Kind::Page => "page",
            Kind::Lifecycle => "lifecycle",
        }
    }

    pub fn folder(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::Fragment => "fragments",
            Kind::Page => "pages",
            Kind::Lifecycle => "lifecycles",
        }
    }

    /// Folders a portal may leave out.
    fn optional(self) -> bool {
        matches!(self, Kind::Lifecycle)
    }
}

/// One descriptor document.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub kind: Kind,
    /// How messages name it (`config/services/news.xml`).
    pub label: Arc<str>,
    pub text: String,
}

/// Everything a portal is built from, as read.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub settings_label: Arc<str>,
    pub settings: Settings,
    pub files: Vec<SourceFile>,
    pub templates: Templates,
    /// Problems found while reading (unreadable files, size caps, bad settings).
    pub problems: Diagnostics,
    /// Descriptor files that could not be read, by kind and file stem: references to
    /// those ids are not reported again as unknown (the file's own problem says why).
    pub unreadable: BTreeSet<(Kind, String)>,
}

/// A validated portal: the immutable set one request is served with.
#[derive(Debug, Clone, Default)]
pub struct Portal {
    pub settings: Settings,
    pub services: BTreeMap<String, Arc<ServiceDef>>,
    pub fragments: BTreeMap<String, Arc<FragmentDef>>,
    pub pages: BTreeMap<String, Arc<PageDef>>,
    pub lifecycles: BTreeMap<String, Arc<crate::model::NamedLifecycle>>,
    pub templates: Templates,
}

impl Portal {
    /// Reads and validates a config folder and a templates folder.
    pub fn load(config_dir: &Path, templates_dir: &Path) -> Result<Portal, Diagnostics> {
        build(&Sources::read(config_dir, templates_dir))
    }

    /// The format a fragment's backend body is read as.
    pub fn format_of(&self, fragment: &FragmentDef) -> Option<Format> {
        let source = fragment.source.as_ref()?;
        source
            .format
            .or_else(|| self.services.get(&source.service).map(|s| s.format))
    }

    /// Pages listed in the navigation, in order.
    pub fn nav_pages(&self) -> Vec<&Arc<PageDef>> {
        let mut pages: Vec<_> = self.pages.values().filter(|p| p.nav).collect();
        pages.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
        pages
    }
}

fn label(dir: &Path, rel: &str) -> Arc<str> {
    dir.join(rel).to_string_lossy().into()
}

impl Sources {
    /// Adds one descriptor document, named `label` in messages (sources put together in
    /// memory: registered documents, tests, benchmarks).
    pub fn add_file(&mut self, kind: Kind, label: impl Into<Arc<str>>, text: impl Into<String>) {
        self.files.push(SourceFile {
            kind,
            label: label.into(),
            text: text.into(),
        });
    }

    /// Reads `tessera.toml`, `services/`, `fragments/`, `pages/` and every template.
    /// Never fails: problems are collected in [`Sources::problems`].
    pub fn read(config_dir: &Path, templates_dir: &Path) -> Sources {
        let mut out = Sources {
            settings_label: label(config_dir, "tessera.toml"),
            ..Sources::default()
        };
        let settings_path = config_dir.join("tessera.toml");
        match fs::read_to_string(&settings_path) {
            Ok(text) => match Settings::parse(&out.settings_label, &text) {
                Ok(s) => out.settings = s,
                Err(d) => out.problems.0.push(d),
            },
            Err(e) => out.problems.push(
                Location::file_start(out.settings_label.clone()),
                format!("cannot read the portal settings: {e}"),
            ),
        }
        let limits = out.settings.limits;
        for kind in Kind::ALL {
            let dir = config_dir.join(kind.folder());
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(_) if kind.optional() && !dir.exists() => continue,
                Err(e) => {
                    out.problems.push(
                        Location::file_start(label(config_dir, kind.folder())),
                        format!("cannot read the {} folder: {e}", kind.folder()),
                    );
                    continue;
                }
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && n.to_ascii_lowercase().ends_with(".xml"))
                .collect();
            names.sort();
            for name in names {
                let rel = format!("{}/{name}", kind.folder());
                let file_label = label(config_dir, &rel);
                match read_capped(
                    &config_dir.join(&rel),
                    limits.max_descriptor_bytes,
                    "max-descriptor-bytes",
                ) {
                    Ok(text) => out.add_file(kind, file_label, text),
                    Err(msg) => {
                        out.unreadable.insert((kind, stem(&name)));
                        out.problems.push(Location::file_start(file_label), msg);
                    }
                }
            }
        }
        let mut names = Vec::new();
        collect_files(templates_dir, "", &mut names, 0);
        if !templates_dir.is_dir() {
            out.problems.push(
                Location::file_start(templates_dir.to_string_lossy()),
                "the templates folder does not exist",
            );
        }
        names.sort();
        for name in names {
            let template_label = label(templates_dir, &name);
            match read_capped(
                &templates_dir.join(&name),
                limits.max_template_bytes,
                "max-template-bytes",
            ) {
                Ok(text) => out.templates.insert(name, template_label, text),
                Err(msg) => out.problems.push(Location::file_start(template_label), msg),
            }
        }
        out
    }

    /// Points a service at another base URL, as an operator's override would.
    pub fn override_service_url(&mut self, service: &str, base_url: &str) {
        self.settings.services.insert(
            service.to_owned(),
            ServiceOverride {
                base_url: base_url.to_owned(),
            },
        );
    }
}

fn stem(file_name: &str) -> String {
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    name.rsplit_once('.').map_or(name, |(s, _)| s).to_owned()
}

/// Template names are `/`-separated paths below the templates folder.
fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>, depth: usize) {
    // Deeper than 8 folders is not a template layout, and a link loop must not hang us.
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        match e.file_type() {
            Ok(t) if t.is_dir() => collect_files(&e.path(), &rel, out, depth + 1),
            Ok(t) if t.is_file() => out.push(rel),
            _ => {}
        }
    }
}

/// Reads a UTF-8 file of at most `cap` bytes without reading more than that.
fn read_capped(path: &Path, cap: usize, setting: &str) -> Result<String, String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut bytes = Vec::new();
    file.take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() > cap {
        return Err(format!(
            "the file is larger than the {cap}-byte limit (limits.{setting} in tessera.toml)"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "the file is not valid UTF-8".to_owned())
}

/// Parses every descriptor and validates the whole set; reports every problem at once.
pub fn build(sources: &Sources) -> Result<Portal, Diagnostics> {
    let mut diags = sources.problems.clone();
    let settings = &sources.settings;
    let limits = XmlLimits {
        max_depth: settings.limits.max_xml_depth,
        ..XmlLimits::default()
    };
    let mut portal = Portal {
        settings: settings.clone(),
        templates: sources.templates.clone(),
        ..Portal::default()
    };
    let mut raw_slot_params = BTreeMap::new();
    let mut broken = sources.unreadable.clone();
    for file in &sources.files {
        let root = match xml::parse(&file.label, &file.text, limits) {
            Ok(r) => r,
            Err(d) => {
                broken.insert((file.kind, stem(&file.label)));
                diags.0.push(d);
                continue;
            }
        };
        if root.name != file.kind.element() {
            broken.insert((file.kind, stem(&file.label)));
            diags.push(
                root.location.clone(),
                format!(
                    "expected a <{}> element in {}/, found <{}>",
                    file.kind.element(),
                    file.kind.folder(),
                    root.name
                ),
            );
            continue;
        }
        match file.kind {
            Kind::Service => {
                if let Some(s) = parse_service(&root, &mut diags) {
                    insert_unique(
                        &mut portal.services,
                        s.id.clone(),
                        s.location.clone(),
                        s,
                        "service",
                        &mut diags,
                        |s| &s.location,
                    );
                }
            }
            Kind::Fragment => {
                if let Some(mut f) = parse_fragment(&root, &mut diags) {
                    f.fingerprint = crate::templates::fnv1a(file.text.as_bytes());
                    insert_unique(
                        &mut portal.fragments,
                        f.id.clone(),
                        f.location.clone(),
                        f,
                        "fragment",
                        &mut diags,
                        |f| &f.location,
                    );
                }
            }
            Kind::Lifecycle => {
                if let Some(l) = parse_named_lifecycle(&root, &mut diags) {
                    insert_unique(
                        &mut portal.lifecycles,
                        l.id.clone(),
                        l.location.clone(),
                        l,
                        "lifecycle",
                        &mut diags,
                        |l| &l.location,
                    );
                }
            }
            Kind::Page => {
                if let Some((mut p, raw)) =
                    parse_page(&root, settings.portal.page_timeout, &mut diags)
                {
                    p.fingerprint = crate::templates::fnv1a(file.text.as_bytes());
                    let id = p.id.clone();
                    if insert_unique(
                        &mut portal.pages,
                        id.clone(),
                        p.location.clone(),
                        p,
                        "page",
                        &mut diags,
                        |p| &p.location,
                    ) {
                        raw_slot_params.insert(id, raw);
                    }
                }
            }
        }
    }
    apply_overrides(&mut portal, &sources.settings_label, &mut diags);
    for svc in portal.services.values() {
        let host = svc
            .base_url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default();
        let host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        if !host.is_empty() && !settings.security.allows_host(host) {
            diags.push(
                svc.location.clone(),
                format!("service \"{}\" points at host \"{host}\", which security.backend-hosts in tessera.toml does not allow", svc.id),
            );
        }
    }
    for f in &settings.security.raw_html_fragments {
        if !portal.fragments.contains_key(f) {
            diags.push(
                Location::file_start(sources.settings_label.clone()),
                format!("security.raw-html-fragments names unknown fragment \"{f}\""),
            );
        }
    }
    resolve_lifecycles(&mut portal, &broken, &mut diags);
    let known = |kind: Kind, id: &str| broken.contains(&(kind, id.to_owned()));
    check_references(&mut portal, raw_slot_params, &known, &mut diags);
    check_cycles(&portal, &mut diags);
    if !portal.pages.contains_key(&settings.portal.home)
        && !known(Kind::Page, &settings.portal.home)
    {
        diags.push(
            Location::file_start(sources.settings_label.clone()),
            format!(
                "portal.home names the page \"{}\", which is not defined{}",
                settings.portal.home,
                did_you_mean(
                    &settings.portal.home,
                    portal.pages.keys().map(String::as_str)
                )
            ),
        );
    }
    if let Some(problem) = settings
        .auth
        .header
        .as_ref()
        .and_then(|h| crate::settings::check_admin_token(&h.secret))
    {
        diags.push(
            Location::file_start(sources.settings_label.clone()),
            format!("auth.header.secret {problem}"),
        );
    }
    let mut segments = BTreeSet::new();
    for rule in &settings.profile.segments {
        if !segments.insert(rule.name.as_str()) {
            diags.push(
                Location::file_start(sources.settings_label.clone()),
                format!("profile segment \"{}\" is defined twice", rule.name),
            );
        }
    }
    if let Some(problem) = settings
        .admin
        .token
        .as_deref()
        .and_then(crate::settings::check_admin_token)
    {
        diags.push(
            Location::file_start(sources.settings_label.clone()),
            format!("admin.token {problem}"),
        );
    }
    portal.templates.check(&mut diags);
    if diags.is_empty() {
        Ok(portal)
    } else {
        Err(diags.finish())
    }
}

/// Inserts a definition unless its id is taken; reports the duplicate against the first.
fn insert_unique<T>(
    map: &mut BTreeMap<String, Arc<T>>,
    id: String,
    location: Location,
    def: T,
    what: &str,
    diags: &mut Diagnostics,
    location_of: impl Fn(&T) -> &Location,
) -> bool {
    if let Some(first) = map.get(&id) {
        diags.push(
            location,
            format!(
                "duplicate {what} id \"{id}\"; it is already defined at {}",
                location_of(first)
            ),
        );
        return false;
    }
    map.insert(id, Arc::new(def));
    true
}

fn apply_overrides(portal: &mut Portal, settings_label: &Arc<str>, diags: &mut Diagnostics) {
    for (id, o) in &portal.settings.services {
        let at = Location::file_start(settings_label.clone());
        match (portal.services.get_mut(id), check_base_url(&o.base_url)) {
            (None, _) => diags.push(
                at,
                format!(
                    "services.{id} overrides the base URL of an unknown service{}",
                    did_you_mean(id, portal.services.keys().map(String::as_str))
                ),
            ),
            (Some(_), Err(msg)) => diags.push(at, format!("services.{id}: {msg}")),
            (Some(s), Ok(url)) => Arc::make_mut(s).base_url = url,
        }
    }
}

/// Fragments referring to a named lifecycle get it, overridden by their own attributes.
fn resolve_lifecycles(
    portal: &mut Portal,
    broken: &BTreeSet<(Kind, String)>,
    diags: &mut Diagnostics,
) {
    let lifecycles = portal.lifecycles.clone();
    for f in portal.fragments.values_mut() {
        let Some(r) = f.lifecycle_ref.clone() else {
            continue;
        };
        match lifecycles.get(&r.id) {
            Some(named) => {
                let f = Arc::make_mut(f);
                f.lifecycle = f.lifecycle.over(&named.lifecycle, &r.overridden);
            }
            None if broken.contains(&(Kind::Lifecycle, r.id.clone())) => {}
            None => diags.push(
                r.location.clone(),
                format!(
                    "fragment \"{}\" refers to unknown lifecycle \"{}\"{}",
                    f.id,
                    r.id,
                    did_you_mean(&r.id, lifecycles.keys().map(String::as_str))
                ),
            ),
        }
    }
}

fn check_template(portal: &Portal, name: &str, at: &Location, diags: &mut Diagnostics) {
    if !name.is_empty() && !portal.templates.contains(name) {
        diags.push(
            at.clone(),
            format!(
                "template \"{name}\" does not exist in the templates folder{}",
                did_you_mean(name, portal.templates.iter().map(|(n, _)| n.as_str()))
            ),
        );
    }
}

fn check_references(
    portal: &mut Portal,
    raw_slot_params: BTreeMap<String, crate::parse::page::RawSlotParams>,
    broken: &dyn Fn(Kind, &str) -> bool,
    diags: &mut Diagnostics,
) {
    for f in portal.fragments.values() {
        if let Some(src) = &f.source {
            if !portal.services.contains_key(&src.service) && !broken(Kind::Service, &src.service) {
                diags.push(
                    src.service_location.clone(),
                    format!(
                        "fragment \"{}\" refers to unknown service \"{}\"{}",
                        f.id,
                        src.service,
                        did_you_mean(&src.service, portal.services.keys().map(String::as_str))
                    ),
                );
            }
        }
        let html_source = portal.format_of(f) == Some(Format::Html);
        match (&f.template, &f.template_location) {
            (Some(t), Some(at)) => check_template(portal, t, at, diags),
            _ if html_source => {}
            _ => diags.push(
                f.location.clone(),
                format!(
                    "fragment \"{}\" needs a <template>: only fragments whose backend sends ready-made html can do without one",
                    f.id
                ),
            ),
        }
        if let (Some(Fallback::Template(t)), Some(at)) = (&f.fallback, &f.fallback_location) {
            check_template(portal, t, at, diags);
        }
        for inc in &f.includes {
            if !portal.fragments.contains_key(&inc.fragment)
                && !broken(Kind::Fragment, &inc.fragment)
            {
                diags.push(
                    inc.location.clone(),
                    format!(
                        "fragment \"{}\" includes unknown fragment \"{}\"{}",
                        f.id,
                        inc.fragment,
                        did_you_mean(&inc.fragment, portal.fragments.keys().map(String::as_str))
                    ),
                );
            }
        }
    }
    let mut resolved: Vec<(
        String,
        String,
        String,
        BTreeMap<String, crate::model::ParamValue>,
    )> = Vec::new();
    for p in portal.pages.values() {
        check_template(portal, &p.layout, &p.layout_location, diags);
        for region in &p.regions {
            for slot in &region.slots {
                let Some(f) = portal.fragments.get(&slot.fragment) else {
                    if broken(Kind::Fragment, &slot.fragment) {
                        continue;
                    }
                    diags.push(
                        slot.location.clone(),
                        format!(
                            "page \"{}\" refers to unknown fragment \"{}\"{}",
                            p.id,
                            slot.fragment,
                            did_you_mean(
                                &slot.fragment,
                                portal.fragments.keys().map(String::as_str)
                            )
                        ),
                    );
                    continue;
                };
                let raw = raw_slot_params
                    .get(&p.id)
                    .and_then(|m| m.get(&(region.name.clone(), slot.fragment.clone())));
                let mut values = BTreeMap::new();
                for (name, value, at) in raw.into_iter().flatten() {
                    match f.param(name) {
                        None => diags.push(
                            at.clone(),
                            format!(
                                "fragment \"{}\" declares no parameter \"{name}\"{}",
                                f.id,
                                did_you_mean(name, f.params.iter().map(|p| p.name.as_str()))
                            ),
                        ),
                        Some(decl) => match decl.parse_value(value) {
                            Ok(v) => {
                                values.insert(name.clone(), v);
                            }
                            Err(msg) => diags.push(at.clone(), msg),
                        },
                    }
                }
                if !values.is_empty() {
                    resolved.push((
                        p.id.clone(),
                        region.name.clone(),
                        slot.fragment.clone(),
                        values,
                    ));
                }
            }
        }
    }
    for (page, region, fragment, values) in resolved {
        if let Some(p) = portal.pages.get_mut(&page) {
            let p = Arc::make_mut(p);
            if let Some(slot) = p
                .regions
                .iter_mut()
                .filter(|r| r.name == region)
                .flat_map(|r| r.slots.iter_mut())
                .find(|s| s.fragment == fragment)
            {
                slot.params = values;
            }
        }
    }
}

/// Composite fragments must form a tree: report each cycle once, at its first fragment.
fn check_cycles(portal: &Portal, diags: &mut Diagnostics) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        id: &str,
        portal: &Portal,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        diags: &mut Diagnostics,
    ) {
        match marks.get(id) {
            Some(Mark::Done) => return,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| p == id).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].iter().map(String::as_str).collect();
                cycle.push(id);
                if let Some(f) = portal.fragments.get(&path[start]) {
                    diags.push(
                        f.location.clone(),
                        format!("composite fragments form a cycle: {}", cycle.join(" -> ")),
                    );
                }
                return;
            }
            None => {}
        }
        let Some(f) = portal.fragments.get(id) else {
            return;
        };
        marks.insert(id.to_owned(), Mark::Visiting);
        path.push(id.to_owned());
        for inc in &f.includes {
            visit(&inc.fragment, portal, marks, path, diags);
        }
        path.pop();
        marks.insert(id.to_owned(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    for id in portal.fragments.keys() {
        visit(id, portal, &mut marks, &mut Vec::new(), diags);
    }
}
