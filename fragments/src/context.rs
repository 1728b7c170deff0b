//! Who a fragment is produced for, and with which parameter values.

use std::collections::BTreeMap;

use serde::Serialize;
use tessera_descriptors::ParamValue;

/// The person a page is assembled for, as templates and path templates see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Viewer {
    pub id: String,
    pub name: String,
    pub anonymous: bool,
}

impl Viewer {
    pub fn anonymous() -> Self {
        Self {
            id: "anonymous".into(),
            name: "Guest".into(),
            anonymous: true,
        }
    }
}

/// Resolved parameter values by name.
pub type Params = BTreeMap<String, ParamValue>;
