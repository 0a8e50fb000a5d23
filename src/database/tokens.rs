//! Accounts: bearer tokens with a role. A token is shown once, when it is created; the
//! database keeps only its SHA-256, so that a copy of the database gives no one a token.

use super::{Database, DbError};
use sha2::{Digest, Sha256};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads a server started with `--private`, and writes nothing.
    Reader,
    /// Creates and corrects features.
    Editor,
    /// Also deletes and restores them.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// The operations the role may do, by their names in `GET /account`: a client offers
    /// only these. The write handlers ask for the role each needs (`Editor` to create,
    /// replace and update, `Admin` to delete and restore), and a role may all that those
    /// below it may.
    pub fn may(self) -> &'static [&'static str] {
        match self {
            Role::Reader => &["read"],
            Role::Editor => &["read", "create", "replace", "update"],
            Role::Admin => &["read", "create", "replace", "update", "delete", "restore"],
        }
    }

    /// The role with its article, as a sentence names it: "a reader", "an editor".
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Reader => "a reader",
            Role::Editor => "an editor",
            Role::Admin => "an admin",
        }
    }

    /// `reader`, `editor` or `admin`.
    ///
    /// ```
    /// use kat::database::tokens::Role;
    /// assert_eq!(Role::parse("reader"), Some(Role::Reader));
    /// assert!(Role::Reader < Role::Editor && Role::Editor < Role::Admin);
    /// assert_eq!(Role::parse("viewer"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "reader" => Some(Role::Reader),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The holder of a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: Role,
}

/// A token as `kat token list` shows it (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Tokens start with this, so that a leaked one is easy to recognise (and to search for).
const PREFIX: &str = "kat_";

/// The digest stored for a token.
///
/// ```
/// let h = kat::database::tokens::digest("kat_0123");
/// assert_eq!(h.len(), 32);
/// assert_ne!(h, kat::database::tokens::digest("kat_0124"));
/// ```
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the system's random source failed: {0}")]
    Random(#[source] getrandom::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates a token for `name` and returns it: the only time it is seen.
pub async fn create(db: &Database, name: &str, role: Role) -> Result<String, TokenError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(TokenError::Random)?;
    let token = format!("{PREFIX}{}", hex::encode(secret));
    // A database not yet upgraded is served, but its accounts cannot be readers yet.
    let found = super::schema::version(db).await?;
    if role == Role::Reader && found < 2 {
        return Err(TokenError::Db(DbError::SchemaLacks {
            found,
            what: "reader role",
        }));
    }
    let client = db.client().await?;
    client
        .execute(
            "INSERT INTO kat.tokens (name, role, hash) VALUES ($1, $2, $3)",
            &[&name, &role.as_str(), &digest(&token)],
        )
        .await
        .map_err(DbError::Query)?;
    Ok(token)
}

/// Every token, oldest first.
pub async fn list(db: &Database) -> Result<Vec<TokenInfo>, DbError> {
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT id, name, role, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM kat.tokens ORDER BY id",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| TokenInfo {
            id: r.get(0),
            name: r.get(1),
            role: Role::parse(r.get(2)).unwrap_or(Role::Editor),
            created_at: r.get(3),
            revoked_at: r.get(4),
        })
        .collect())
}

/// Revokes the tokens of `name` (or the token whose id is `name`); returns how many.
pub async fn revoke(db: &Database, name: &str) -> Result<u64, DbError> {
    let client = db.client().await?;
    let id: Option<i64> = name.parse().ok();
    Ok(client
        .execute(
            "UPDATE kat.tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND (name = $1 OR id = $2)",
            &[&name, &id],
        )
        .await?)
}

/// The account a token belongs to, if it is valid and not revoked.
pub async fn authenticate(db: &Database, token: &str) -> Result<Option<Account>, DbError> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let client = db.client().await?;
    let row = client
        .query_opt(
            "SELECT name, role FROM kat.tokens WHERE hash = $1 AND revoked_at IS NULL",
            &[&digest(token)],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Account {
            name: r.get(0),
            role: Role::parse(r.get(1))?,
        })
    }))
}

/// Accounts looked up recently, by token digest: reads with `--private` ask the database
/// once per token every [`TokenCache::TTL`], not once per request.
#[derive(Default)]
pub struct TokenCache {
    seen: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Lookup>>,
}

/// An account (or none) as the database gave it, and when.
type Lookup = (Option<Account>, std::time::Instant);

impl TokenCache {
    /// How long a lookup is trusted: a revoked token stops reading within this.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(5);
    /// Beyond this many tokens, the cache starts afresh (an attacker trying tokens fills it).
    const MAX: usize = 10_000;

    /// The account behind `token`, from the cache or the database.
    pub async fn authenticate(
        &self,
        db: &Database,
        token: &str,
    ) -> Result<Option<Account>, DbError> {
        let key = digest(token);
        if let Ok(seen) = self.seen.lock() {
            if let Some((account, at)) = seen.get(&key) {
                if at.elapsed() < Self::TTL {
                    return Ok(account.clone());
                }
            }
        }
        let account = authenticate(db, token).await?;
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= Self::MAX {
                seen.clear();
            }
            seen.insert(key, (account.clone(), std::time::Instant::now()));
        }
        Ok(account)
    }
}
