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
    Any, AnyPool, Transaction,
    any::AnyPoolOptions,
    migrate::{Migration, MigrationType, Migrator},
};
use std::{borrow::Cow, path::Path, str::FromStr, time::Duration};

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One migration: its version, a description, and its SQL for each backend.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSource {
    pub version: i64,
    pub description: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
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
    #[error("migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens (creating if missing) the database at `url` and applies `migrations`.
    pub async fn connect(url: &str, migrations: &[MigrationSource]) -> Result<Self, DbError> {
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
                Backend::Sqlite => 8,
                Backend::Postgres => 10,
            });
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _meta| -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    // WAL lets readers run beside the one writer; the busy timeout makes a
                    // writer wait for the lock instead of failing at once.
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| DbError::Connect {
                url: redact(&url),
                source,
            })?;
        let db = Self { pool, backend };
        db.migrate(migrations).await?;
        Ok(db)
    }

    async fn migrate(&self, sources: &[MigrationSource]) -> Result<(), DbError> {
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
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
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
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
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

fn prepare_sqlite(url: &str) -> Result<String, DbError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
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

/// Creates the database named in a PostgreSQL URL if it does not exist yet, so that each
/// service can be pointed at its own database on a shared server.
async fn create_postgres_database(url: &str) -> Result<(), DbError> {
    use sqlx::migrate::MigrateDatabase;
    let exists = Any::database_exists(url)
        .await
        .map_err(|source| DbError::Connect {
            url: redact(url),
            source,
        })?;
    if !exists
        && let Err(source) = Any::create_database(url).await
        // Another replica may have created it between the check and now.
        && !Any::database_exists(url).await.unwrap_or(false)
    {
        return Err(DbError::Create {
            url: redact(url),
            source,
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[MigrationSource] = &[MigrationSource {
        version: 1,
        description: "things",
        sqlite: "CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL);",
        postgres: "CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL);",
    }];

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
        db.close().await;
        // Re-opening applies no migration twice.
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        db.ping().await.unwrap();
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
