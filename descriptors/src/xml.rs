//! A small positioned element tree over quick-xml.
//!
//! quick-xml's serde mapping loses positions, and a service team needs the line and
//! column of the attribute it got wrong; so descriptors are read into this tree first and
//! mapped to typed definitions by hand (see docs/adr/0002-positioned-xml-tree.md).
//! DOCTYPE declarations, entity definitions and entity references other than XML's five
//! predefined ones are rejected, which closes the door on entity-expansion attacks.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::diag::{Diagnostic, Location};

/// Limits applied while reading one document.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    /// The deepest element nesting accepted.
    pub max_depth: usize,
    /// The most elements accepted in one document.
    pub max_elements: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_elements: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: String,
    pub value: String,
    /// Where the attribute's name starts.
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    /// Where the `<` of the start tag is.
    pub location: Location,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    /// The element's text content (text and CDATA directly inside it), whitespace-trimmed.
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Maps byte offsets to line and column.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    pub(crate) fn location(&self, file: &str, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Location::new(file, line as u32, column as u32)
    }
}

/// Parses a whole document into its root element.
pub fn parse(file: &str, text: &str, limits: XmlLimits) -> Result<Element, Diagnostic> {
    let index = LineIndex::new(text);
    let base = text.as_ptr() as usize;
    // Offsets of borrowed slices into `text`: exact positions at no cost.
    let offset_of = |slice: &[u8]| -> usize {
        let p = slice.as_ptr() as usize;
        if p >= base && p <= base + text.len() {
            p - base
        } else {
            0
        }
    };
    let at = |offset: usize| index.location(file, offset);
    let fail = |offset: usize, msg: String| Diagnostic::new(at(offset), msg);

    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;

    loop {
        let before = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                return Err(fail(
                    reader.error_position() as usize,
                    format!("malformed XML: {e}"),
                ))
            }
        };
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let _ = start;
                return Err(fail(
                    before,
                    "malformed XML: a descriptor file holds exactly one root element".into(),
                ));
            }
            Event::Start(start) => {
                elements += 1;
                check_limits(&stack, elements, limits).map_err(|m| fail(before, m))?;
                stack.push(element(&start, before, &offset_of, &at)?);
            }
            Event::Empty(start) => {
                elements += 1;
                check_limits(&stack, elements, limits).map_err(|m| fail(before, m))?;
                let el = element(&start, before, &offset_of, &at)?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                if let Some(el) = stack.pop() {
                    close(&mut stack, &mut root, el);
                }
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| fail(before, format!("malformed XML: {e}")))?;
                append_text(&mut stack, &s, before, &fail)?;
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| fail(before, format!("malformed XML: {e}")))?;
                append_text(&mut stack, &s, before, &fail)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.decode().unwrap_or_default().into_owned();
                        match quick_xml::escape::resolve_xml_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => {
                                return Err(fail(
                                    before,
                                    format!("unknown entity \"&{name};\": descriptors may use only &amp; &lt; &gt; &quot; &apos; and character references"),
                                ))
                            }
                        }
                    }
                    Err(e) => return Err(fail(before, format!("malformed XML: {e}"))),
                };
                append_text(&mut stack, &resolved, before, &fail)?;
            }
            Event::DocType(_) => {
                return Err(fail(
                    before,
                    "DOCTYPE declarations are not allowed in descriptors".into(),
                ))
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(Diagnostic::new(
            open.location.clone(),
            format!("malformed XML: element <{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| {
        Diagnostic::new(
            Location::file_start(file),
            "malformed XML: the file holds no element",
        )
    })
}

fn check_limits(stack: &[Element], elements: usize, limits: XmlLimits) -> Result<(), String> {
    if stack.len() >= limits.max_depth {
        return Err(format!(
            "elements are nested more than {} levels deep",
            limits.max_depth
        ));
    }
    if elements > limits.max_elements {
        return Err(format!(
            "the file has more than {} elements",
            limits.max_elements
        ));
    }
    Ok(())
}

fn element(
    start: &BytesStart<'_>,
    before: usize,
    offset_of: &dyn Fn(&[u8]) -> usize,
    at: &dyn Fn(usize) -> Location,
) -> Result<Element, Diagnostic> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let tag_offset = offset_of(start).saturating_sub(1).max(before);
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr =
            attr.map_err(|e| Diagnostic::new(at(tag_offset), format!("malformed XML: {e}")))?;
        let key_offset = offset_of(attr.key.as_ref());
        let attr_name = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr.unescape_value().map_err(|e| {
            let what = match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
                    format!("uses the unknown entity \"&{name};\"")
                }
                other => format!("has an invalid value ({other})"),
            };
            Diagnostic::new(
                at(key_offset),
                format!("attribute \"{attr_name}\" {what}; descriptors may use only &amp; &lt; &gt; &quot; &apos; and character references"),
            )
        })?;
        attrs.push(Attr {
            name: attr_name,
            value: value.into_owned(),
            location: at(key_offset),
        });
    }
    Ok(Element {
        name,
        location: at(tag_offset),
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, mut el: Element) {
    el.text = el.text.trim().to_owned();
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn append_text(
    stack: &mut [Element],
    text: &str,
    offset: usize,
    fail: &dyn Fn(usize, String) -> Diagnostic,
) -> Result<(), Diagnostic> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(fail(
            offset,
            "malformed XML: text outside the root element".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Element, String> {
        parse("t.xml", text, XmlLimits::default()).map_err(|d| d.to_string())
    }

    #[test]
    fn positions_of_elements_and_attributes() {
        let root = p("<a x=\"1\">\n  <b  yy='2'/>\n</a>").expect("valid");
        assert_eq!(root.location.to_string(), "t.xml:1:1");
        assert_eq!(root.attrs[0].location.to_string(), "t.xml:1:4");
        let b = &root.children[0];
        assert_eq!(b.location.to_string(), "t.xml:2:3");
        assert_eq!(b.attrs[0].location.to_string(), "t.xml:2:7");
        assert_eq!(b.attrs[0].value, "2");
    }

    #[test]
    fn text_and_predefined_entities() {
        let root = p("<a>x &amp; y &#65;<![CDATA[<z>]]></a>").expect("valid");
        assert_eq!(root.text, "x & y A<z>");
        let root = p("<a v=\"a&amp;b\"/>").expect("valid");
        assert_eq!(root.attrs[0].value, "a&b");
    }

    #[test]
    fn rejects_doctype_and_custom_entities() {
        assert_eq!(
            p("<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY e \"x\">]>\n<a/>").unwrap_err(),
            "t.xml:2:1: DOCTYPE declarations are not allowed in descriptors"
        );
        assert!(p("<a>&e;</a>")
            .unwrap_err()
            .contains("unknown entity \"&e;\""));
    }

    #[test]
    fn malformed_documents() {
        assert!(p("<a><b></a>").unwrap_err().starts_with("t.xml:1:"));
        assert!(p("<a>").unwrap_err().contains("never closed"));
        assert!(p("").unwrap_err().contains("holds no element"));
        assert!(p("<a/><b/>")
            .unwrap_err()
            .contains("exactly one root element"));
    }

    #[test]
    fn depth_limit() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(p(&deep).unwrap_err().contains("nested more than 32 levels"));
    }
}
