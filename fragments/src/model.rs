//! The model stage: a backend body read as its declared format, then narrowed by the
//! fragment's `select` path.

use serde_json::Value;
use tessera_descriptors::Format;

use crate::xml_model::xml_to_model;

/// A fragment's data, ready for its template.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// Parsed JSON or XML (or text) data.
    Data(Value),
    /// Ready-made markup from an `html` backend, embedded as is.
    Markup(String),
}

impl Model {
    /// The model as plain data (markup as a string), for the JSON channel.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Data(v) => v.clone(),
            Self::Markup(s) => Value::String(s.clone()),
        }
    }
}

/// Reads a body as `format`, checking the declared content type first so that a backend
/// sending an error page instead of data gets a clear message, not a parse error.
pub fn read_body(format: Format, content_type: Option<&str>, body: &[u8]) -> Result<Model, String> {
    if let Some(ct) = content_type {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !accepts(format, &mime) {
            return Err(format!(
                "expected {} but the backend sent {mime}",
                describe(format)
            ));
        }
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "the backend's answer is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        )
    })?;
    match format {
        Format::Json => serde_json::from_str(text)
            .map(Model::Data)
            .map_err(|e| format!("invalid JSON from the backend: {e}")),
        Format::Xml => xml_to_model(text).map(Model::Data),
        Format::Html => Ok(Model::Markup(text.to_owned())),
        Format::Text => Ok(Model::Data(Value::String(text.to_owned()))),
    }
}

fn accepts(format: Format, mime: &str) -> bool {
    match format {
        Format::Json => mime == "application/json" || mime.ends_with("+json"),
        Format::Xml => mime == "application/xml" || mime == "text/xml" || mime.ends_with("+xml"),
        Format::Html => mime == "text/html" || mime == "application/xhtml+xml",
        Format::Text => mime.starts_with("text/"),
    }
}

fn describe(format: Format) -> &'static str {
    match format {
        Format::Json => "JSON",
        Format::Xml => "XML",
        Format::Html => "HTML",
        Format::Text => "text",
    }
}

/// Narrows a model to the value at a dotted path (`items`, `summary.index`).
pub fn select(model: Model, path: &[String]) -> Result<Model, String> {
    let Model::Data(mut value) = model else {
        return Ok(model);
    };
    for (i, key) in path.iter().enumerate() {
        value = match value {
            Value::Object(mut map) => map.remove(key),
            Value::Array(mut items) => key
                .parse::<usize>()
                .ok()
                .filter(|n| *n < items.len())
                .map(|n| items.swap_remove(n)),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "the backend's data has no \"{}\" (select=\"{}\")",
                path[..=i].join("."),
                path.join(".")
            )
        })?;
    }
    Ok(Model::Data(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_and_content_types() {
        assert_eq!(
            read_body(
                Format::Json,
                Some("application/json; charset=utf-8"),
                br#"{"a":1}"#
            ),
            Ok(Model::Data(json!({"a": 1})))
        );
        assert_eq!(
            read_body(Format::Json, Some("text/html"), b"<h1>oops</h1>"),
            Err("expected JSON but the backend sent text/html".into())
        );
        assert!(read_body(Format::Json, None, b"{\"a\":")
            .unwrap_err()
            .starts_with("invalid JSON from the backend: EOF while parsing"));
        assert_eq!(
            read_body(Format::Html, Some("text/html"), b"<b>x</b>"),
            Ok(Model::Markup("<b>x</b>".into()))
        );
        assert!(read_body(Format::Text, Some("text/plain"), &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn select_walks_maps_and_lists() {
        let m = Model::Data(json!({"a": {"b": [10, 20]}}));
        assert_eq!(
            select(m.clone(), &["a".into(), "b".into(), "1".into()]),
            Ok(Model::Data(json!(20)))
        );
        assert_eq!(
            select(m, &["a".into(), "c".into()]),
            Err("the backend's data has no \"a.c\" (select=\"a.c\")".into())
        );
    }
}
