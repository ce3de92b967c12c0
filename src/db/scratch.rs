//! Throwaway PostgreSQL databases, for tests that run the same checks on both back ends.
//!
//! Tests read the server's URL from `ADSCREEN_TEST_POSTGRES` (`.ci/run` sets it); where it is
//! unset they say so on stderr and skip, so that `cargo test` still passes on a machine without
//! PostgreSQL.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

/// The environment variable that names a PostgreSQL server tests may create databases on.
pub const TEST_POSTGRES_VAR: &str = "ADSCREEN_TEST_POSTGRES";

/// A database created for one test and dropped (with its connections) when this is dropped.
pub struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// A new empty database on the server `$ADSCREEN_TEST_POSTGRES` names, or `None`, with a
    /// message naming `test`, when the variable is unset.
    pub fn from_env(test: &str) -> Option<ScratchDatabase> {
        let Ok(admin) = std::env::var(TEST_POSTGRES_VAR) else {
            eprintln!(
                "SKIPPED on PostgreSQL: {test} (set {TEST_POSTGRES_VAR}=postgres://… to run it)"
            );
            return None;
        };
        Some(ScratchDatabase::create(&admin).expect("cannot create a scratch database"))
    }

    /// A new empty database on the server of `admin` (a URL whose database may create others).
    pub fn create(admin: &str) -> Result<ScratchDatabase> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "adscreen_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let mut client = postgres::Client::connect(admin, postgres::NoTls)
            .with_context(|| format!("cannot connect to {admin}"))?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = with_database(admin, &name);
        Ok(ScratchDatabase {
            admin: admin.to_string(),
            name,
            url,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{database}{query}", &base[..host_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
