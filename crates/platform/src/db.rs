//! The service's own database: a SQLite file (the default) or a PostgreSQL database, behind
//! one `sqlx::AnyPool`, with that service's migrations applied at start.
//!
//! Queries use `$1, $2, ...` placeholders, numbered in order of first use, which both
//! drivers accept. Values are the portable types: integers, text, booleans, floats, blobs;
//! times travel as RFC 3339 text, money as integer cents. Declare integer columns `BIGINT`
//! (PostgreSQL's `INTEGER` decodes as `i32`), and cast aggregates that PostgreSQL widens
//! (`CAST(SUM(x) AS BIGINT)`: its `SUM(bigint)` is `NUMERIC`, which the Any driver cannot
//! decode). `sqlx::QueryBuilder<Any>` writes `?` placeholders, which PostgreSQL refuses.

use futures_util::future::BoxFuture;
use sqlx::{
    Any, AnyPool, AssertSqlSafe, FromRow, Row, Transaction,
    any::{AnyPoolOptions, AnyRow},
    migrate::{MigrateError, Migration, MigrationType, Migrator},
};
use std::{borrow::Cow, collections::HashMap, path::Path, str::FromStr, time::Duration};

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The OpenTelemetry name of the database system (`db.system.name`).
    pub fn system(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// One migration: its version, a description, and its SQL for each backend.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSource {
    pub version: i64,
    pub description: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl MigrationSource {
    /// A migration whose SQL is the same on both backends.
    pub const fn portable(version: i64, description: &'static str, sql: &'static str) -> Self {
        MigrationSource {
            version,
            description,
            sqlite: sql,
            postgres: sql,
        }
    }
}

/// A [`MigrationSource`] whose SQL differs between the backends only in an auto-numbered
/// `seq` key: `$tables` names a macro that takes that column's definition and writes the
/// SQL around it. SQLite gets `seq INTEGER PRIMARY KEY AUTOINCREMENT` (never reusing a
/// number), PostgreSQL `seq BIGSERIAL PRIMARY KEY`.
#[macro_export]
macro_rules! migration_with_seq {
    ($version:expr, $description:expr, $tables:ident) => {
        $crate::db::MigrationSource {
            version: $version,
            description: $description,
            sqlite: $tables!("seq INTEGER PRIMARY KEY AUTOINCREMENT"),
            postgres: $tables!("seq BIGSERIAL PRIMARY KEY"),
        }
    };
}

/// A service's connection pool and the backend it is on.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not create the directory for {path}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not create database {url}")]
    Create {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "{url} cannot be written by this process (the database file, its -wal or -shm file beside it, or their directory)"
    )]
    NotWritable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{url} is not a usable database URL: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("could not take the migration lock {path}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The longest name PostgreSQL keeps whole (its `NAMEDATALEN` less one): it cuts a longer
/// one without a word.
pub const POSTGRES_NAME_BYTES: usize = 63;

/// Connections a process holds to its database unless told otherwise.
pub const DEFAULT_POOL: u32 = 10;
/// The most connections a process holds to a SQLite database: one. SQLite lets one
/// connection write at a time anyway, and each connection keeps its own page cache, which
/// a write by any other connection empties; with eight, most of a checkout's page reads
/// were system calls reading pages again (382 `pread`s per checkout run against 28 with
/// one, and 1.2-1.6x the checkouts a second: docs/benchmarks.md).
pub const SQLITE_POOL: u32 = 1;

impl Db {
    /// Opens (creating if missing) the database at `url` and applies `migrations`. Safe for
    /// several replicas at once against one PostgreSQL database: it is created once and
    /// each migration applied once, and all of them open it.
    pub async fn connect(url: &str, migrations: &[MigrationSource]) -> Result<Self, DbError> {
        Self::connect_pooled(url, migrations, DEFAULT_POOL).await
    }

    /// [`Db::connect`], holding at most `pool` connections (SQLite takes at most
    /// [`SQLITE_POOL`]).
    pub async fn connect_pooled(
        url: &str,
        migrations: &[MigrationSource],
        pool: u32,
    ) -> Result<Self, DbError> {
        Self::connect_with(url, migrations, pool, Synchronous::default()).await
    }

    /// [`Db::connect_pooled`], committing to SQLite as `synchronous` says (PostgreSQL's
    /// commits are its server's business).
    pub async fn connect_with(
        url: &str,
        migrations: &[MigrationSource],
        pool: u32,
        synchronous: Synchronous,
    ) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite(url)?,
            Backend::Postgres => {
                create_postgres_database(url).await?;
                url.to_owned()
            }
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                Backend::Sqlite => pool.min(SQLITE_POOL),
                Backend::Postgres => pool,
            })
            // A connection handed back still inside a transaction is replaced, not used:
            // when the database ends a transaction itself (SQLite rolls back on a full
            // disk), sqlx's rollback of it fails and leaves the connection counting one
            // open, and every later `begin_write` on it would fail ("non-zero
            // transaction depth") until the process restarted. (Checked at acquire: by
            // then the release has flushed the rollback a dropped transaction queued.)
            .before_acquire(|conn, _meta| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            });
        let options = if backend == Backend::Sqlite {
            // A connection to a file does not go stale: no ping before each use, which
            // cost a round trip to the connection's thread per statement or transaction.
            options.test_before_acquire(false).after_connect(
                move |conn, _meta| -> BoxFuture<'_, Result<(), sqlx::Error>> {
                    Box::pin(async move {
                        // WAL lets readers run beside the one writer; the busy timeout makes a
                        // writer wait for the lock instead of failing at once.
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            synchronous.pragma()
                        );
                        sqlx::raw_sql(AssertSqlSafe(pragmas)).execute(conn).await?;
                        Ok(())
                    })
                },
            )
        } else {
            // A statement waiting for a lock gives up after `LOCK_TIMEOUT`, with an error
            // the callers take for transient (503, retried): a table locked by hand, or a
            // migration's lock held long, left every request waiting on it until the
            // caller's own timeout, the gateway's bare 504 for a checkout (the database
            // faults review).
            options.after_connect(
                move |conn, _meta| -> BoxFuture<'_, Result<(), sqlx::Error>> {
                    Box::pin(async move {
                        let set = format!("SET lock_timeout = {}", LOCK_TIMEOUT.as_millis());
                        sqlx::raw_sql(AssertSqlSafe(set)).execute(conn).await?;
                        Ok(())
                    })
                },
            )
        };
        let unopened = |source| DbError::Connect {
            url: redact(&url),
            source,
        };
        if backend == Backend::Sqlite {
            // A file that is no database is said so at once, in SQLite's words: the pool
            // would retry it until its acquire timeout, and then say only that it timed out.
            let mut probe = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .map_err(unopened)?;
            let read = sqlx::raw_sql("PRAGMA schema_version")
                .execute(&mut probe)
                .await;
            let _ = sqlx::Connection::close(probe).await;
            read.map_err(unopened)?;
        }
        let pool = options.connect(&url).await.map_err(unopened)?;
        let db = Self { pool, backend };
        // SQLite has no advisory lock: replicas sharing a file take turns through a lock
        // file beside it, held while one migrates.
        let _turn = match backend {
            Backend::Sqlite => Some(migration_turn(&url).await?),
            Backend::Postgres => None,
        };
        db.migrate(migrations, &url).await?;
        if backend == Backend::Sqlite {
            // SQLite opens a file it may not write (its mode, its owner, an immutable
            // flag) read-only without a word, and a service on it was ready while every
            // write was a 500 (the disk review). A write that changes nothing says so now:
            // a database that cannot be written is no database to start on.
            sqlx::query("DELETE FROM _sqlx_migrations WHERE 1 = 0")
                .execute(&db.pool)
                .await
                .map_err(|source| DbError::NotWritable {
                    url: redact(&url),
                    source,
                })?;
        }
        Ok(db)
    }

    /// Applies `sources` to the database at `url` (this one's).
    async fn migrate(&self, sources: &[MigrationSource], url: &str) -> Result<(), DbError> {
        let migrations = sources
            .iter()
            .map(|m| {
                let sql = match self.backend {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        // Replicas starting at once migrate one at a time: on PostgreSQL the migrator holds
        // an advisory lock on this database while it reads which migrations are applied
        // and applies the rest, so each is applied exactly once and the others find it
        // done. It is the default; it is said here because replicas depend on it.
        migrator.set_locking(true);
        // A database a newer version has migrated further is opened all the same: a
        // rollback, or an older replica restarting beside newer ones in a rolling update,
        // runs on the newer schema. So every migration adds (a table, a column with a
        // default, an index) and none takes away what an older version reads or writes
        // (docs/deploy.md). A migration of this version's that differs from the one
        // applied is still refused.
        migrator.set_ignore_missing(true);
        match self.backend {
            // On a connection of its own, without the pool's `LOCK_TIMEOUT`: it waits for
            // the migration lock (another replica migrating) as long as that takes.
            Backend::Postgres => {
                let own = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .map_err(MigrateError::from)?;
                let migrated = migrator.run(&own).await;
                own.close().await;
                migrated?;
            }
            Backend::Sqlite => migrator.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so it waits for other writers instead of failing later when a
    /// read lock cannot be upgraded.
    ///
    /// Traced, a span covers the wait for the lock and the `BEGIN`: where writers queue.
    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "db begin write", otel.kind = "client", db.system.name = self.backend.system()))]
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The rows `select` (`SELECT ... FROM ...`) finds whose `column` is one of `ids`, then
    /// `rest` (` ORDER BY ...`, or nothing): one statement whatever the number of ids, which
    /// travel as one JSON array that each backend unnests its own way. The SQL's parts are
    /// `'static`: written in the code, never from a request, as the statement built of
    /// them is asserted safe.
    pub async fn fetch_in(
        &self,
        select: &'static str,
        column: &'static str,
        ids: &[&str],
        rest: &'static str,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let unnest = match self.backend {
            Backend::Sqlite => "SELECT value FROM json_each($1)",
            Backend::Postgres => "SELECT json_array_elements_text($1::json)",
        };
        let sql = format!("{select} WHERE {column} IN ({unnest}){rest}");
        let ids = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&self.pool)
            .await
    }

    /// [`Self::fetch_in`] read as `T`s and grouped by `column` (see [`group_by`]): the
    /// child rows of a page of parents, per parent id.
    pub async fn fetch_grouped_in<T>(
        &self,
        select: &'static str,
        column: &'static str,
        ids: &[&str],
        rest: &'static str,
    ) -> Result<HashMap<String, Vec<T>>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, AnyRow>,
    {
        group_by(&self.fetch_in(select, column, ids, rest).await?, column)
    }

    /// A trivial query: the readiness check.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// How long a statement on PostgreSQL waits for a lock before it fails (`55P03`, taken
