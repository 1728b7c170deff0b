//! Every shipped template compiles, and each fragment template renders with
//! the context the engine will give it, built from the simulated services'
//! real output (XML converted to a model the way the engine does). Strict
//! undefined handling makes a typo'd field fail here rather than render blank.

mod common;

use std::path::Path;

use common::render::{env, guest, json_model, render_fragment, signed_in};
use common::xml_model::to_model;
use common::{fetch, fetch_json, workspace_dir};
use minijinja::{context, Value};
use serde_json::json;
use tessera_demo::services;

fn collect(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable templates folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, base, out);
        } else {
            let rel = path.strip_prefix(base).expect("under base");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_template_compiles() {
    let base = workspace_dir().join("templates");
    let mut names = Vec::new();
    collect(&base, &base, &mut names);
    assert!(names.len() >= 15, "{names:?}");
    let env = env();
    for name in &names {
        env.get_template(name)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

#[test]
fn number_macros_format_swiss_style() {
    let env = env();
    let src = r#"{% from "fragments/_format.html" import amount, signed, direction %}{{ amount(1245800) }}|{{ amount(-1234.5, 1) }}|{{ amount(999) }}|{{ amount("11820.5", 1) }}|{{ signed(0.42) }}|{{ signed(-3) }}|{{ signed(0) }}|{{ direction(-0.1) }}{{ direction(2) }}{{ direction(0) }}"#;
    let out = env.render_str(src, context! {}).expect("renders");
    assert_eq!(
        out,
        "1'245'800.00|-1'234.5|999.00|11'820.5|+0.42|-3.00|±0.00|downupflat"
    );
}

#[tokio::test]
async fn greeting_for_clients_and_guests() {
    let alice = fetch_json(services::profile::router(), "/profile/alice").await;
    let html = render_fragment(
        "fragments/greeting.html",
        "greeting",
        "Welcome",
        json_model(alice),
        json!({}),
        signed_in(),
    );
    assert!(html.contains("Welcome back, Alice"), "{html}");
    assert!(
        html.contains("Marco Bianchi") && html.contains("tel:+41445551234"),
        "{html}"
    );
    assert!(html.contains("Private Banking"));

    let guest_profile = fetch_json(services::profile::router(), "/profile/anonymous").await;
    let html = render_fragment(
        "fragments/greeting.html",
        "greeting",
        "Welcome",
        json_model(guest_profile),
        json!({}),
        guest(),
    );
    assert!(html.contains("Welcome to Tessera Private Bank"), "{html}");
    assert!(html.contains("href=\"/login\""));
}

#[tokio::test]
async fn news_lists_headlines() {
    let doc = fetch_json(
        services::news::router(),
        "/headlines?topics=world,markets&limit=5",
    )
    .await;
    let first = doc["items"][0]["title"].as_str().expect("title").to_owned();
    let params = json!({"topics": ["world", "markets"], "limit": 5});
    let html = render_fragment(
        "fragments/news.html",
        "news.headlines",
        "Headlines",
        json_model(doc.clone()),
        params.clone(),
        signed_in(),
    );
    assert_eq!(html.matches("<li class=\"news-item").count(), 5, "{html}");
    assert!(html.contains(&first));
    assert!(html.contains("Your topics: World, Markets"));
    // With `select="items"` the model is the list itself.
    let html = render_fragment(
        "fragments/news.html",
        "news.headlines",
        "Headlines",
        json_model(doc["items"].clone()),
        params,
        signed_in(),
    );
    assert_eq!(html.matches("<li class=\"news-item").count(), 5);
}

#[tokio::test]
async fn quotes_table_with_colours() {
    let doc = fetch_json(
        services::quotes::router(),
        "/quotes?symbols=SMI,DAX,NESN,AAPL,NOPE",
    )
    .await;
    let html = render_fragment(
        "fragments/quotes.html",
        "quotes.watchlist",
        "Watchlist",
        json_model(doc),
        json!({"symbols": ["SMI", "DAX", "NESN", "AAPL", "NOPE"]}),
        signed_in(),
    );
    for s in ["SMI", "DAX", "NESN", "AAPL", "Swiss Market Index", "Nestlé"] {
        assert!(html.contains(s), "{s} in {html}");
    }
    assert_eq!(html.matches("<tr class=\"is-").count(), 4);
    assert!(
        html.contains("pill--up") || html.contains("pill--down") || html.contains("pill--flat")
    );
    assert!(html.contains("Not found: NOPE"));
}

#[tokio::test]
async fn markets_summary_from_xml() {
    let xml = fetch(services::markets::router(), "/summary").await;
    let model = to_model(&xml);
    assert!(model["index"].is_array() && model["commentary"].is_string());
    let html = render_fragment(
        "fragments/markets.html",
        "markets.summary",
        "Markets today",
        json_model(model),
        json!({}),
        guest(),
    );
    assert_eq!(html.matches("<li class=\"index-tile").count(), 6, "{html}");
    assert!(
        html.contains("Swiss Market Index")
            && html.contains("EUR&#x2f;CHF")
            && html.contains("Gold")
    );
    assert!(html.contains("S&amp;P 500"), "names are escaped once");
    assert!(html.contains("class=\"commentary\""));

    // A single <index> is a map, not a list: still one tile.
    let one = to_model(
        r#"<summary as-of="2024-05-01T12:00:00Z"><index symbol="SMI" name="Swiss Market Index" last="11820.5" change="+0.42%"/><commentary>Calm.</commentary></summary>"#,
    );
    let html = render_fragment(
        "fragments/markets.html",
        "markets.summary",
        "Markets today",
        json_model(one),
        json!({}),
        guest(),
    );
    assert_eq!(html.matches("<li class=\"index-tile").count(), 1);
    assert!(html.contains("11'820.5") && html.contains("is-flat"));
}

#[tokio::test]
async fn accounts_with_total() {
    let doc = fetch_json(services::accounts::router(), "/accounts/alice").await;
    let iban = doc["accounts"][0]["iban"]
        .as_str()
        .expect("iban")
        .to_owned();
    let html = render_fragment(
        "fragments/accounts.html",
        "accounts.overview",
        "Your accounts",
        json_model(doc),
        json!({}),
        signed_in(),
    );
    assert!(
        html.contains("Total assets") && html.contains("CHF 1'"),
        "{html}"
    );
    assert!(html.contains(&iban));
    assert_eq!(html.matches("<span class=\"account__name\">").count(), 4);
}

#[tokio::test]
async fn weather_from_xml() {
    let xml = fetch(services::weather::router(), "/forecast?city=Geneva").await;
    let html = render_fragment(
        "fragments/weather.html",
        "weather.forecast",
        "Weather",
        json_model(to_model(&xml)),
        json!({"city": "Geneva"}),
        guest(),
    );
    assert_eq!(
        html.matches("<li class=\"weather__day").count(),
        5,
        "{html}"
    );
    assert!(html.contains("Geneva") && html.contains("Today"));
    let one = to_model(
        r#"<forecast city="Basel"><day name="Mon" high="12" low="4" sky="fog"/></forecast>"#,
    );
    let html = render_fragment(
        "fragments/weather.html",
        "weather.forecast",
        "Weather",
        json_model(one),
        json!({"city": "Basel"}),
        guest(),
    );
    assert_eq!(html.matches("<li class=\"weather__day").count(), 1);
    assert!(
        html.contains("/static/weather/cloudy.svg") && html.contains("alt=\"fog\""),
        "{html}"
    );
}

#[tokio::test]
async fn offers_and_contact() {
    let doc = fetch_json(services::offers::router(), "/offers?segment=retail").await;
    let html = render_fragment(
        "fragments/offers.html",
        "offers.personal",
        "For you",
        json_model(doc),
        json!({"segment": "retail"}),
        guest(),
    );
    assert_eq!(html.matches("<li class=\"offer ").count(), 3, "{html}");
    assert!(html.contains("SARON Flex mortgage"));

    let html = render_fragment(
        "fragments/contact.html",
        "service.contact",
        "Contact us",
        Value::from(()),
        json!({}),
        signed_in(),
    );
    assert!(html.contains("+41 58 555 00 00") && html.contains("secure message"));
}

#[test]
fn fallback_template_per_status() {
    let env = env();
    let tmpl = env
        .get_template("fragments/unavailable.html")
        .expect("fallback");
    for (status, expect) in [
        ("timeout", "taking longer"),
        ("disabled", "switched off"),
        ("error", "can't show"),
    ] {
        let html = tmpl
            .render(context! { fragment => context! { id => "news.headlines", title => "Headlines" }, status, message => "boom" })
            .expect("renders");
        assert!(html.contains(expect), "{status}: {html}");
    }
    let html = tmpl
        .render(context! { fragment => context! { id => "x", title => () }, status => "error", message => () })
        .expect("renders without title or message");
    assert!(html.contains("this section"));
}
