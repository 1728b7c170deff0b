//! The generated benchmark portal loads as a real portal, with the page the
//! scenarios request (no load generated, no server started).

use tessera_bench::portal::{self, FRAGMENTS};
use tessera_descriptors::Portal;

#[test]
fn the_benchmark_portal_loads_with_eight_fragments_on_the_home_page() {
    let urls: Vec<String> = (0..FRAGMENTS)
        .map(|i| format!("http://127.0.0.1:{}", 10_000 + i))
        .collect();
    let dir = portal::write(&urls);
    let loaded = Portal::load(&dir.config_dir(), &dir.templates_dir())
        .unwrap_or_else(|d| panic!("the benchmark portal must load:\n{d}"));
    assert_eq!(loaded.settings.portal.home, "home");
    assert_eq!(
        loaded.settings.admin.token.as_deref(),
        Some(portal::ADMIN_TOKEN)
    );
    let page = loaded.pages.get("home").expect("the home page");
    let slots: usize = page.regions.iter().map(|r| r.slots.len()).sum();
    assert_eq!(slots, FRAGMENTS);
    for (i, url) in urls.iter().enumerate() {
        let service = loaded
            .services
            .get(&portal::service_id(i))
            .expect("one service per fragment");
        assert_eq!(&service.base_url, url);
        assert_eq!(
            service.timeout.as_millis(),
            u128::from(portal::SERVICE_TIMEOUT_MS)
        );
        assert!(loaded.fragments.contains_key(&portal::fragment_id(i)));
    }
}

/// The harness's page check against a real node's output: one request, no load.
#[tokio::test]
async fn a_healthy_page_passes_the_slot_check() {
    use tessera_bench::check::{self, Expect};
    use tessera_bench::page::{Backend, BenchPage};
    use tessera_bench::probe::Probe;

    let page = BenchPage::start(&[Backend::FAST; FRAGMENTS])
        .await
        .expect("page starts");
    let fetched = Probe::new()
        .expect("client")
        .page(&page.node.url())
        .await
        .expect("page answers");
    assert_eq!(fetched.status, 200);
    assert_eq!(
        check::slots(&fetched.body, &[Expect::Content; FRAGMENTS]),
        Ok(())
    );
    assert_eq!(page.backend_calls(), FRAGMENTS as u64);
}
