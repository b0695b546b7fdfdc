//! Failpoints for crash tests: named places where a process can be made to die on
//! purpose, to prove that what the code promises survives a crash exactly there.
//!
//! `BAZAAR_FAILPOINTS` is a comma-separated list of names, each optionally suffixed
//! `:once`. A process passing an armed point aborts at once — like `kill -9`, with no
//! clean-up. A `:once` point fires only the first time in one run of `bazaar up` (a marker
//! file in the temporary directory remembers it across the restarted processes). Unset,
//! a failpoint costs one look at an empty list.

use std::path::PathBuf;
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
    let run =
        std::env::var("BAZAAR_SUPERVISOR_PID").unwrap_or_else(|_| std::process::id().to_string());
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("bazaar-failpoint-{run}-{safe}"))
}

/// Aborts the process here if the failpoint `name` is armed.
pub fn point(name: &str) {
    for a in armed().iter().filter(|a| a.name == name) {
        if a.once {
            // create_new: exactly one process of the run wins the marker and fires.
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(marker(name))
                .is_err()
            {
                continue;
            }
        }
        eprintln!("failpoint {name}: aborting the process");
        std::process::abort();
    }
}
