//! `docs/operations.md` documents every port and every `BAZAAR_*` variable: the ports and
//! settings are collected from the code (the registry, each service's settings, the
//! common settings, the command line's options), so a new one without its line in the
//! guide fails here.

use super::REGISTRY;
use platform::registry::Variable;
use std::collections::BTreeSet;

/// Where another service is: one variable per service, documented once as a pattern.
const SERVICE_URL: &str = "BAZAAR_<SERVICE>_URL";

fn guide() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of the tables under the `### ` heading that starts with `heading`, each a list
/// of trimmed cells (the header and separator rows included; they match nothing).
fn table(guide: &str, heading: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in guide.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            inside = title.starts_with(heading);
        } else if line.starts_with("## ") {
            inside = false;
        } else if inside && line.starts_with('|') {
            rows.push(cells(line));
        }
    }
    assert!(
        !rows.is_empty(),
        "docs/operations.md has no table under `### {heading}`"
    );
    rows
}

/// A table row's cells, trimmed.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_matches('|').split('|');
    inner.map(|c| c.trim().to_owned()).collect()
}

/// The row whose first cells are `key`, with a non-empty cell after each of them.
fn row<'a>(rows: &'a [Vec<String>], key: &[String]) -> Option<&'a [String]> {
    rows.iter()
        .find(|r| r.len() >= key.len() + 2 && r.starts_with(key))
        .filter(|r| r[key.len()..].iter().all(|c| !c.is_empty()))
        .map(Vec::as_slice)
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

/// What is wrong with `var`'s row among `rows` (keyed by `key`, the variable last): it is
/// missing, or its default cell does not show a numeric or boolean default.
fn check(rows: &[Vec<String>], key: &[String], var: &Variable, problems: &mut Vec<String>) {
    let Some(row) = row(rows, key) else {
        problems.push(format!("no row for {}", key.join(" ")));
        return;
    };
    let shown = &row[key.len()];
    let default = match &var.default {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    if let Some(default) = default
        && !shown.contains(&default)
    {
        problems.push(format!(
            "{}: the default is {default}, the guide says {shown}",
            key.join(" ")
        ));
    }
}

#[test]
fn the_operations_guide_lists_every_port() {
    let guide = guide();
    let rows = table(&guide, "Ports");
    let missing: Vec<String> = REGISTRY
        .entries()
        .iter()
        .filter(|e| row(&rows, &[code(e.name()), e.port.to_string()]).is_none())
        .map(|e| format!("{} on {}", e.name(), e.port))
        .collect();
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "docs/operations.md, ### Ports"
    );
}

#[test]
fn the_operations_guide_documents_every_variable_with_its_default() {
    let guide = guide();
    let mut problems = Vec::new();

    let common = table(&guide, "Every service");
    for var in platform::config::common_variables() {
        check(&common, &[code(&var.name)], &var, &mut problems);
    }
    if row(&common, &[code(SERVICE_URL)]).is_none() {
        problems.push(format!("no row for {SERVICE_URL}"));
    }

    let own = table(&guide, "Each service's own");
    for entry in REGISTRY.entries() {
        for var in (entry.def.settings)() {
            check(
                &own,
                &[code(entry.name()), code(&var.name)],
                &var,
                &mut problems,
            );
        }
    }

    let options = table(&guide, "The command line");
    for name in crate::cli::variables() {
        if row(&options, &[code(&name)]).is_none() {
            problems.push(format!("no row for {name} (a command-line option)"));
        }
    }

    let everything: Vec<Vec<String>> = guide
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(cells)
        .collect();
    for name in crate::settings::READ_DIRECTLY {
        if row(&everything, &[code(name)]).is_none() {
            problems.push(format!("no row for {name}"));
        }
    }
    assert_eq!(problems, Vec::<String>::new(), "docs/operations.md");
}

#[test]
fn the_operations_guide_names_no_variable_the_code_does_not_know() {
    let known = crate::settings::known();
    let guide = guide();
    let unknown: BTreeSet<&str> = guide
        .match_indices("BAZAAR_")
        .map(|(at, _)| {
            let len = guide[at..]
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(guide.len() - at);
            &guide[at..at + len]
        })
        // `BAZAAR_<SERVICE>_URL`, `BAZAAR_<FIELD>`: patterns, not names.
        .filter(|name| *name != "BAZAAR_" && !known.contains(*name))
        .collect();
    assert_eq!(unknown, BTreeSet::new(), "docs/operations.md names these");
}
