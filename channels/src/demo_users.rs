//! The demo's users, one per kind of visitor, created on first start of `tessera demo`.

use std::collections::BTreeMap;

use tessera_store::{NewUser, Store, StoreError};

use crate::auth::password;

/// (login, display name, password, roles)
pub const USERS: &[(&str, &str, &str, &[&str])] = &[
    ("alice", "Alice Meier", "alice-demo-1", &["retail"]),
    (
        "bruno",
        "Bruno Keller",
        "bruno-demo-1",
        &["private-banking"],
    ),
    ("carla", "Carla Rossi", "carla-demo-1", &["employee"]),
    (
        "olga",
        "Olga Weber",
        "olga-demo-1",
        &["operator", "employee"],
    ),
];

/// Creates the demo users that do not exist yet.
pub async fn seed(store: &dyn Store) -> Result<(), StoreError> {
    for (login, name, pass, roles) in USERS {
        if store.user_by_login(login).await?.is_some() {
            continue;
        }
        let hash = password::hash((*pass).to_owned())
            .await
            .map_err(StoreError::Invalid)?;
        store
            .create_user(&NewUser {
                login: (*login).to_owned(),
                display_name: (*name).to_owned(),
                password_hash: hash,
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                segment: None,
                extra_tokens: Vec::new(),
                attributes: BTreeMap::new(),
                created_at: std::time::SystemTime::now(),
            })
            .await?;
    }
    Ok(())
}
