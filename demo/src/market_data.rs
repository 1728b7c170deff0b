//! Simulated market prices shared by the `quotes` and `markets` services, so
//! the watchlist and the market summary tell the same story at any instant.
//!
//! A price is its instrument's base level moved by a per-day "previous close"
//! offset and an intraday drift (a slow five-minute swing plus a small
//! twenty-second wiggle). Prices keep drifting outside trading hours on
//! purpose: a demo shown in the evening or at the weekend should still move
//! (the market summary calls those readings after-hours indications).

use crate::clock::day_number;
use crate::noise::{drift, hash, round, unit};

/// What kind of instrument a symbol is (decides rounding and display).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Equity,
}

/// A tradable instrument known to the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Instrument {
    pub symbol: &'static str,
    pub name: &'static str,
    pub currency: &'static str,
    pub kind: Kind,
    /// Typical level; prices stay within a few percent of it.
    pub base: f64,
    /// Typical daily move as a fraction (indices move less than single stocks).
    pub volatility: f64,
}

const fn ix(
    symbol: &'static str,
    name: &'static str,
    currency: &'static str,
    base: f64,
) -> Instrument {
    Instrument {
        symbol,
        name,
        currency,
        kind: Kind::Index,
        base,
        volatility: 0.008,
    }
}

const fn eq(
    symbol: &'static str,
    name: &'static str,
    currency: &'static str,
    base: f64,
) -> Instrument {
    Instrument {
        symbol,
        name,
        currency,
        kind: Kind::Equity,
        base,
        volatility: 0.015,
    }
}

/// Every instrument the simulation quotes.
pub const INSTRUMENTS: &[Instrument] = &[
    ix("SMI", "Swiss Market Index", "CHF", 11_820.5),
    ix("DAX", "DAX 40", "EUR", 18_450.2),
    ix("SX5E", "Euro Stoxx 50", "EUR", 4_980.7),
    ix("SPX", "S&P 500", "USD", 5_230.1),
    ix("NDX", "Nasdaq 100", "USD", 18_310.4),
    ix("N225", "Nikkei 225", "JPY", 38_920.0),
    eq("NESN", "Nestlé", "CHF", 96.42),
    eq("NOVN", "Novartis", "CHF", 88.16),
    eq("ROG", "Roche Holding", "CHF", 245.60),
    eq("UBSG", "UBS Group", "CHF", 24.83),
    eq("ZURN", "Zurich Insurance", "CHF", 468.90),
    eq("ABBN", "ABB", "CHF", 47.35),
    eq("AAPL", "Apple", "USD", 189.50),
    eq("MSFT", "Microsoft", "USD", 415.30),
    eq("NVDA", "NVIDIA", "USD", 118.70),
    eq("SAP", "SAP", "EUR", 178.25),
];

/// The indices shown in the market summary, in display order.
pub const SUMMARY_INDICES: &[&str] = &["SMI", "DAX", "SX5E", "SPX", "NDX", "N225"];

/// Looks an instrument up by symbol (case-insensitive).
pub fn instrument(symbol: &str) -> Option<&'static Instrument> {
    INSTRUMENTS
        .iter()
        .find(|i| i.symbol.eq_ignore_ascii_case(symbol))
}

/// A price reading at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub last: f64,
    pub change: f64,
    pub change_pct: f64,
}

/// Price of a generic series (`seed`, `base`, `volatility`) at `now`.
pub fn price_of(seed: u64, base: f64, volatility: f64, now: u64, digits: i32) -> Price {
    let t = now;
    let day = day_number(t);
    let prev_close = base * (1.0 + 2.0 * volatility * unit(seed ^ day));
    let intraday =
        volatility * drift(seed, t, 300) + volatility * 0.15 * drift(seed ^ 0xA5A5, t, 20);
    let last = round(prev_close * (1.0 + intraday), digits);
    let prev_close = round(prev_close, digits);
    let change = round(last - prev_close, digits);
    let change_pct = if prev_close == 0.0 {
        0.0
    } else {
        round(change / prev_close * 100.0, 2)
    };
    Price {
        last,
        change,
        change_pct,
    }
}

/// Price of `instrument` at `now`.
pub fn quote(instrument: &Instrument, now: u64) -> Price {
    let digits = match instrument.kind {
        Kind::Index => 1,
        Kind::Equity => 2,
    };
    price_of(
        hash(instrument.symbol),
        instrument.base,
        instrument.volatility,
        now,
        digits,
    )
}

/// A currency pair with its typical rate.
pub const FX_PAIRS: &[(&str, f64)] = &[
    ("EUR/CHF", 0.9412),
    ("USD/CHF", 0.8830),
    ("GBP/CHF", 1.1150),
    ("EUR/USD", 1.0660),
    ("USD/JPY", 151.20),
];

/// Rate of an FX pair at `now` (4 decimals, 2 for JPY crosses).
pub fn fx(pair: &str, base: f64, now: u64) -> Price {
    let digits = if pair.ends_with("JPY") { 2 } else { 4 };
    price_of(hash(pair), base, 0.003, now, digits)
}

/// CHF value of one unit of `currency` at `now` (1.0 for CHF and unknown codes).
pub fn to_chf(currency: &str, now: u64) -> f64 {
    let pair = format!("{currency}/CHF");
    FX_PAIRS
        .iter()
        .find(|(p, _)| *p == pair)
        .map(|(p, base)| fx(p, *base, now).last)
        .unwrap_or(1.0)
}

/// Commodities in the summary: name, unit, typical level.
pub const COMMODITIES: &[(&str, &str, f64)] = &[
    ("Gold", "USD/oz", 2_345.0),
    ("Brent crude", "USD/bbl", 82.4),
];

/// Formats a percentage with an explicit sign: `+0.42%`, `-1.10%`.
pub fn signed_pct(pct: f64) -> String {
    if pct >= 0.0 {
        format!("+{pct:.2}%")
    } else {
        format!("{pct:.2}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WED_NOON: u64 = 1_714_564_800; // 2024-05-01T12:00:00Z, a Wednesday

    #[test]
    fn prices_stay_near_their_base() {
        for i in INSTRUMENTS {
            for k in 0..50 {
                let p = quote(i, WED_NOON + k * 997);
                let dev = (p.last / i.base - 1.0).abs();
                assert!(dev < 5.0 * i.volatility, "{} {} {dev}", i.symbol, p.last);
            }
        }
    }

    #[test]
    fn prices_drift_and_are_reproducible() {
        let smi = instrument("smi").map(|i| quote(i, WED_NOON));
        assert_eq!(smi, instrument("SMI").map(|i| quote(i, WED_NOON)));
        let later = instrument("SMI").map(|i| quote(i, WED_NOON + 150));
        assert_ne!(smi, later);
        // Small steps: the drift is smooth, not a jump per reading.
        let (a, b) = (smi.map_or(0.0, |p| p.last), later.map_or(0.0, |p| p.last));
        assert!((a / b - 1.0).abs() < 0.01, "{a} {b}");
    }

    #[test]
    fn change_is_consistent() {
        let p = instrument("NESN").map(|i| quote(i, WED_NOON));
        let p = p.expect("NESN is known");
        assert!((p.change_pct - p.change / (p.last - p.change) * 100.0).abs() < 0.02);
    }

    #[test]
    fn formats_signed_percentages() {
        assert_eq!(signed_pct(0.4213), "+0.42%");
        assert_eq!(signed_pct(-1.1), "-1.10%");
        assert!(to_chf("EUR", WED_NOON) > 0.9 && to_chf("CHF", WED_NOON) == 1.0);
    }
}
