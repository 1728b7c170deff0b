//! Sanitizing ready-made HTML from backends (ammonia): scripts, event handlers,
//! `javascript:` URLs and other active content go; structure, links and classes stay.

use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    // Layout classes are harmless and fragments rely on them for styling.
    b.add_generic_attributes(["class"]);
    b
});

pub fn clean(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_content_goes_structure_stays() {
        let dirty = r#"<ul class="list"><li><a href="javascript:alert(1)" onclick="x()">x</a><script>alert(2)</script><img src=x onerror=alert(3)></li></ul>"#;
        let clean = clean(dirty);
        assert!(clean.contains(r#"<ul class="list">"#), "{clean}");
        for bad in ["javascript:", "onclick", "<script", "onerror", "alert(2)"] {
            assert!(!clean.contains(bad), "{bad} in {clean}");
        }
    }
}