/// for transient): far past what a row or advisory lock is held by the services' own
/// transactions (milliseconds), and short enough that a request meeting a lock held for
/// long is answered 503 within its deadline.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether `e` may pass if the same work is tried again in a moment: the pool had no
/// connection to give in time, a connection was cut (a server restarting, a backend
/// terminated, a network blip), the server is shutting down or refuses new connections
/// for now, or SQLite's lock was busy past its timeout. Not: a constraint violated, bad
/// SQL, a row not found, data that does not decode.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 (connection exception), 53300 too many connections,
            // 55000 (a database not accepting connections for now), 55P03 (a lock not
            // had within `LOCK_TIMEOUT`), 57P01..57P03 (shut down, crashed, cannot
            // connect now), 40001 and 40P01 (serialization failure, deadlock: retry the
            // transaction). SQLite: 5 and 6 (BUSY, LOCKED) and 13 (FULL: the disk, until
            // space is freed), with their extended codes.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "53300" | "55000" | "55P03" | "57P01" | "57P02" | "57P03" | "40001" | "40P01"
                )
                // (PostgreSQL's codes are five characters, SQLite's numbers shorter.)
                || (code.len() < 5 && code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 13)))
        }),
        _ => false,
    }
}

/// Serialises, from this point to their commit, the writing transactions that call this
/// with the same `key`: on PostgreSQL a transaction-scoped advisory lock; SQLite writers
/// are serialised already. Use it where rows are read back as a log ordered by an
/// auto-increment key, so that key's order is commit order and a reader reading "after
/// N" never skips a transaction that committed late.
pub async fn serialize_writers(tx: &mut Transaction<'_, Any>, key: i64) -> Result<(), sqlx::Error> {
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// When a SQLite commit is on disk (`BAZAAR_SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Before the commit returns (the WAL is synced at every commit): what was answered
    /// survives a power cut or a crash of the machine. About 0.2 ms a commit on the
    /// benchmarks' virtual disk.
    #[default]
    Full,
    /// At the WAL's checkpoints: a killed process loses nothing, but a power cut or a
    /// crash of the machine may lose the last commits of each database, each its own:
    /// an order a client saw confirmed, with its payment captured. For benchmarks and
    /// throwaway shops.
    Normal,
}

