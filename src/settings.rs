//! Every `BAZAAR_*` variable the binary reads, and those set that nothing reads: a
//! misspelt name (`BAZAAR_DATABSE_URL`) is otherwise ignored without a word, and the
//! service quietly runs on its default.

use crate::REGISTRY;
use std::collections::BTreeSet;

/// Variables read straight from the environment, not through a settings struct or an
/// option, and where: documented like the rest.
pub const READ_DIRECTLY: &[&str] = &[
    // platform::config: the TOML file of settings.
    "BAZAAR_CONFIG",
    // events::faults: crash points for the crash tests.
    "BAZAAR_FAILPOINTS",
    // serve: set by `bazaar up`, so a service dies with its supervisor.
    "BAZAAR_SUPERVISOR_PID",
    // cpus, read by main: the async runtime's worker threads, in every process.
    "BAZAAR_WORKERS",
    // cpus, read by main: the CPUs of every process; `bazaar up` gives each its share.
    "BAZAAR_CPUS",
    // supervisor::plan: set by `bazaar up` on each replica.
    "BAZAAR_INSTANCE",
    // The tests and benchmarks.
    "BAZAAR_TEST_POSTGRES_URL",
    "BAZAAR_TEST_AMQP_URL",
    "BAZAAR_TEST_RABBITMQ_SERVER",
    "BAZAAR_TEST_BROWSER",
    "BAZAAR_BIN",
    "BAZAAR_BENCH_AMQP_URL",
    "BAZAAR_BENCH_PRODUCTS",
    "BAZAAR_BENCH_QUERIES",
];

/// Every variable something in the binary reads: the common settings, each service's
/// own, where each service is, the command line's options and those read directly.
pub fn known() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = READ_DIRECTLY.iter().map(|s| (*s).to_owned()).collect();
    known.extend(
        platform::config::common_variables()
            .into_iter()
            .map(|v| v.name),
    );
    known.extend(crate::cli::variables());
    for entry in REGISTRY.entries() {
        known.extend((entry.def.settings)().into_iter().map(|v| v.name));
        known.insert(format!("BAZAAR_{}_URL", entry.name().to_ascii_uppercase()));
    }
    known
}

/// The `BAZAAR_*` names among `names` that nothing reads, each with the known name it
/// most likely misspells, if one is close.
pub fn unknown(names: impl IntoIterator<Item = String>) -> Vec<(String, Option<String>)> {
    let known = known();
    let mut unknown: Vec<(String, Option<String>)> = names
        .into_iter()
        .filter(|n| n.starts_with("BAZAAR_") && !known.contains(n))
        .map(|name| {
            let near = known
                .iter()
                .map(|k| (strsim::damerau_levenshtein(&name, k), k))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, k)| k.clone());
            (name, near)
        })
        .collect();
    unknown.sort();
    unknown
}

/// One line per variable of this process's environment, and per key of the
/// `BAZAAR_CONFIG` file, that nothing reads.
pub fn ignored_lines() -> Vec<String> {
    let mut lines: Vec<String> =
        unknown(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
            .into_iter()
            .map(|(name, near)| match near {
                Some(near) => format!("{name} is not a setting (did you mean {near}?); ignored"),
                None => format!("{name} is not a setting; ignored"),
            })
            .collect();
    // A file that cannot be read or parsed is said by every service that reads it.
    if let Some(path) = std::env::var_os("BAZAAR_CONFIG")
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        let file = std::path::Path::new(&path).display().to_string();
        lines.extend(
            unknown_keys(&text)
                .into_iter()
                .map(|(key, near)| match near {
                    Some(near) => {
                        format!(
                            "`{key}` in {file} is not a setting (did you mean `{near}`?); ignored"
                        )
                    }
                    None => format!("`{key}` in {file} is not a setting; ignored"),
                }),
        );
    }
    lines
}

/// The keys of a `BAZAAR_CONFIG` file (`text`, TOML) that nothing reads, each with the key
/// it most likely misspells: a misspelt key was ignored without a word (the operator
/// review), where the same variable misspelt was warned about. Nothing when the file is
/// not TOML (the services refuse it, saying why).
fn unknown_keys(text: &str) -> Vec<(String, Option<String>)> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let key = |name: &str| name.trim_start_matches("BAZAAR_").to_ascii_lowercase();
    let mut found: Vec<(String, Option<String>)> = unknown(
        table
            .keys()
            .map(|k| format!("BAZAAR_{}", k.to_ascii_uppercase())),
    )
    .into_iter()
    .map(|(name, near)| (key(&name), near.as_deref().map(key)))
    .collect();
    // The file's keys are read as written, in lower case: `SEED_PRODUCTS = 3` is read by
    // nothing, though its variable's name is known (the settings review).
    for written in table
        .keys()
        .filter(|k| k.bytes().any(|b| b.is_ascii_uppercase()))
    {
        let lower = written.to_ascii_lowercase();
        let near = match found.iter().position(|(k, _)| *k == lower) {
            Some(at) => found.remove(at).1,
            None => Some(lower),
        };
        found.push((written.clone(), near));
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_of_the_settings_file_is_named_too() {
        let file = "databse_url = \"sqlite://x.db\"\nlog = \"warn\"\nmax_streams = 10\n";
        assert_eq!(
            unknown_keys(file),
            vec![("databse_url".to_owned(), Some("database_url".to_owned()))]
        );
        assert!(unknown_keys("not [ toml").is_empty());
        // Keys are read in lower case only: one in capitals is read by nothing.
        assert_eq!(
            unknown_keys("SEED_PRODUCTS = 3\nRequest_Timeout_Ms = 0\nDATABSE_URL = \"x\"\n"),
            vec![
                ("DATABSE_URL".to_owned(), Some("database_url".to_owned())),
                (
                    "Request_Timeout_Ms".to_owned(),
                    Some("request_timeout_ms".to_owned())
                ),
                ("SEED_PRODUCTS".to_owned(), Some("seed_products".to_owned())),
            ]
        );
    }

    #[test]
    fn a_misspelt_setting_is_named_with_what_it_likely_meant() {
        let set = [
            "BAZAAR_DATABSE_URL",
            "BAZAAR_BROKR",
            "BAZAAR_DATABASE_URL",
            "BAZAAR_CATALOG_URL",
            "BAZAAR_SECURE_COOKIE",
            "BAZAAR_WORKERS",
            "BAZAAR_PORT",
            "BAZAAR_SOMETHING_ELSE_ENTIRELY",
            "PATH",
        ]
        .map(str::to_owned);
        assert_eq!(
            unknown(set),
            vec![
                ("BAZAAR_BROKR".to_owned(), Some("BAZAAR_BROKER".to_owned())),
                (
                    "BAZAAR_DATABSE_URL".to_owned(),
                    Some("BAZAAR_DATABASE_URL".to_owned())
                ),
                (
                    "BAZAAR_SECURE_COOKIE".to_owned(),
                    Some("BAZAAR_SECURE_COOKIES".to_owned())
                ),
                ("BAZAAR_SOMETHING_ELSE_ENTIRELY".to_owned(), None),
            ]
        );
    }
}
