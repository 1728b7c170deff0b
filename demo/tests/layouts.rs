//! The layouts and error pages render with the context the engine gives
//! them: regions of result objects, `missing`, navigation — including the
//! status lines and the banner for sections that could not be loaded.

mod common;

use common::render::{env, guest, json_model, render_fragment, signed_in};
use common::xml_model::to_model;
use common::{fetch, fetch_json};
use minijinja::{context, Value};
use serde_json::json;
use tessera_demo::services;

/// A result object as the engine hands it to layouts.
fn result(
    id: &str,
    title: &str,
    status: &str,
    html: &str,
    message: Option<&str>,
    elapsed_ms: u64,
) -> Value {
    context! {
        id, title, status,
        ok => status == "ok",
        html => Value::from_safe_string(html.to_owned()),
        message => message.map(str::to_owned),
        elapsed_ms,
    }
}

fn nav(current: &str) -> Value {
    Value::from_serialize(json!([
        {"id": "home", "title": "Home", "href": "/", "current": current == "home"},
        {"id": "markets", "title": "Markets", "href": "/markets", "current": current == "markets"},
    ]))
}

/// Renders `layouts/home.html` for `user` with the given main region.
fn render_home(user: Value, greeting: &str, main: Vec<Value>) -> String {
    let top = vec![result("greeting", "Welcome", "ok", greeting, None, 16)];
    let side = vec![result(
        "service.contact",
        "Contact us",
        "ok",
        "<p>call us</p>",
        None,
        0,
    )];
    let missing: Vec<Value> = main
        .iter()
        .filter(|r| !r.get_attr("ok").is_ok_and(|v| v.is_true()))
        .cloned()
        .collect();
    env()
        .get_template("layouts/home.html")
        .expect("layout")
        .render(context! {
            portal => context! { name => "Tessera Private Bank" },
            page => context! { id => "home", title => "Home" },
            user,
            nav => nav("home"),
            regions => context! { top, main, side },
            fragments => context! {},
            missing,
        })
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn home_layout_with_missing_fragments() {
    let env = env();
    let profile = fetch_json(services::profile::router(), "/profile/alice").await;
    let greeting = render_fragment(
        "fragments/greeting.html",
        "greeting",
        "Welcome",
        json_model(profile),
        json!({}),
        signed_in(),
    );
    let research = fetch(services::research::router(), "/teaser?limit=3").await;
    let fallback = env
        .get_template("fragments/unavailable.html")
        .and_then(|t| t.render(context! { fragment => context!{ id => "quotes.watchlist", title => "Watchlist" }, status => "timeout", message => "timeout after 300 ms" }))
        .expect("fallback renders");
    // The engine also says what a fallback covers for.
    let weather = context! {
        cause => "timeout",
        ..result("weather.forecast", "Weather", "fallback", &fallback, Some("timeout after 300 ms"), 300)
    };
    let main = vec![
        result(
            "accounts.overview",
            "Your accounts",
            "fallback",
            "Sign in to see your accounts.",
            Some("backend answered 404"),
            81,
        ),
        result(
            "quotes.watchlist",
            "Watchlist",
            "timeout",
            &fallback,
            Some("timeout after 300 ms"),
            300,
        ),
        result("research.teaser", "Research", "ok", &research, None, 121),
        result("news.headlines", "Headlines", "error", "", None, 12),
        weather,
    ];
    let html = render_home(signed_in(), &greeting, main);

    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/tessera.css\">"));
    assert!(html.contains("<title>Home · Tessera Private Bank</title>"));
    assert!(html.contains("class=\"is-current\" aria-current=\"page\">Home</a>"));
    assert!(html.contains("Welcome back, Alice"));
    assert!(
        html.contains("<ul class=\"research-list\">"),
        "backend markup is embedded as is"
    );
    assert!(
        html.contains("Watchlist is unavailable right now (timeout after 300 ms)."),
        "{html}"
    );
    assert!(html.contains("Headlines could not be loaded (error)."));
    assert!(
        html.contains("Weather is unavailable right now (timeout after 300 ms)."),
        "a fallback is described by its cause"
    );
    // A signed-in client should have accounts: their fallback is a fault.
    assert!(html.contains("Your accounts: showing limited content (backend answered 404)."));
    assert!(html.contains("4 sections could not be loaded:"), "{html}");
    assert!(html.contains("href=\"#quotes-watchlist\">Watchlist</a>"));
    assert!(html.contains("Sign out"));
}

#[tokio::test]
async fn home_layout_for_a_guest_expects_no_accounts() {
    let profile = fetch_json(services::profile::router(), "/profile/anonymous").await;
    let greeting = render_fragment(
        "fragments/greeting.html",
        "greeting",
        "Welcome",
        json_model(profile),
        json!({}),
        guest(),
    );
    let main = vec![
        result(
            "accounts.overview",
            "Your accounts",
            "fallback",
            "Sign in to see your accounts.",
            Some("backend answered 404"),
            81,
        ),
        result("news.headlines", "Headlines", "ok", "<ol></ol>", None, 40),
    ];
    let html = render_home(guest(), &greeting, main);
    assert!(html.contains("Sign in to see your accounts."));
    assert!(!html.contains("could not be loaded"), "{html}");
    assert!(!html.contains("slot-status"), "{html}");
    assert!(!html.contains("card--degraded"));
    assert!(html.contains("E-Banking login"));

    let main = vec![
        result(
            "accounts.overview",
            "Your accounts",
            "fallback",
            "Sign in to see your accounts.",
            Some("backend answered 404"),
            81,
        ),
        result(
            "news.headlines",
            "Headlines",
            "timeout",
            "",
            Some("timeout after 300 ms"),
            300,
        ),
    ];
    let html = render_home(guest(), &greeting, main);
    assert!(html.contains("1 section could not be loaded:"), "{html}");
}

#[tokio::test]
async fn markets_layout_for_a_guest() {
    let env = env();
    let xml = fetch(services::markets::router(), "/summary").await;
    let summary = render_fragment(
        "fragments/markets.html",
        "markets.summary",
        "Markets today",
        json_model(to_model(&xml)),
        json!({}),
        guest(),
    );
    let main = vec![result(
        "markets.summary",
        "Markets today",
        "ok",
        &summary,
        None,
        61,
    )];
    let html = env
        .get_template("layouts/markets.html")
        .expect("layout")
        .render(context! {
            portal => context! { name => "Tessera Private Bank" },
            page => context! { id => "markets", title => "Markets" },
            user => guest(),
            nav => nav("markets"),
            regions => context! { main, side => Vec::<Value>::new() },
            fragments => context! {},
            missing => Vec::<Value>::new(),
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(html.contains("<h1>Markets</h1>"));
    assert!(html.contains("Swiss Market Index"));
    assert!(!html.contains("could not be loaded"));
    assert!(html.contains("E-Banking login"));
}

#[test]
fn error_pages() {
    let env = env();
    let html = env
        .get_template("errors/404.html")
        .and_then(|t| t.render(context! { portal => context!{ name => "Tessera Private Bank" }, nav => nav(""), path => "/nope<script>" }))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(html.contains("Page not found · Tessera Private Bank"));
    assert!(
        html.contains("nope&lt;script&gt;") && !html.contains("<script>"),
        "path is escaped"
    );
    assert!(
        html.contains("href=\"&#x2f;markets\""),
        "nav links, slash-escaped by minijinja"
    );

    let html = env
        .get_template("errors/500.html")
        .and_then(|t| t.render(context! { portal => context!{ name => "Tessera Private Bank" }, message => "template error" }))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(html.contains("Something went wrong") && html.contains("template error"));
}