impl Synchronous {
    /// The value of SQLite's `PRAGMA synchronous` (one of two words, never from input).
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// `select` (`SELECT ... WHERE ...`) for a read whose rows the transaction goes on to
/// change from what it read: on PostgreSQL with `FOR UPDATE`, so that a concurrent
/// writer of the same rows waits for this transaction's commit and then reads what it
/// wrote (at READ COMMITTED both would read the old rows, and the later write would
/// silently undo the earlier). SQLite has no such clause and needs none: its writers
/// run one at a time ([`Db::begin_write`]).
pub fn for_update(
    tx: &Transaction<'_, Any>,
    select: &'static str,
) -> AssertSqlSafe<std::borrow::Cow<'static, str>> {
    AssertSqlSafe(if tx.backend_name() == "PostgreSQL" {
        format!("{select} FOR UPDATE").into()
    } else {
        select.into()
    })
}

/// `rows` read as `T`s, grouped by their text column `key` (each group in row order).
pub fn group_by<T>(rows: &[AnyRow], key: &str) -> Result<HashMap<String, Vec<T>>, sqlx::Error>
where
    T: for<'r> FromRow<'r, AnyRow>,
{
    let mut groups: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        let group: String = row.try_get(key)?;
        groups.entry(group).or_default().push(T::from_row(row)?);
    }
    Ok(groups)
}

