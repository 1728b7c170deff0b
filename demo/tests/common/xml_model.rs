//! The engine's XML-to-model conversion, redone by hand for the template
//! tests: an element becomes a map of its attributes plus its child elements
//! by name (a repeated name becomes a list); a text-only element becomes a
//! string; text next to attributes or children goes under `text`. The root
//! element's map is the model.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

struct Open {
    name: String,
    attrs: Map<String, Value>,
    children: Vec<(String, Value)>,
    text: String,
}

impl Open {
    fn from_start(e: &quick_xml::events::BytesStart<'_>) -> Open {
        let mut attrs = Map::new();
        for a in e.attributes() {
            let a = a.expect("well-formed attribute");
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a.unescape_value().expect("attribute value").into_owned();
            attrs.insert(key, Value::String(value));
        }
        Open {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            attrs,
            children: Vec::new(),
            text: String::new(),
        }
    }

    fn finish(self) -> (String, Value) {
        let text = self.text.trim().to_owned();
        if self.attrs.is_empty() && self.children.is_empty() {
            return (self.name, Value::String(text));
        }
        let mut map = self.attrs;
        for (name, value) in self.children {
            match map.get_mut(&name) {
                Some(Value::Array(list)) => list.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    map.insert(name, value);
                }
            }
        }
        if !text.is_empty() {
            map.insert("text".to_owned(), Value::String(text));
        }
        (self.name, Value::Object(map))
    }
}

/// Converts an XML document into the model a template sees.
pub fn to_model(xml: &str) -> Value {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Open> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(Open::from_start(&e)),
            Event::Empty(e) => {
                let (name, value) = Open::from_start(&e).finish();
                match stack.last_mut() {
                    Some(parent) => parent.children.push((name, value)),
                    None => return value,
                }
            }
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.decode().expect("text"));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(open) = stack.last_mut() {
                    let name = r.decode().expect("entity");
                    open.text.push_str(match name.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    });
                }
            }
            Event::End(_) => {
                let (name, value) = stack.pop().expect("balanced").finish();
                match stack.last_mut() {
                    Some(parent) => parent.children.push((name, value)),
                    None => return value,
                }
            }
            Event::Eof => panic!("document ended before its root element closed"),
            _ => {}
        }
    }
}

#[test]
fn converts_like_the_engine() {
    let m = to_model(
        r#"<?xml version="1.0"?><summary as-of="t"><index symbol="A"/><index symbol="B"/><fx pair="X"/><commentary>Up &amp; away</commentary><note kind="k">hi</note></summary>"#,
    );
    assert_eq!(m["as-of"], "t");
    assert_eq!(m["index"][1]["symbol"], "B");
    assert_eq!(m["fx"]["pair"], "X");
    assert_eq!(m["commentary"], "Up & away");
    assert_eq!(m["note"]["text"], "hi");
}
