//! Tessera's descriptors: the XML definitions of services, fragments and pages that
//! service teams write, the `tessera.toml` settings operators write, and the template set
//! — read, validated as a whole, and turned into an immutable [`Portal`].
//!
//! Every problem is reported at once, each with file, line and column and a sentence a
//! service team can act on (see docs/descriptors.md for the schema).
//!
//! Layout:
//! - `load` — reading folders into [`Sources`], building and cross-checking a [`Portal`]
//! - `parse` — mapping XML elements to typed definitions (one module per kind)
//! - `model` — the typed definitions ([`ServiceDef`], [`FragmentDef`], [`PageDef`], …)
//! - `xml` — a positioned element tree over quick-xml, with size and nesting limits
//! - `path` — backend path templates and the percent-encoding of substituted values
//! - `settings` — `tessera.toml`
//! - `templates` — the in-memory template set and its compile check
//! - `duration` — `300ms`, `5s`, `1m30s`
//! - `diag` — [`Diagnostic`]s and did-you-mean suggestions

pub mod diag;
pub mod duration;
mod load;
pub mod model;
mod parse;
pub mod path;
pub mod settings;
pub mod templates;
pub mod xml;

pub use diag::{Diagnostic, Diagnostics, Location};
pub use duration::{format_duration, parse_duration};
pub use load::{build, Kind, Portal, SourceFile, Sources};
pub use model::*;
pub use path::PathTemplate;
pub use settings::Settings;
pub use templates::Templates;