/// Whether an error is a unique-constraint violation (a duplicate), on either backend.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.kind() == sqlx::error::ErrorKind::UniqueViolation
                || db.code().as_deref() == Some("23505")
                || db.code().as_deref() == Some("2067")
                || db.code().as_deref() == Some("1555")
        }
        _ => false,
    }
}

/// An exclusive lock on `<file>.migrate.lock` beside a SQLite database file, held until
/// dropped (nothing for an in-memory database).
async fn migration_turn(url: &str) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = format!("{path}.migrate.lock");
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    locked.map(Some).map_err(|source| DbError::Lock {
        path: format!("{path}.migrate.lock"),
        source,
    })
}

fn prepare_sqlite(url: &str) -> Result<String, DbError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // SQLite opens an empty name (or any, with `mode=memory`) as a private in-memory
    // database: a service would start, seed, take orders, and lose them all when it stops.
    if path.trim().is_empty() || query.split('&').any(|p| p == "mode=memory") {
        return Err(DbError::InvalidUrl {
            url: url.to_owned(),
            reason: "it names no file, or asks for memory (write sqlite://PATH)",
        });
    }
    if path != ":memory:"
        && let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
            path: path.to_owned(),
            source,
        })?;
    }
    let mut query = query.to_owned();
    if !query.contains("mode=") {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{query}"))
}

/// How long a first connection to PostgreSQL may take: a server that accepts and never
/// answers (a wrong port, a hung server) is said as such, not waited on forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to `url`, or an error once `within` has passed.
async fn connect_within(url: &str, within: Duration) -> Result<sqlx::AnyConnection, sqlx::Error> {
    use sqlx::{AnyConnection, Connection};
    match tokio::time::timeout(within, AnyConnection::connect(url)).await {
        Ok(connected) => connected,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the database server did not answer within {} s",
                within.as_secs_f64()
            ),
        ))),
    }
}

