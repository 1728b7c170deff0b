//! The demo bank's customers, shared by the `profile` and `accounts` services.
//!
//! A few named customers make the demo look real; any other well-formed user
//! id gets a deterministic generated customer so that every login works.

use crate::noise::hash;

/// A customer of the simulated bank.
#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: String,
    pub first_name: String,
    pub last_name: String,
    /// `retail`, `premium` or `private`: drives offers and advisor.
    pub segment: &'static str,
    pub advisor_name: &'static str,
    pub advisor_phone: &'static str,
}

impl Customer {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// The id under which the portal asks for a visitor who is not signed in.
pub const ANONYMOUS: &str = "anonymous";

struct Known {
    id: &'static str,
    first: &'static str,
    last: &'static str,
    segment: &'static str,
    advisor: usize,
}

const KNOWN: &[Known] = &[
    Known {
        id: "alice",
        first: "Alice",
        last: "Keller",
        segment: "private",
        advisor: 0,
    },
    Known {
        id: "bob",
        first: "Bruno",
        last: "Meier",
        segment: "retail",
        advisor: 2,
    },
    Known {
        id: "chiara",
        first: "Chiara",
        last: "Rossi",
        segment: "premium",
        advisor: 1,
    },
    Known {
        id: "david",
        first: "David",
        last: "Schneider",
        segment: "retail",
        advisor: 2,
    },
];

const ADVISORS: &[(&str, &str)] = &[
    ("Marco Bianchi", "+41 44 555 12 34"),
    ("Sophie Dubois", "+41 22 555 45 10"),
    ("Client Service Centre", "+41 58 555 00 00"),
];

const FIRST: &[&str] = &[
    "Laura", "Jonas", "Elena", "Lukas", "Nina", "Stefan", "Mia", "Reto",
];
const LAST: &[&str] = &[
    "Brunner", "Frei", "Huber", "Steiner", "Baumann", "Gerber", "Widmer", "Moser",
];
const SEGMENTS: &[&str] = &["retail", "retail", "retail", "premium", "private"];

/// The customer behind `user_id` (which must already be validated and not
/// be [`ANONYMOUS`]).
pub fn customer(user_id: &str) -> Customer {
    if let Some(k) = KNOWN.iter().find(|k| k.id.eq_ignore_ascii_case(user_id)) {
        let (advisor_name, advisor_phone) = ADVISORS[k.advisor];
        return Customer {
            user_id: user_id.to_owned(),
            first_name: k.first.to_owned(),
            last_name: k.last.to_owned(),
            segment: k.segment,
            advisor_name,
            advisor_phone,
        };
    }
    let h = hash(user_id);
    let segment = SEGMENTS[(h % SEGMENTS.len() as u64) as usize];
    let (advisor_name, advisor_phone) = if segment == "retail" {
        ADVISORS[2]
    } else {
        ADVISORS[((h >> 16) % 2) as usize]
    };
    Customer {
        user_id: user_id.to_owned(),
        first_name: FIRST[((h >> 8) % FIRST.len() as u64) as usize].to_owned(),
        last_name: LAST[((h >> 24) % LAST.len() as u64) as usize].to_owned(),
        segment,
        advisor_name,
        advisor_phone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_generated_customers() {
        assert_eq!(customer("alice").display_name(), "Alice Keller");
        assert_eq!(customer("alice").segment, "private");
        let x = customer("zz-12");
        assert_eq!(x.display_name(), customer("zz-12").display_name());
        assert!(SEGMENTS.contains(&x.segment));
    }
}
