//! Users, their roles, their browser sessions and their API tokens.
//!
//! Passwords are stored as argon2id hashes. Session cookies and API tokens are 256-bit random
//! values shown once; the store keeps only their SHA-256, so a copy of the store file opens no
//! session.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::append;
use super::store::now;
use super::{Refusal, SqlStore};
use crate::db::Row;
use crate::model::bundle::sha256_hex;
use crate::params;

/// How long a browser session lasts: one working day.
pub const SESSION_HOURS: i64 = 12;

/// What a user may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits ads and sees their own office's submissions.
    Submitter,
    /// Sees the whole queue and triages it.
    Analyst,
    /// Everything an analyst does, plus users and models.
    Admin,
}

impl Role {
    /// The role as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Submitter => "submitter",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<10}` aligns table columns.
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Role::Submitter, Role::Analyst, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: submitter, analyst or admin"))
    }
}

/// A user of the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Their field office (submitters see only its ads).
    pub office: Option<String>,
}

/// A browser session just opened: the cookie value and the token every form must echo.
#[derive(Debug, Clone)]
pub struct Session {
    /// The secret cookie value.
    pub token: String,
    /// The anti-forgery token.
    pub csrf: String,
}

/// A fresh 256-bit random secret, hex-encoded.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The argon2id hash of a password, as a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Whether `password` matches a stored hash. Slow on purpose (argon2): call it outside locks.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The users, sessions and tokens of a store.
pub trait Accounts {
    /// Creates a user; `by` is recorded in the audit log.
    fn add_user(&mut self, user: &User, password_hash: &str, by: &str) -> Result<()>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<User>>;
    /// A user and their password hash, to check a login against.
    fn credentials(&self, name: &str) -> Result<Option<(User, String)>>;
    /// Opens a browser session for a user whose password was checked.
    fn open_session(&mut self, name: &str) -> Result<Session>;
    /// The user and anti-forgery token of a live session.
    fn session(&self, token: &str) -> Result<Option<(User, String)>>;
    /// Ends a session.
    fn close_session(&mut self, token: &str) -> Result<()>;
    /// Creates an API token for `name`, returned once; `by` is recorded in the audit log.
    fn add_token(&mut self, name: &str, by: &str) -> Result<String>;
    /// The user an API token belongs to.
    fn token_user(&self, token: &str) -> Result<Option<User>>;
}

fn user_from_row(r: &Row) -> Result<User> {
    Ok(User {
        name: r.get(0)?,
        role: r.get::<String>(1)?.parse().map_err(anyhow::Error::msg)?,
        office: r.get(2)?,
    })
}

impl SqlStore {
    fn user_where(&self, join: &str, key: &str, value: &str) -> Result<Option<User>> {
        let sql = format!("SELECT u.name, u.role, u.office FROM users u {join} WHERE {key} = ?1");
        self.db()
            .query_opt(&sql, params![value])?
            .map(|r| user_from_row(&r))
            .transpose()
    }
}

impl Accounts for SqlStore {
    fn add_user(&mut self, user: &User, password_hash: &str, by: &str) -> Result<()> {
        let tx = self.db().transaction()?;
        let added = tx.execute(
            "INSERT INTO users (name, role, office, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO NOTHING",
            params![&user.name, user.role.as_str(), user.office.as_deref(), password_hash, now()],
        )?;
        if added == 0 {
            return Err(
                Refusal::Conflict(format!("a user named {:?} already exists", user.name)).into(),
            );
        }
        append(
            &*tx,
            by,
            "user_add",
            Some(&user.name),
            None,
            Some(&json!({"role": user.role, "office": user.office})),
        )?;
        tx.commit()
    }

    fn users(&self) -> Result<Vec<User>> {
        self.db().query_map(
            "SELECT name, role, office FROM users ORDER BY name",
            &[],
            user_from_row,
        )
    }

    fn credentials(&self, name: &str) -> Result<Option<(User, String)>> {
        self.db()
            .query_opt(
                "SELECT name, role, office, password_hash FROM users WHERE name = ?1",
                params![name],
            )?
            .map(|r| Ok((user_from_row(&r)?, r.get(3)?)))
            .transpose()
    }

    fn open_session(&mut self, name: &str) -> Result<Session> {
        let session = Session {
            token: random_secret(),
            csrf: random_secret(),
        };
        let expires = chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS);
        let tx = self.db().transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at < ?1", params![now()])?;
        tx.execute(
            "INSERT INTO sessions (token_hash, \"user\", csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                sha256_hex(session.token.as_bytes()),
                name,
                &session.csrf,
                expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ],
        )
        .with_context(|| format!("cannot open a session for {name:?}"))?;
        append(&*tx, name, "login", Some(name), None, None)?;
        tx.commit()?;
        Ok(session)
    }

    fn session(&self, token: &str) -> Result<Option<(User, String)>> {
        self.db()
            .query_opt(
                "SELECT u.name, u.role, u.office, s.csrf FROM sessions s JOIN users u ON u.name = s.\"user\"
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![sha256_hex(token.as_bytes()), now()],
            )?
            .map(|r| Ok((user_from_row(&r)?, r.get(3)?)))
            .transpose()
    }

    fn close_session(&mut self, token: &str) -> Result<()> {
        self.db().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![sha256_hex(token.as_bytes())],
        )?;
        Ok(())
    }

    fn add_token(&mut self, name: &str, by: &str) -> Result<String> {
        if self.user_where("", "u.name", name)?.is_none() {
            return Err(Refusal::NotFound(format!(
                "no user named {name:?}: `adscreen users add` creates one"
            ))
            .into());
        }
        let token = random_secret();
        let tx = self.db().transaction()?;
        tx.execute(
            "INSERT INTO api_tokens (token_hash, \"user\", created_at) VALUES (?1, ?2, ?3)",
            params![sha256_hex(token.as_bytes()), name, now()],
        )?;
        append(&*tx, by, "token_add", Some(name), None, None)?;
        tx.commit()?;
        Ok(token)
    }

    fn token_user(&self, token: &str) -> Result<Option<User>> {
        self.user_where(
            "JOIN api_tokens t ON t.\"user\" = u.name",
            "t.token_hash",
            &sha256_hex(token.as_bytes()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn sessions_and_tokens_resolve_to_their_user_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::db::Location::Sqlite(dir.path().join("a.db"));
        let mut store = SqlStore::open(&location).unwrap();
        let ana = User {
            name: "ana".into(),
            role: Role::Analyst,
            office: None,
        };
        store
            .add_user(&ana, &hash_password("pw").unwrap(), "root")
            .unwrap();
        let s = store.open_session("ana").unwrap();
        assert_eq!(
            store.session(&s.token).unwrap(),
            Some((ana.clone(), s.csrf.clone()))
        );
        let t = store.add_token("ana", "root").unwrap();
        assert_eq!(store.token_user(&t).unwrap(), Some(ana));
        let stored: i64 = store
            .db()
            .value(
                "SELECT count(*) FROM sessions WHERE token_hash = ?1",
                params![&s.token],
            )
            .unwrap();
        assert_eq!(stored, 0, "the raw cookie must not be in the file");
        store.close_session(&s.token).unwrap();
        assert_eq!(store.session(&s.token).unwrap(), None);
        assert!(store.add_token("nobody", "root").is_err());
    }
}
