//! Build script: `sqlx::migrate!` embeds the migration files at compile time, so the crate is
//! rebuilt when one is added or changed (sqlx's documented advice), not only when the Rust
//! source changes.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
