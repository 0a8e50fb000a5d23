//! The shared PostgreSQL/PostGIS store: the source of truth when Kat serves with
//! `--database`. Every server loads its tables into the same in-memory layers as files, and
//! follows the change log ([`changes`]) that every write appends to.
//!
//! - [`schema`]: versioned migrations (`kat db init`) and the collections' tables;
//! - [`import`]: a data directory's layers into their tables (`kat db import`);
//! - [`write`]: creates, replacements, updates and deletes, each with its version in the history;
//! - [`tokens`]: accounts, as bearer tokens of which only a hash is kept;
//! - [`changes`]: the change log that servers follow, and the history of a feature.
//!
//! Writes are serialized by one transaction-scoped advisory lock, so that the change log's
//! sequence numbers commit in order: a server that has applied change `n` has seen every change
//! before it.

pub mod changes;
pub mod import;
pub mod schema;
pub mod tokens;
pub mod write;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;
use tokio_postgres::NoTls;

/// The advisory lock every write holds until it commits (a constant of Kat's own: "KAT" in
/// ASCII).
pub(crate) const WRITE_LOCK: i64 = 0x4b4154;

/// The channel on which each committed change is announced, with its sequence number.
pub const CHANNEL: &str = "kat_changes";

/// How long a write waits for a connection before it answers 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the database could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database URL is not valid: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("cannot build the connection pool: {0}")]
    Pool(#[source] deadpool_postgres::BuildError),
    #[error("the database is unreachable: {0}")]
    Unavailable(#[source] deadpool_postgres::PoolError),
    #[error("the database is unreachable: {0}")]
    Connect(#[source] tokio_postgres::Error),
    #[error("a database query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error(
        "the database's schema is at version {found}, this Kat needs {needed}: run `kat db init` \
         on it first"
    )]
    Schema { found: i32, needed: i32 },
    #[error(
        "the database's schema is at version {found}, newer than this Kat knows ({known}): run \
         the Kat that upgraded it"
    )]
    SchemaNewer { found: i32, known: i32 },
    #[error(
        "the database's schema is at version {found}, which has no {what}: run `kat db init` \
         on it first (servers already running keep serving)"
    )]
    SchemaLacks { found: i32, what: &'static str },
    #[error("{file}: cannot be imported: {source}")]
    Layer {
        file: String,
        #[source]
        source: crate::layer::LoadError,
    },
    #[error("cannot read the config: {0}")]
    Config(#[source] crate::catalog::config::ConfigError),
}

impl DbError {
    /// Whether the failure is the database being away (a restart, a network cut) rather than a
    /// query it refused: the first is worth a 503 and a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) | DbError::Connect(_) => true,
            DbError::Query(e) => e.is_closed() || e.as_db_error().is_none_or(is_shutdown),
            _ => false,
        }
    }
}

/// `57P01` admin shutdown, `57P02` crash shutdown, `57P03` cannot connect now.
fn is_shutdown(e: &tokio_postgres::error::DbError) -> bool {
    e.code().code().starts_with("57P")
}

/// A pool of connections to one PostgreSQL database.
///
/// ```no_run
/// # async fn run() -> Result<(), kat::database::DbError> {
/// let db = kat::database::Database::connect("postgres://kat@localhost/kat")?;
/// kat::database::schema::init(&db).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Database {
    /// A pool for `url` (`postgres://user:password@host:port/dbname`, or the key=value form).
    /// Connections open on first use.
    pub fn connect(url: &str) -> Result<Database, DbError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(DbError::Url)?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("kat");
        }
        // CREATE … IF NOT EXISTS on every start would otherwise log a notice per object.
        if config.get_options().is_none() {
            config.options("-c client_min_messages=warning");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(DbError::Pool)?;
        Ok(Database { pool, config })
    }

    /// A connection from the pool.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        self.pool.get().await.map_err(DbError::Unavailable)
    }

    /// A connection of its own, outside the pool: for LISTEN, which must stay on one session.
    pub async fn dedicated(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
        ),
        DbError,
    > {
        self.config.connect(NoTls).await.map_err(DbError::Connect)
    }
}

/// `kat."name"`: a collection's table, quoted (its name is checked by the config).
pub(crate) fn table_name(table: &str) -> String {
    format!("kat.\"{}\"", table.replace('"', "\"\""))
}
