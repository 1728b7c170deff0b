//! `start_all()` starts every simulated service on a loopback port, and each
//! answers its data route and `/health` over real HTTP.

use tessera_demo::{start_all, SERVICES};

/// A representative data call per service id.
fn sample_path(id: &str) -> &'static str {
    match id {
        "profile" => "/profile/alice",
        "news" => "/headlines?topics=world,markets&limit=5",
        "quotes" => "/quotes?symbols=SMI,DAX,AAPL,NESN",
        "markets" => "/summary",
        "research" => "/teaser?limit=3",
        "accounts" => "/accounts/alice",
        "weather" => "/forecast?city=Zurich",
        "offers" => "/offers?segment=retail",
        other => panic!("no sample path for service {other}; add one"),
    }
}

#[tokio::test]
async fn every_service_answers_on_its_url() {
    let backends = start_all().await.expect("backends start");
    assert_eq!(backends.services.len(), SERVICES.len());
    let overrides = backends.overrides();
    let ids: Vec<&str> = overrides.iter().map(|(id, _)| id.as_str()).collect();
    let expected: Vec<&str> = SERVICES.iter().map(|s| s.id).collect();
    assert_eq!(ids, expected);

    let client = reqwest::Client::new();
    for spec in SERVICES {
        let url = backends.url_of(spec.id).expect("url of a started service");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let res = client
            .get(format!("{url}{}", sample_path(spec.id)))
            .send()
            .await
            .expect("service answers");
        assert_eq!(res.status(), 200, "{}", spec.id);
        let ctype = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let expected_type = match spec.format {
            "json" => "application/json",
            "xml" => "application/xml",
            _ => "text/html",
        };
        assert!(ctype.starts_with(expected_type), "{}: {ctype}", spec.id);
        assert!(!res.text().await.expect("body").is_empty());

        let health = client
            .get(format!("{url}/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(health.status(), 200, "{} health", spec.id);
        let server = backends.server(spec.id).expect("server");
        assert_eq!(server.calls(), 1, "{} counts its data call only", spec.id);
        assert_eq!(server.behavior().latency, spec.latency);
    }
    assert_eq!(backends.url_of("nope"), None);
}
