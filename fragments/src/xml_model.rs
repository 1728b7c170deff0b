//! XML backend bodies as template models.
//!
//! An element becomes a map of its attributes plus its child elements by name; a child
//! name that repeats becomes a list; an element with only text becomes that string; the
//! text of an element that also has attributes or children is under `text`. The root
//! element's map is the model. Namespaces prefixes are kept as written (`ns:item`).

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

/// Limits that keep one hostile body from exhausting a node.
const MAX_DEPTH: usize = 64;

pub fn xml_to_model(body: &str) -> Result<Value, String> {
    // Text is trimmed once per element (in `finish`), not per event: quick-xml splits
    // text at entity references, and trimming each piece would eat the spaces around them.
    let mut reader = Reader::from_str(body);
    // (map, text, name) per open element
    let mut stack: Vec<(Map<String, Value>, String, String)> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(format!(
                    "invalid XML at byte {}: {e}",
                    reader.error_position()
                ))
            }
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if root.is_some() && stack.is_empty() => {
                let _ = e;
                return Err("invalid XML: more than one root element".into());
            }
            Ok(Event::Start(e)) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested more than {MAX_DEPTH} levels deep"));
                }
                stack.push((attributes(&e)?, String::new(), name(&e)));
            }
            Ok(Event::Empty(e)) => {
                let value = finish(attributes(&e)?, String::new());
                attach(&mut stack, &mut root, name(&e), value);
            }
            Ok(Event::End(_)) => {
                if let Some((map, text, n)) = stack.pop() {
                    attach(&mut stack, &mut root, n, finish(map, text));
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(top) = stack.last_mut() {
                    top.1
                        .push_str(&t.decode().map_err(|e| format!("invalid XML text: {e}"))?);
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(top) = stack.last_mut() {
                    top.1
                        .push_str(&t.decode().map_err(|e| format!("invalid XML text: {e}"))?);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let n = r.decode().unwrap_or_default();
                        quick_xml::escape::resolve_xml_entity(&n)
                            .ok_or_else(|| format!("invalid XML: unknown entity &{n};"))?
                            .to_owned()
                    }
                };
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&text);
                }
            }
            Ok(Event::DocType(_)) => {
                return Err("XML with a DOCTYPE is not accepted from backends".into())
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("invalid XML: the document ends inside an element".into());
    }
    root.ok_or_else(|| "invalid XML: no root element".into())
}

fn name(e: &quick_xml::events::BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.name().as_ref()).into_owned()
}

fn attributes(e: &quick_xml::events::BytesStart<'_>) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("invalid XML attribute: {e}"))?;
        let v = a
            .unescape_value()
            .map_err(|e| format!("invalid XML attribute: {e}"))?;
        map.insert(
            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
            Value::String(v.into_owned()),
        );
    }
    Ok(map)
}

fn finish(mut map: Map<String, Value>, text: String) -> Value {
    let text = text.trim();
    if map.is_empty() {
        return Value::String(text.to_owned());
    }
    if !text.is_empty() {
        map.insert("text".into(), Value::String(text.to_owned()));
    }
    Value::Object(map)
}

fn attach(
    stack: &mut [(Map<String, Value>, String, String)],
    root: &mut Option<Value>,
    name: String,
    value: Value,
) {
    let Some((parent, _, _)) = stack.last_mut() else {
        *root = Some(value);
        return;
    };
    match parent.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            parent.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_attributes_lists_and_text() {
        let m = xml_to_model(
            r#"<summary as-of="09:30"><index symbol="SMI" last="1"/><index symbol="DAX" last="2"/><fx pair="EUR/CHF">0.94</fx><commentary>Calm &amp; steady</commentary></summary>"#,
        )
        .expect("valid");
        assert_eq!(
            m,
            json!({"as-of": "09:30",
                   "index": [{"symbol": "SMI", "last": "1"}, {"symbol": "DAX", "last": "2"}],
                   "fx": {"pair": "EUR/CHF", "text": "0.94"},
                   "commentary": "Calm & steady"})
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(xml_to_model("<a><b></a>").is_err());
        assert!(xml_to_model("not xml").is_err());
        assert!(xml_to_model("<!DOCTYPE a><a/>").is_err());
        assert!(xml_to_model("<a>&boom;</a>").is_err());
    }
}
