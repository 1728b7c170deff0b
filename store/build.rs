//! `sqlx::migrate!` embeds the migration files at compile time; tell Cargo to rebuild
//! when they change (otherwise a new migration is silently left out).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
