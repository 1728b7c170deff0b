//! Checking one rendered benchmark page: every slot present, with the expected status.
//!
//! wrk only sees status codes, so a scenario fetches one page itself after its run and
//! checks it here: a page whose slots silently went missing must not count as fast.

use crate::portal::{fallback_text, fragment_id, FRAGMENTS};

/// What one slot of the page should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Fresh content (`data-status="ok"`).
    Content,
    /// The fragment's declared text fallback (`data-status="fallback"`).
    Fallback,
}

/// Checks the page against `expected` (one entry per fragment, in order). The error
/// names every slot that is wrong.
pub fn slots(html: &str, expected: &[Expect]) -> Result<(), String> {
    let mut problems = Vec::new();
    let found = html.matches("<div class=\"slot\"").count();
    if found != FRAGMENTS {
        problems.push(format!("{found} slots in the page, expected {FRAGMENTS}"));
    }
    for (i, expect) in expected.iter().enumerate() {
        let id = fragment_id(i);
        let Some((status, body)) = slot(html, &id) else {
            problems.push(format!("slot {id} is missing"));
            continue;
        };
        match expect {
            Expect::Content if status != "ok" || !body.contains("<li>") => {
                problems.push(format!("slot {id}: status {status:?}, expected content"));
            }
            Expect::Fallback if status != "fallback" || !body.contains(&fallback_text(i)) => {
                problems.push(format!(
                    "slot {id}: status {status:?} with {body:?}, expected its fallback text"
                ));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The status and markup of slot `id`, as the benchmark layout writes it.
fn slot<'a>(html: &'a str, id: &str) -> Option<(&'a str, &'a str)> {
    let start = format!("id=\"slot-{id}\" data-status=\"");
    let rest = &html[html.find(&start)? + start.len()..];
    let (status, rest) = rest.split_once("\">")?;
    let (body, _) = rest.split_once("</div>")?;
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(statuses: &[(&str, &str)]) -> String {
        statuses
            .iter()
            .enumerate()
            .map(|(i, (status, body))| {
                format!(
                    "<div class=\"slot\" id=\"slot-frag{}\" data-status=\"{status}\">{body}</div>\n",
                    i + 1
                )
            })
            .collect()
    }

    #[test]
    fn a_full_page_passes_and_a_wrong_slot_is_named() {
        let mut slots_ok = vec![("ok", "<ul><li>x</li></ul>"); 7];
        slots_ok.push(("fallback", "Fragment 8 is unavailable right now."));
        let mut expected = vec![Expect::Content; 7];
        expected.push(Expect::Fallback);
        assert_eq!(slots(&page(&slots_ok), &expected), Ok(()));

        slots_ok[2] = ("timeout", "");
        let err = slots(&page(&slots_ok), &expected).expect_err("slot 3 is wrong");
        assert!(err.contains("slot frag3: status \"timeout\""), "{err}");

        let err = slots(&page(&slots_ok[..7]), &expected).expect_err("slot 8 missing");
        assert!(err.contains("7 slots in the page") && err.contains("slot frag8 is missing"));
    }
}