/// Creates the database named in a PostgreSQL URL if it does not exist yet, so that each
/// service can be pointed at its own database on a shared server.
///
/// Replicas of a service often start at the same moment against a database that does not
/// exist yet. They create it one at a time, under an advisory lock taken in the server's
/// maintenance database (advisory locks belong to one database, so all must take it in
/// the same one), and each checks for the database again once it holds the lock: exactly
/// one creates it and the others find it there. A database that already exists is found
/// by connecting to it, so a role that may not use the maintenance database, as on many
/// managed servers, starts fine against a database made for it.
async fn create_postgres_database(url: &str) -> Result<(), DbError> {
    use sqlx::Connection;
    // PostgreSQL cuts a longer name to its first 63 bytes without a word: two services
    // (or two read-model copies) named alike that far would share one database.
    if let Ok((_, name)) = maintenance_url(url)
        && name.len() > POSTGRES_NAME_BYTES
    {
        return Err(DbError::InvalidUrl {
            url: redact(url),
            reason: "its database name is longer than the 63 bytes PostgreSQL keeps of a name",
        });
    }
    match connect_within(url, CONNECT_TIMEOUT).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(e) if is_missing_database(&e) => {}
        Err(source) => {
            return Err(DbError::Connect {
                url: redact(url),
                source,
            });
        }
    }
    let (maintenance, name) = maintenance_url(url)?;
    let mut conn = connect_within(&maintenance, CONNECT_TIMEOUT)
        .await
        .map_err(|source| DbError::Connect {
            url: redact(&maintenance),
            source,
        })?;
    let created = create_once(&mut conn, &name).await;
    // Ending the session releases the lock, whatever happened under it.
    let _ = conn.close().await;
    created.map_err(|source| DbError::Create {
        url: redact(url),
        source,
    })
}

/// The first key of the advisory locks under which databases are created ("baza"); the
/// second is the hash of the database's name, so different databases do not wait on each
/// other.
const CREATE_LOCK_CLASS: i32 = 0x6261_7a61;

async fn create_once(conn: &mut sqlx::AnyConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
        .bind(CREATE_LOCK_CLASS)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(());
    }
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await
    {
        // Someone who does not take the lock (an older release, an operator) was quicker:
        // PostgreSQL answers `duplicate_database`, or a unique violation when both
        // inserted into `pg_database` at once.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// Whether connecting failed because the database does not exist (`invalid_catalog_name`).
fn is_missing_database(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some("3D000"))
}

/// The URL of the server's maintenance database, and the name of the database `url`
/// names: the maintenance database is `postgres`, or `template1` when `postgres` itself
/// is wanted, as `createdb` does.
fn maintenance_url(url: &str) -> Result<(String, String), DbError> {
    let invalid = |reason: &'static str| DbError::InvalidUrl {
        url: redact(url),
        reason,
    };
    let mut parsed = url::Url::parse(url).map_err(|_| invalid("it is not a URL"))?;
    let name = parsed.path().trim_start_matches('/');
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| invalid("its database name is not UTF-8"))?
        .into_owned();
    if name.is_empty() || name.contains('/') {
        return Err(invalid("it names no database (postgres://host/NAME)"));
    }
    parsed.set_path(if name == "postgres" {
        "/template1"
    } else {
        "/postgres"
    });
    Ok((parsed.to_string(), name))
}

