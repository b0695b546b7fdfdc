//! Failpoints for crash tests: named places where a process can be made to die on
//! purpose, to prove that what the code promises survives a crash exactly there.
//!
//! `BAZAAR_FAILPOINTS` is a comma-separated list of names, each optionally suffixed
//! `:once`. A process passing an armed point aborts at once — like `kill -9`, with no
//! clean-up. A `:once` point fires only the first time in one run of `bazaar up`: a marker
//! file under the run's data directory (`BAZAAR_DATA_DIR/failpoints`, emptied by
//! [`new_run`] when `bazaar up` starts) remembers it across the restarted processes. A
//! process on its own (no data directory given) keeps its markers in the temporary
//! directory, keyed by its pid. Unset, a failpoint costs one look at an empty list.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Armed {
    name: String,
    once: bool,
}

static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();

fn armed() -> &'static [Armed] {
    ARMED.get_or_init(|| {
        std::env::var("BAZAAR_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_suffix(":once") {
                Some(name) => Armed {
                    name: name.to_owned(),
                    once: true,
                },
                None => Armed {
                    name: s.to_owned(),
                    once: false,
                },
            })
            .collect()
    })
}

fn marker(name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    match std::env::var_os("BAZAAR_DATA_DIR") {
        Some(dir) => markers(dir.as_ref()).join(safe),
        None => {
            std::env::temp_dir().join(format!("bazaar-failpoint-{}-{safe}", std::process::id()))
        }
    }
}

fn markers(data_dir: &Path) -> PathBuf {
    data_dir.join("failpoints")
}

/// Forgets which `:once` failpoints fired in an earlier run on `data_dir`; `bazaar up`
/// calls it before starting anything.
pub fn new_run(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(markers(data_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Aborts the process here if the failpoint `name` is armed.
pub fn point(name: &str) {
    for a in armed().iter().filter(|a| a.name == name) {
        if a.once {
            // create_new: exactly one process of the run wins the marker and fires.
            let marker = marker(name);
            if let Some(dir) = marker.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&marker)
                .is_err()
            {
                continue;
            }
        }
        eprintln!("failpoint {name}: aborting the process");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_forgets_the_markers_of_the_last_one() {
        let dir = std::env::temp_dir().join(format!("bazaar-faults-{}", uuid::Uuid::new_v4()));
        new_run(&dir).expect("nothing to forget is fine");
        std::fs::create_dir_all(markers(&dir)).unwrap();
        std::fs::write(markers(&dir).join("catalog_relay_before_publish"), b"").unwrap();
        new_run(&dir).unwrap();
        assert!(!markers(&dir).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
