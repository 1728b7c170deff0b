//! Criterion microbenchmarks of the page path (issue #9: "page assembly from cached
//! fragments, template rendering"), on the load harness's benchmark page: eight
//! fragments, each rendering a ~3 KB JSON document (19 items) into a list of links, in a
//! layout that writes every slot (a 27,921-byte page).
//!
//! - `page/serve/whole`: `Engine::serve_page` when the page is served whole from the page
//!   cache (the fast path: the page instance's key, one lookup, no fragment produced).
//! - `page/render/cached-page`: `Engine::render_page` with everything cached: all eight
//!   fragments produced from their cached stages (two lookups each), then the cached page
//!   reused because its parts are unchanged — the path every cached page took before the
//!   fast path.
//! - `page/render/layout`: the same with the page entry removed first (`iter_batched`
//!   setup, not timed): eight cached fragments, the layout rendered, the page stored.
//! - `page/instance`: planning the request's slots and deriving the page instance's key.
//! - `template/fragment`: rendering one fragment's template over its parsed model.
//! - `template/layout`: rendering the layout around eight produced slots.
//!
//! The backends are real HTTP servers on 127.0.0.1 (`tessera-sim`), asked once while
//! warming; nothing is fetched while measuring.
//!
//! Run: `cargo bench -p tessera-engine` (about a minute).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use minijinja::{context, Value};
use tessera_descriptors::{build, Kind, Portal, Sources};
use tessera_engine::{personalize, Engine, PortalRequest};
use tessera_fragments::cache::{Mode, Targets};
use tessera_sim::{Reply, Scripted};
use tokio::runtime::Runtime;

/// Fragments on the page, as in the load harness's benchmark portal.
const FRAGMENTS: usize = 8;

/// The load harness's layout (`bench/src/portal.rs`).
const LAYOUT: &str = concat!(
    "<!doctype html><html><head><title>{{ page.title }}</title></head><body>\n",
    "{% for name, slots in regions|items %}",
    "<section id=\"region-{{ name }}\">\n",
    "{% for f in slots %}",
    "<div class=\"slot\" id=\"slot-{{ f.id }}\" data-status=\"{{ f.status }}\">{{ f.html }}</div>\n",
    "{% endfor %}",
    "</section>\n",
    "{% endfor %}",
    "</body></html>\n",
);

/// The load harness's fragment template.
const FRAGMENT_TEMPLATE: &str = concat!(
    "<ul>",
    "{% for item in model[\"items\"] %}",
    "<li><a href=\"{{ item.url }}\">{{ item.title }}</a> <small>{{ item.summary }}</small></li>",
    "{% endfor %}",
    "</ul>",
);

/// A `{"items": [...]}` document of about 3 KB, like the harness's backends send.
fn payload() -> String {
    let items: Vec<String> = (0..19)
        .map(|n| {
            format!(
                "{{\"id\":{n},\"title\":\"Benchmark headline number {n}\",\"url\":\"https://example.invalid/news/{n}\",\"summary\":\"A short teaser text for item {n}, long enough to look like one.\"}}"
            )
        })
        .collect();
    format!("{{\"items\":[{}]}}", items.join(","))
}