/// A URL with its password replaced, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    match url::Url::from_str(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Implements [`sqlx::FromRow`] for a struct read from one row of the [`Db`]: each field
/// from the column of its name, or of the name given (`kind = "type"`), passed through a
/// function where one is named (`payload => parse`: the column is read as the type the
/// function takes). Rows become values with `sqlx::query_as::<_, T>(...)` or
/// `T::from_row(&row)`.
///
/// ```ignore
/// platform::from_row! { EventSummary { seq, id, kind = "type", subject, time } }
/// ```
#[macro_export]
macro_rules! from_row {
    (@column $field:ident) => {
        ::std::stringify!($field)
    };
    (@column $field:ident $column:literal) => {
        $column
    };
    (@convert ; $value:expr) => {
        $value
    };
    (@convert $convert:path ; $value:expr) => {
        $convert($value)
    };
    ($type:ident { $($field:ident $(= $column:literal)? $(=> $convert:path)?),+ $(,)? }) => {
        impl<'r> ::sqlx::FromRow<'r, ::sqlx::any::AnyRow> for $type {
            fn from_row(row: &'r ::sqlx::any::AnyRow) -> ::std::result::Result<Self, ::sqlx::Error> {
                use ::sqlx::Row as _;
                ::std::result::Result::Ok(Self {
                    $($field: $crate::from_row!(
                        @convert $($convert)? ;
                        row.try_get($crate::from_row!(@column $field $($column)?))?
                    ),)+
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_that_may_pass_are_transient() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        let cut = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_transient(&sqlx::Error::Io(cut)));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::PoolClosed));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("id".into())));
    }

    const MIGRATIONS: &[MigrationSource] = &[MigrationSource {
        version: 1,
        description: "things",
        sqlite: "CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL);",
        postgres: "CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL);",
    }];

    #[tokio::test]
    async fn a_database_server_that_never_answers_is_said_so_in_time() {
        // Accepts the connection, and says nothing.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut kept = Vec::new();
            while let Ok((tcp, _)) = silent.accept().await {
                kept.push(tcp);
            }
        });
        sqlx::any::install_default_drivers();
        let url = format!("postgres://postgres@{addr}/nothing");
        let started = std::time::Instant::now();
        let err = connect_within(&url, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            err.to_string().contains("did not answer within 0.3 s"),
            "{err}"
        );
        held.abort();
    }

    struct Thing {
        id: String,
        count: i64,
        twice: i64,
    }

    fn double(n: i64) -> i64 {
        n * 2
    }

    crate::from_row! { Thing { id, count = "n", twice = "n" => double } }

    #[tokio::test]
    async fn a_transaction_the_database_ended_itself_does_not_stop_later_ones() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/t.db", dir.display());
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        // What SQLite does on a full disk: the transaction is rolled back under sqlx,
        // whose own rollback, when the transaction is dropped, then fails.
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO things (id, n) VALUES ('lost', 1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::raw_sql("ROLLBACK").execute(&mut *tx).await.unwrap();
        drop(tx);
        for n in 0..3_i64 {
            let mut tx = db
                .begin_write()
                .await
                .expect("a write transaction after the one the database ended");
            sqlx::query("INSERT INTO things (id, n) VALUES ($1, $2)")
                .bind(format!("t{n}"))
                .bind(n)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM things")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(count, 3);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// `sqlite:` and `sqlite://` opened a database in memory: a service ran, seeded and
    /// took writes on it, and lost them all when it stopped.
    #[tokio::test]
    async fn a_sqlite_url_that_names_no_file_is_refused() {
        for url in [
            "sqlite:",
            "sqlite://",
            "sqlite://?mode=rwc",
            "sqlite:// ",
            "sqlite://d/m.db?mode=memory",
        ] {
            let Err(refused) = Db::connect(url, MIGRATIONS).await else {
                panic!("{url} names no file");
            };
            let said = refused.to_string();
            assert!(said.contains("names no file"), "{url}: {said}");
        }
    }

    /// PostgreSQL cut longer names: `bazaar serve` of two services named alike for 63 bytes
    /// shared one database (the verification review). Refused before any connection.
    #[tokio::test]
    async fn a_postgres_database_name_past_63_bytes_is_refused() {
        let url = format!("postgres://postgres@127.0.0.1:1/{}", "y".repeat(64));
        let Err(refused) = Db::connect(&url, MIGRATIONS).await else {
            panic!("64 bytes");
        };
        assert!(refused.to_string().contains("63 bytes"), "{refused}");
    }

    #[tokio::test]
    async fn a_file_that_is_no_database_is_said_so_at_once() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("junk.db");
        std::fs::write(&file, vec![0x5a_u8; 100_000]).unwrap();
        let started = std::time::Instant::now();
        let Err(refused) = Db::connect(&format!("sqlite://{}", file.display()), MIGRATIONS).await
        else {
            panic!("junk is no database");
        };
        let said = format!("{:#}", anyhow::Error::from(refused));
        assert!(said.contains("not a database"), "{said}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "said at once, not after the pool's timeout: {:?}",
            started.elapsed()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn sqlite_commits_are_synced_unless_asked_otherwise() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        for (sync, expected) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let url = format!("sqlite://{}/{sync:?}.db", dir.display());
            let db = Db::connect_with(&url, MIGRATIONS, 1, sync).await.unwrap();
            let set: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(db.pool())
                .await
                .unwrap();
            assert_eq!(set, expected, "{sync:?}");
            db.close().await;
        }
        assert_eq!(Synchronous::default(), Synchronous::Full);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_database_a_newer_version_migrated_further_still_opens() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/t.db", dir.display());
        let newer = [
            MIGRATIONS[0],
            MigrationSource::portable(2, "a column", "ALTER TABLE things ADD COLUMN x TEXT"),
        ];
        Db::connect(&url, &newer).await.unwrap().close().await;
        // The older version, rolled back to: opens, and writes as it always did.
        let older = Db::connect(&url, MIGRATIONS).await.unwrap();
        sqlx::query("INSERT INTO things (id, n) VALUES ('a', 1)")
            .execute(older.pool())
            .await
            .unwrap();
        older.close().await;
        // A migration of its own that differs from the one applied is still refused.
        let changed = [MigrationSource::portable(
            1,
            "things",
            "CREATE TABLE things (id TEXT PRIMARY KEY);",
        )];
        assert!(Db::connect(&url, &changed).await.is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_full_database_is_worth_a_retry_later() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/t.db", dir.display());
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        // No page more than it has: SQLite's "database or disk is full", as on a full disk.
        let mut conn = db.pool().acquire().await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
            .execute(&mut *conn)
            .await
            .unwrap();
        let full = sqlx::query("INSERT INTO things (id, n) VALUES (hex(randomblob(20000)), 1)")
            .execute(&mut *conn)
            .await
            .expect_err("no room");
        assert!(full.to_string().contains("full"), "{full}");
        assert!(is_transient(&full), "{full:?}");
        drop(conn);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn sqlite_file_is_created_migrated_and_writable() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/nested/t.db", dir.display());
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO things (id, n) VALUES ($1, $2)")
            .bind("a")
            .bind(7_i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let dup = sqlx::query("INSERT INTO things (id, n) VALUES ($1, $2)")
            .bind("a")
            .bind(8_i64)
            .execute(db.pool())
            .await
            .unwrap_err();
        assert!(is_unique_violation(&dup), "{dup:?}");
        let thing: Thing = sqlx::query_as("SELECT id, n FROM things")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!((thing.id.as_str(), thing.count, thing.twice), ("a", 7, 14));
        db.close().await;
        // Re-opening applies no migration twice.
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        db.ping().await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A file this process may read but not write is refused at start, in SQLite's
    /// words, not opened read-only. Root writes whatever the mode says, so as root the
    /// file is made immutable instead (where the file system and capabilities allow).
    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_written_is_refused_at_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/t.db", dir.display());
        Db::connect(&url, MIGRATIONS).await.unwrap().close().await;
        let file = dir.join("t.db");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        let writable = std::fs::OpenOptions::new().append(true).open(&file).is_ok();
        let immutable = writable
            && std::process::Command::new("chattr")
                .arg("+i")
                .arg(&file)
                .status()
                .is_ok_and(|s| s.success());
        if writable && !immutable {
            eprintln!("skipped: this process writes read-only files and cannot make one immutable");
            let _ = std::fs::remove_dir_all(dir);
            return;
        }

        let refused = Db::connect(&url, MIGRATIONS).await;

        if immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&file)
                .status();
        }
        let _ = std::fs::remove_dir_all(&dir);
        let err = match refused {
            Ok(_) => panic!("a read-only database was opened"),
            Err(e) => chain(&e),
        };
        assert!(err.contains("cannot be written by this process"), "{err}");
        assert!(err.contains("readonly"), "{err}");
    }

    #[test]
    fn databases_are_created_from_the_maintenance_database() {
        for (url, maintenance, name) in [
            (
                "postgres://u:p@db:5432/bazaar_catalog?sslmode=require",
                "postgres://u:p@db:5432/postgres?sslmode=require",
                "bazaar_catalog",
            ),
            (
                "postgres://db/postgres",
                "postgres://db/template1",
                "postgres",
            ),
            (
                "postgresql://db/shop%20one",
                "postgresql://db/postgres",
                "shop one",
            ),
        ] {
            assert_eq!(
                maintenance_url(url).unwrap(),
                (maintenance.to_owned(), name.to_owned()),
                "{url}"
            );
        }
        for url in [
            "postgres://db",
            "postgres://db/",
            "postgres://db/a/b",
            "postgres://db/%FF",
            "no url",
        ] {
            assert!(maintenance_url(url).is_err(), "{url} was accepted");
        }
    }

    use crate::failure::error_chain as chain;

    /// Migrations that record each time they run, and linger while they do so that a
    /// replica that would run one too has every chance to.
    const RECORDED: &[MigrationSource] = &[
        MigrationSource {
            version: 1,
            description: "runs",
            sqlite: "CREATE TABLE runs (version BIGINT NOT NULL); INSERT INTO runs VALUES (1);",
            postgres: "CREATE TABLE runs (version BIGINT NOT NULL); INSERT INTO runs VALUES (1); \
                       SELECT pg_sleep(0.2);",
        },
        MigrationSource {
            version: 2,
            description: "second",
            sqlite: "INSERT INTO runs VALUES (2);",
            postgres: "INSERT INTO runs VALUES (2); SELECT pg_sleep(0.2);",
        },
        MigrationSource {
            version: 3,
            description: "third",
            sqlite: "ALTER TABLE runs ADD COLUMN note TEXT; INSERT INTO runs (version) VALUES (3);",
            postgres: "ALTER TABLE runs ADD COLUMN note TEXT; INSERT INTO runs (version) VALUES (3); \
                       SELECT pg_sleep(0.2);",
        },
    ];

    /// Replicas starting together against a PostgreSQL database that does not exist yet,
    /// when `BAZAAR_TEST_POSTGRES_URL` names a server (`postgres://user@host:port`, no
    /// database): all of them open it, it is created once and each migration runs once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_starting_at_once_create_and_migrate_once() {
        let Some(scratch) =
            crate::testing::ScratchPostgres::from_env("replicas", "replica-safe start")
        else {
            return;
        };
        let url = scratch.url();
        const REPLICAS: usize = 8;

        let starts = (0..REPLICAS).map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Db::connect(&url, RECORDED).await })
        });
        let outcomes = futures_util::future::join_all(starts).await;
        let mut opened = Vec::new();
        let mut failures = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome.expect("a replica's start panicked") {
                Ok(db) => opened.push(db),
                Err(e) => failures.push(format!("replica {i}: {}", chain(&e))),
            }
        }
        let mut runs = None;
        if let Some(db) = opened.first() {
            // A replica started later finds everything done.
            let late = Db::connect(&url, RECORDED).await;
            runs = Some(
                sqlx::query_as::<_, (i64, i64)>(
                    "SELECT version, COUNT(*) FROM runs GROUP BY version ORDER BY version",
                )
                .fetch_all(db.pool())
                .await,
            );
            match late {
                Ok(late) => late.close().await,
                Err(e) => failures.push(format!("the late replica: {}", chain(&e))),
            }
        }
        for db in &opened {
            db.close().await;
        }
        scratch.drop_database().await;

        assert!(
            failures.is_empty(),
            "replicas failed to start: {failures:#?}"
        );
        assert_eq!(opened.len(), REPLICAS);
        assert_eq!(
            runs.expect("a replica opened the database").unwrap(),
            vec![(1, 1), (2, 1), (3, 1)],
            "each migration must run exactly once"
        );
    }

    /// A statement waiting for a lock held long (a table locked by hand) gives up after
    /// [`LOCK_TIMEOUT`] with an error worth a retry, where it waited for as long as the
    /// lock was held: a checkout then got the gateway's bare 504 after 12 s (the database
    /// faults review). PostgreSQL only: SQLite's wait is its busy timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_waiting_for_a_lock_held_long_gives_up_in_time() {
        let Some(scratch) = crate::testing::ScratchPostgres::from_env("locked", "the lock timeout")
        else {
            return;
        };
        let db = Db::connect(&scratch.url(), RECORDED).await.unwrap();
        let holder = AnyPool::connect(&scratch.url()).await.unwrap();
        let mut locked = holder.begin().await.unwrap();
        sqlx::raw_sql("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *locked)
            .await
            .unwrap();
        let waited = tokio::time::timeout(
            LOCK_TIMEOUT * 4,
            sqlx::query("SELECT COUNT(*) FROM runs").execute(db.pool()),
        )
        .await;
        locked.rollback().await.unwrap();
        // The lock gone, the same statement goes through.
        let after = sqlx::query("SELECT COUNT(*) FROM runs")
            .execute(db.pool())
            .await;
        holder.close().await;
        db.close().await;
        scratch.drop_database().await;
        let error = waited
            .expect("it gave up long before the lock was let go")
            .expect_err("the table is locked");
        assert!(is_transient(&error), "worth a retry: {error}");
        assert!(after.is_ok(), "{after:?}");
    }

    #[tokio::test]
    async fn replicas_starting_at_once_on_one_sqlite_file_migrate_it_once() {
        let dir = std::env::temp_dir().join(format!("bazaar-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/shared.db", dir.display());
        let opens = (0..6).map(|_| Db::connect(&url, MIGRATIONS));
        for db in futures_util::future::join_all(opens).await {
            db.expect("every replica opens the database")
                .ping()
                .await
                .unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@localhost/db"),
            "postgres://u:***@localhost/db"
        );
    }
}
