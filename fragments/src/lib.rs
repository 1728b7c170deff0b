//! The fragment layer: fragment instances and their chains, from backend data to markup.
//!
//! A fragment instance is produced in stages — source (the backend's answer), model
//! (parsed and selected data), markup (rendered by the fragment's template) — and always
//! ends in a [`FragmentResult`] the layout can show, whatever failed on the way.
//!
//! Layout:
//! - `produce` — [`Fragments::produce`]: one instance through its cached stages
//! - `source` — the source stage: coalesced fetches, revalidation, object-key headers
//! - `cache` — the fragment cache and the object dependency graph
//! - `lifecycle` — freshness, stale windows, backend `Cache-Control`
//! - `model` — the model stage: reading JSON/XML/HTML/text bodies, `select`
//! - `xml_model` — XML bodies as template models
//! - `render` — the minijinja [`Renderer`] over the in-memory template set
//! - `result` — [`FragmentResult`] and its [`Status`]
//! - `context` — the [`Viewer`] and resolved [`Params`]
//! - `trace` — [`RequestTrace`]: the request id and `traceparent` backends receive

pub mod cache;
pub mod context;
pub mod lifecycle;
pub mod model;
pub mod produce;
pub mod render;
pub mod result;
pub mod sanitize;
pub mod source;
pub mod trace;
pub mod xml_model;

pub use context::{Params, Profile, RenderContext, Viewer};
pub use model::Model;
pub use produce::{escape_html, result_value, FragmentState, Fragments};
pub use render::{RenderError, Renderer};
pub use result::{FragmentResult, Origin, Status};
pub use trace::RequestTrace;
