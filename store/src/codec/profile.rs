//! Profile values and page customizations in column form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{check_text, from_millis, to_millis};
use crate::error::StoreError;
use crate::types::{CustomSlot, Customization};

/// Longest profile value name, in characters (all ASCII).
pub const MAX_PROFILE_NAME_CHARS: usize = 200;

/// Longest profile value, in bytes. Profile values are small settings (a topic list, a
/// colour, a layout name); anything larger belongs elsewhere.
pub const MAX_PROFILE_VALUE_BYTES: usize = 4096;

/// Longest page id, in bytes (page ids come from descriptors and are short).
const MAX_PAGE_ID_BYTES: usize = 200;

/// Largest customization, in bytes of stored JSON. A page holds at most a few dozen
/// fragments with a handful of short parameters each (a few KB); the bound keeps one
/// user from filling the database through a page they can edit.
pub const MAX_CUSTOMIZATION_BYTES: usize = 64 * 1024;

/// Checks a profile value name: 1–200 characters of `[a-z0-9._-]` (`home.layout`,
/// `fragment.news.topics`). The narrow alphabet keeps names safe to use as template
/// variables, in URLs and in logs without escaping.
pub(crate) fn check_profile_name(name: &str) -> Result<(), StoreError> {
    let ok_len = (1..=MAX_PROFILE_NAME_CHARS).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        let shown: String = name.chars().take(40).collect();
        Err(StoreError::Invalid(format!(
            "profile value name {shown:?} must have 1 to {MAX_PROFILE_NAME_CHARS} characters \
             of a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

/// Checks a profile value: at most 4096 bytes, no NUL.
pub(crate) fn check_profile_value(name: &str, value: &str) -> Result<(), StoreError> {
    if value.len() > MAX_PROFILE_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "profile value {name:?} has {} bytes; at most {MAX_PROFILE_VALUE_BYTES} are allowed",
            value.len()
        )));
    }
    check_text("profile value", value)
}

/// Checks a page id used as a customization key.
pub(crate) fn check_page_id(page_id: &str) -> Result<(), StoreError> {
    if page_id.is_empty() || page_id.len() > MAX_PAGE_ID_BYTES {
        return Err(StoreError::Invalid(format!(
            "a page id has 1 to {MAX_PAGE_ID_BYTES} bytes, not {}",
            page_id.len()
        )));
    }
    check_text("page id", page_id)
}

/// How a slot is written in the JSON column. A private mirror of [`CustomSlot`] so the
/// public type carries no serde attributes and the stored form can evolve on its own.
#[derive(Serialize)]
struct SlotOut<'a> {
    region: &'a str,
    fragment: &'a str,
    minimized: bool,
    params: &'a BTreeMap<String, String>,
}

/// How a slot is read back; fields added later get defaults, so old rows still decode.
#[derive(Deserialize)]
struct SlotIn {
    region: String,
    fragment: String,
    #[serde(default)]
    minimized: bool,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

/// A customization in column form, validated: `(slots as JSON text, updated_at_ms)`.
pub(crate) fn encode_customization(c: &Customization) -> Result<(String, i64), StoreError> {
    let mut out = Vec::with_capacity(c.slots.len());
    for slot in &c.slots {
        check_text("customization region", &slot.region)?;
        check_text("customization fragment", &slot.fragment)?;
        for (k, v) in &slot.params {
            check_text("customization parameter", k)?;
            check_text("customization parameter", v)?;
        }
        out.push(SlotOut {
            region: &slot.region,
            fragment: &slot.fragment,
            minimized: slot.minimized,
            params: &slot.params,
        });
    }
    let json = serde_json::to_string(&out)
        .map_err(|e| StoreError::Invalid(format!("customization cannot be encoded: {e}")))?;
    if json.len() > MAX_CUSTOMIZATION_BYTES {
        return Err(StoreError::Invalid(format!(
            "customization is {} bytes once encoded; at most {MAX_CUSTOMIZATION_BYTES} are allowed",
            json.len()
        )));
    }
    Ok((json, to_millis(c.updated_at)?))
}

pub(crate) fn decode_customization(
    (slots, updated_at_ms): (String, i64),
) -> Result<Customization, StoreError> {
    let slots: Vec<SlotIn> = serde_json::from_str(&slots)
        .map_err(|e| StoreError::Query(format!("stored customization is not valid: {e}")))?;
    Ok(Customization {
        slots: slots
            .into_iter()
            .map(|s| CustomSlot {
                region: s.region,
                fragment: s.fragment,
                minimized: s.minimized,
                params: s.params,
            })
            .collect(),
        updated_at: from_millis(updated_at_ms)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        for ok in [
            "home.layout",
            "fragment.news.topics",
            "a",
            "x_1-2",
            &"a".repeat(200),
        ] {
            assert!(check_profile_name(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "Home", "a b", "é", "a/b", "a\0", &"a".repeat(201)] {
            assert!(
                matches!(check_profile_name(bad), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn old_rows_without_optional_fields_decode() {
        let c = decode_customization((r#"[{"region":"main","fragment":"news"}]"#.into(), 0));
        let slots = c.map(|c| c.slots).unwrap_or_default();
        assert_eq!(slots.len(), 1);
        assert!(!slots[0].minimized && slots[0].params.is_empty());
    }
}
