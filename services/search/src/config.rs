//! The search service's own settings, next to the common ones every service has.
//!
//! Besides them search needs its database (`BAZAAR_DATABASE_URL`, the authoritative copy
//! of the products), where the catalog is (`BAZAAR_CATALOG_URL`, read by the embedded
//! transport) and where identity publishes its keys (`BAZAAR_IDENTITY_URL`): all common
//! settings.

use platform::config::{ServiceSettings, out_of_bounds};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings of the search service (environment variables `BAZAAR_<FIELD>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the full-text index is kept (`BAZAAR_INDEX_DIR`). Unset: next to the SQLite
    /// database (`<its directory>/search-index`), or `data/search-index` with PostgreSQL
    /// or an in-memory SQLite database. The index is derived data: each replica keeps its
    /// own, and one that is deleted is rebuilt from the database at the next start.
    pub index_dir: Option<String>,
    /// Memory the index writer fills before it writes a segment, in MB
    /// (`BAZAAR_WRITER_MEMORY_MB`, default 15, at least 15, at most 4000).
    pub writer_memory_mb: u32,
}

impl Config {
    /// The least memory the index writer can work with (tantivy's minimum).
    pub const MIN_WRITER_MEMORY_MB: u32 = 15;
    /// The most memory the index writer may be given.
    pub const MAX_WRITER_MEMORY_MB: u32 = 4000;
    /// The index directory's name when it is derived from the database's location.
    pub const DEFAULT_INDEX_DIR_NAME: &str = "search-index";

    /// The index directory: the configured one, or one derived from `database_url`.
    pub fn index_dir(&self, database_url: &str) -> PathBuf {
        if let Some(dir) = self.index_dir.as_deref().filter(|d| !d.trim().is_empty()) {
            return PathBuf::from(dir);
        }
        let beside_sqlite = database_url
            .strip_prefix("sqlite://")
            .or_else(|| database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|path| !path.is_empty() && *path != ":memory:")
            .map(|path| {
                Path::new(path)
                    .parent()
                    .unwrap_or_else(|| Path::new(""))
                    .join(Self::DEFAULT_INDEX_DIR_NAME)
            });
        beside_sqlite.unwrap_or_else(|| Path::new("data").join(Self::DEFAULT_INDEX_DIR_NAME))
    }

    /// The writer's memory budget in bytes.
    pub fn writer_memory_bytes(&self) -> usize {
        self.writer_memory_mb as usize * 1_000_000
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            index_dir: None,
            writer_memory_mb: Self::MIN_WRITER_MEMORY_MB,
        }
    }
}

impl ServiceSettings for Config {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        errors.extend(out_of_bounds(
            "BAZAAR_WRITER_MEMORY_MB",
            self.writer_memory_mb,
            Self::MIN_WRITER_MEMORY_MB..=Self::MAX_WRITER_MEMORY_MB,
        ));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::{assert_settings_refused, default_settings, settings};

    #[test]
    fn defaults_keep_the_index_beside_the_database() {
        let s = default_settings::<Config>("search");
        assert_eq!(
            s.own.index_dir(&s.common.database_url),
            Path::new("data/search-index")
        );
        assert_eq!(s.own.writer_memory_bytes(), 15_000_000);
    }

    #[test]
    fn the_index_directory_follows_the_database_url() {
        let c = Config::default();
        for (url, dir) in [
            (
                "sqlite:///var/lib/bazaar/search.db",
                "/var/lib/bazaar/search-index",
            ),
            ("sqlite://data/search.db?mode=rwc", "data/search-index"),
            ("sqlite:search.db", "search-index"),
            ("sqlite::memory:", "data/search-index"),
            ("postgres://u:p@db/search", "data/search-index"),
        ] {
            assert_eq!(c.index_dir(url), Path::new(dir), "{url}");
        }
        let set = Config {
            index_dir: Some("/srv/index".into()),
            ..Config::default()
        };
        assert_eq!(set.index_dir("sqlite://x/y.db"), Path::new("/srv/index"));
    }

    #[test]
    fn values_parse_like_environment_variables_and_are_checked() {
        let s = settings::<Config>(
            "search",
            &[("index_dir", "/tmp/ix"), ("writer_memory_mb", "64")],
        );
        assert_eq!(s.own.index_dir.as_deref(), Some("/tmp/ix"));
        assert_eq!(s.own.writer_memory_mb, 64);
        for bad in ["14", "4001"] {
            assert_settings_refused::<Config>(
                "search",
                &[("writer_memory_mb", bad)],
                &["BAZAAR_WRITER_MEMORY_MB"],
            );
        }
    }
}