fn portal(backend: &str) -> Portal {
    let mut sources = Sources::default();
    let mut file = |kind: Kind, label: String, text: String| sources.add_file(kind, label, text);
    let mut slots = String::new();
    for n in 1..=FRAGMENTS {
        file(
            Kind::Service,
            format!("services/svc{n}.xml"),
            format!(r#"<service id="svc{n}" base-url="{backend}" timeout="1s"/>"#),
        );
        file(
            Kind::Fragment,
            format!("fragments/frag{n}.xml"),
            format!(
                r#"<fragment id="frag{n}" service="svc{n}" path="/items/{n}" title="Fragment {n}"><template>fragments/items.html</template><lifecycle ttl="1h"/></fragment>"#
            ),
        );
        slots.push_str(&format!(r#"<fragment ref="frag{n}"/>"#));
    }
    file(
        Kind::Page,
        "pages/home.xml".into(),
        format!(
            r#"<page id="home" title="Bench" layout="layouts/bench.html" timeout="1s"><region name="main">{slots}</region></page>"#
        ),
    );
    sources
        .templates
        .insert("layouts/bench.html", "layouts/bench.html", LAYOUT);
    sources.templates.insert(
        "fragments/items.html",
        "fragments/items.html",
        FRAGMENT_TEMPLATE,
    );
    sources.settings.portal.home = "home".into();
    build(&sources).unwrap_or_else(|d| panic!("the benchmark portal must build:\n{d}"))
}

/// A warmed engine: the page assembled once, every stage cached.
fn warmed(rt: &Runtime) -> (Engine, Scripted) {
    rt.block_on(async {
        let backend = Scripted::start().await;
        backend.respond(Reply::json(payload()));
        let engine = Engine::new(portal(&backend.url()));
        let request = PortalRequest::home();
        let first = engine.serve_page(&request).await.expect("page");
        assert_eq!(first.slots.len(), FRAGMENTS);
        assert!(first.slots.iter().all(|s| s.result.is_ok()));
        let second = engine.serve_page(&request).await.expect("page");
        assert!(!second.fragments_produced, "served whole after warming");
        assert_eq!(backend.calls(), FRAGMENTS as u64);
        (engine, backend)
    })
}

fn bench_page(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (engine, backend) = warmed(&rt);
    let request = PortalRequest::home();
    let mut g = c.benchmark_group("page");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    g.bench_function("serve/whole", |b| {
        b.iter(|| {
            let out = rt
                .block_on(engine.serve_page(black_box(&request)))
                .expect("page");
            debug_assert!(!out.fragments_produced);
            out
        })
    });

    g.bench_function("render/cached-page", |b| {
        b.iter(|| {
            let out = rt
                .block_on(engine.render_page(black_box(&request)))
                .expect("page");
            debug_assert!(out.page_cached);
            out
        })
    });

    let pages = Targets {
        pages: vec!["home".into()],
        ..Targets::default()
    };
    g.bench_function("render/layout", |b| {
        b.iter_batched(
            || {
                engine.invalidate(&pages, Mode::Hard, false);
            },
            |()| {
                let out = rt
                    .block_on(engine.render_page(black_box(&request)))
                    .expect("page");
                debug_assert!(!out.page_cached);
                out
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("instance", |b| {
        let page = engine.resolve_page(&request).expect("page");
        b.iter(|| {
            let planned = personalize::plan(engine.portal(), &page, black_box(&request));
            engine.instance(&page, &planned, &request).key
        })
    });
    g.finish();
    assert_eq!(
        backend.calls(),
        FRAGMENTS as u64,
        "nothing was fetched while measuring"
    );
}

fn bench_templates(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (engine, _backend) = warmed(&rt);
    let renderer = engine.fragments().renderer().clone();
    let model: serde_json::Value = serde_json::from_str(&payload()).expect("JSON");
    let request = PortalRequest::home();
    let out = rt.block_on(engine.render_page(&request)).expect("page");
    let page = engine.resolve_page(&request).expect("page");
    let reads = tessera_engine::assemble::LayoutReads {
        user: false,
        profile: false,
        csrf: false,
    };
    let mut g = c.benchmark_group("template");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("fragment", |b| {
        b.iter(|| {
            let ctx = context! {
                model => Value::from_serialize(black_box(&model)),
                fragment => context! { id => "frag1", title => "Fragment 1" },
            };
            renderer
                .render("fragments/items.html", ctx)
                .expect("render")
        })
    });
    g.bench_function("layout", |b| {
        b.iter(|| {
            tessera_engine::assemble::render_layout(
                engine.fragments(),
                &page,
                "layouts/bench.html",
                black_box(&out.slots),
                &request,
                reads,
            )
            .expect("render")
        })
    });
    g.finish();
    let html: Arc<str> = out.html.clone();
    assert!(html.len() > 20_000, "the page is the harness's size");
}

criterion_group!(benches, bench_page, bench_templates);
criterion_main!(benches);
