//! Backend path templates: `/headlines?topics={param.topics}&limit={param.limit}`.
//!
//! A fragment names a path below its service's base URL, never a URL of its own. Values
//! substituted into it are percent-encoded (everything but unreserved characters), so no
//! parameter or user id can add a path segment, a query parameter, a fragment or a
//! header line; a value made only of dots is encoded twice (URL parsers resolve `%2E%2E`
//! as `..`), so it can never climb a level.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Literal(String),
    /// `{param.NAME}`
    Param(String),
    /// `{user.id}`: the fragment reads per-user data.
    UserId,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    pub raw: String,
    pub parts: Vec<Part>,
}

impl PathTemplate {
    /// Parses a template; the error is a sentence for the descriptor's author.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !raw.starts_with('/') || raw.starts_with("//") {
            return Err(format!(
                "path \"{raw}\" must start with a single \"/\": it is a path below the service's base URL, never a URL of its own"
            ));
        }
        if let Some(c) = raw
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '#')
        {
            return Err(format!(
                "path \"{raw}\" contains {c:?}, which is not allowed in a backend path"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(format!(
                    "path \"{raw}\" has a \"}}\" without a matching \"{{\""
                ));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("path \"{raw}\" has a \"{{\" without a matching \"}}\""))?;
            let name = &after[..close];
            parts.push(match name.split_once('.') {
                Some(("param", p)) if is_name(p) => Part::Param(p.to_owned()),
                _ if name == "user.id" => Part::UserId,
                _ => {
                    return Err(format!(
                        "path \"{raw}\" has an unknown placeholder \"{{{name}}}\"; use {{param.NAME}} for a declared parameter or {{user.id}}"
                    ))
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self {
            raw: raw.to_owned(),
            parts,
        })
    }

    /// The parameter names the template uses.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Whether the path depends on who asks.
    pub fn reads_user(&self) -> bool {
        self.parts.contains(&Part::UserId)
    }

    /// Fills in the placeholders. `param` returns a parameter's items (one item for a
    /// scalar); list items are encoded one by one and joined with literal commas.
    pub fn render(&self, mut param: impl FnMut(&str) -> Vec<String>, user_id: &str) -> String {
        let mut out = String::with_capacity(self.raw.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Param(name) => {
                    for (i, item) in param(name).iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        encode_into(&mut out, item);
                    }
                }
                Part::UserId => encode_into(&mut out, user_id),
            }
        }
        out
    }
}

fn encode_into(out: &mut String, value: &str) {
    if !value.is_empty() && value.bytes().all(|b| b == b'.') {
        // URL parsers treat `%2E%2E` as `..` and resolve it (WHATWG URL): a value made
        // only of dots is encoded twice, so it reaches the backend as text, never as a
        // path step.
        out.extend(std::iter::repeat_n("%252E", value.len()));
    } else {
        out.extend(utf8_percent_encode(value, COMPONENT));
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(raw: &str, value: &str) -> String {
        PathTemplate::parse(raw)
            .expect("valid")
            .render(|_| vec![value.to_owned()], value)
    }

    #[test]
    fn substitutes_and_encodes() {
        assert_eq!(render("/q?s={param.s}", "AAPL"), "/q?s=AAPL");
        assert_eq!(render("/q?s={param.s}", "a b&c=d"), "/q?s=a%20b%26c%3Dd");
        assert_eq!(render("/p/{user.id}", "../admin"), "/p/..%2Fadmin");
        assert_eq!(render("/p/{user.id}", ".."), "/p/%252E%252E");
        assert_eq!(render("/p/{user.id}", "%2e%2e"), "/p/%252e%252e");
        assert_eq!(
            render("/p/{user.id}", "x\r\nHost: evil"),
            "/p/x%0D%0AHost%3A%20evil"
        );
        assert_eq!(render("/q?s={param.s}", "1?x=2#f"), "/q?s=1%3Fx%3D2%23f");
    }

    #[test]
    fn lists_join_with_literal_commas() {
        let t = PathTemplate::parse("/h?t={param.t}").expect("valid");
        let out = t.render(|_| vec!["world".into(), "a,b".into()], "u");
        assert_eq!(out, "/h?t=world,a%2Cb");
    }

    #[test]
    fn rejects_urls_and_bad_placeholders() {
        assert!(PathTemplate::parse("http://evil/").is_err());
        assert!(PathTemplate::parse("//evil/x").is_err());
        assert!(PathTemplate::parse("/a b").is_err());
        assert!(PathTemplate::parse("/a/{param.x").is_err());
        assert!(PathTemplate::parse("/a/}").is_err());
        assert!(PathTemplate::parse("/a/{env.HOME}").is_err());
        assert_eq!(
            PathTemplate::parse("/a/{param.x}/{user.id}")
                .expect("valid")
                .params()
                .collect::<Vec<_>>(),
            ["x"]
        );
    }
}
