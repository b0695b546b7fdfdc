//! Where the replicas of each service are, as a set of endpoints that changes while the
//! process runs. Three sources, in order of precedence:
//!
//! 1. **The supervisor** (`bazaar up`): a directory file (`BAZAAR_DIRECTORY_FILE`) the
//!    supervisor rewrites, atomically, whenever a replica becomes ready or starts to
//!    drain; every process re-reads it when it changes.
//! 2. **A list** in `BAZAAR_<NAME>_URL=http://a:1,http://b:2`.
//! 3. **DNS**: a URL whose host is a name (`http://catalog:8080`) is resolved again
//!    every `BAZAAR_DNS_REFRESH_MS`, and every address becomes an endpoint — a
//!    Kubernetes headless Service gives one per ready pod.
//!
//! Without any of them a service is at `http://127.0.0.1:<its registry port>`.

use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tokio::sync::watch;

/// One replica of a service: its base URL, without a trailing slash.
pub type Endpoint = Arc<str>;

/// The current endpoints of one service, and a way to wait for them to change. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Endpoints {
    rx: watch::Receiver<Arc<[Endpoint]>>,
    /// The sender of a set nobody changes, kept so that `changed` waits instead of ending.
    _fixed: Option<Arc<watch::Sender<Arc<[Endpoint]>>>>,
}

impl Endpoints {
    /// A set that never changes.
    pub fn fixed(urls: impl IntoIterator<Item = String>) -> Self {
        let (tx, rx) = watch::channel(to_set(urls));
        Self {
            rx,
            _fixed: Some(Arc::new(tx)),
        }
    }

    fn live(rx: watch::Receiver<Arc<[Endpoint]>>) -> Self {
        Self { rx, _fixed: None }
    }

    /// The endpoints as they are now.
    pub fn current(&self) -> Arc<[Endpoint]> {
        self.rx.borrow().clone()
    }

    /// Waits until the set changes; `false` once it never will again.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

fn to_set(urls: impl IntoIterator<Item = String>) -> Arc<[Endpoint]> {
    let mut set: Vec<Endpoint> = urls
        .into_iter()
        .map(|u| Arc::from(u.trim().trim_end_matches('/')))
        .filter(|u: &Endpoint| !u.is_empty())
        .collect();
    set.sort();
    set.dedup();
    set.into()
}

/// What the supervisor writes to the directory file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryFile {
    /// Grows with every change.
    pub version: u64,
    /// Every service's endpoints that take traffic: ready, and not draining.
    pub services: BTreeMap<String, Vec<String>>,
}

impl DirectoryFile {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read(path)?;
        serde_json::from_slice(&text).map_err(std::io::Error::other)
    }

    /// Writes it to `path` atomically: readers see the old file or the new one, never a
    /// part.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, path)
    }
}

/// How often the directory file is looked at for changes.
const FILE_POLL: Duration = Duration::from_millis(100);

/// The live endpoint sets of a process, made on first use and then kept up to date by a
/// background task per source. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    inner: Arc<Mutex<HashMap<String, Endpoints>>>,
}

/// Where a service's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The supervisor's directory file, falling back to `fallback` until it names the
    /// service.
    File {
        path: PathBuf,
        fallback: Vec<String>,
    },
    /// URLs, each host resolved again every `refresh` when it is a name.
    Urls {
        urls: Vec<String>,
        refresh: Duration,
    },
}

impl Discovery {
    /// The endpoints of `service` from `source`; the same set for every call.
    pub fn endpoints(&self, service: &str, source: &Source) -> Endpoints {
        let mut known = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = known.get(service) {
            return e.clone();
        }
        let endpoints = start(service, source);
        known.insert(service.to_owned(), endpoints.clone());
        endpoints
    }
}

fn start(service: &str, source: &Source) -> Endpoints {
    match source {
        Source::Urls { urls, refresh } => {
            let names: Vec<&String> = urls.iter().filter(|u| host_is_a_name(u)).collect();
            if names.is_empty() || tokio::runtime::Handle::try_current().is_err() {
                return Endpoints::fixed(urls.clone());
            }
            let (tx, rx) = watch::channel(to_set(urls.clone()));
            tokio::spawn(resolve_dns(service.to_owned(), urls.clone(), *refresh, tx));
            Endpoints::live(rx)
        }
        Source::File { path, fallback } => {
            let read = |path: &Path| {
                DirectoryFile::read(path)
                    .ok()
                    .and_then(|f| f.services.get(service).cloned())
            };
            let initial = read(path).unwrap_or_else(|| fallback.clone());
            let (tx, rx) = watch::channel(to_set(initial));
            if tokio::runtime::Handle::try_current().is_ok() {
                let (service, path) = (service.to_owned(), path.clone());
                tokio::spawn(async move {
                    let mut seen: Option<SystemTime> = None;
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(FILE_POLL) => {}
                            _ = tx.closed() => return,
                        }
                        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                        if modified.is_none() || modified == seen {
                            continue;
                        }
                        seen = modified;
                        if let Ok(file) = DirectoryFile::read(&path)
                            && let Some(urls) = file.services.get(&service)
                        {
                            let set = to_set(urls.clone());
                            tx.send_if_modified(|current| {
                                let changed = *current != set;
                                if changed {
                                    tracing::info!(service, endpoints = ?set, "endpoints changed");
                                    *current = set.clone();
                                }
                                changed
                            });
                        }
                    }
                });
            }
            Endpoints::live(rx)
        }
    }
}

/// Whether a URL's host is a DNS name (not an IP address, not `localhost`).
fn host_is_a_name(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        Some(host) => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            bare.parse::<IpAddr>().is_err() && !bare.eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

/// Resolves every named host of `urls` now and every `refresh`, publishing one endpoint
/// per address. A failed lookup keeps the addresses it had.
async fn resolve_dns(
    service: String,
    urls: Vec<String>,
    refresh: Duration,
    tx: watch::Sender<Arc<[Endpoint]>>,
) {
    let mut last: HashMap<String, Vec<String>> = HashMap::new();
    loop {
        let mut all = Vec::new();
        for url in &urls {
            if !host_is_a_name(url) {
                all.push(url.clone());
                continue;
            }
            match resolve(url).await {
                Ok(found) if !found.is_empty() => {
                    last.insert(url.clone(), found.clone());
                    all.extend(found);
                }
                Ok(_) | Err(_) => {
                    // Keep what worked last (or the name itself, for the client to try).
                    all.extend(last.get(url).cloned().unwrap_or_else(|| vec![url.clone()]));
                }
            }
        }
        let set = to_set(all);
        tx.send_if_modified(|current| {
            let changed = *current != set;
            if changed {
                tracing::info!(service, endpoints = ?set, "endpoints resolved");
                *current = set.clone();
            }
            changed
        });
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            _ = tx.closed() => return,
        }
    }
}

/// `http://name:port/x` → `http://<each address>:port`.
async fn resolve(url: &str) -> std::io::Result<Vec<String>> {
    let parsed = url::Url::parse(url).map_err(std::io::Error::other)?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs = tokio::net::lookup_host((host.as_str(), port)).await?;
    Ok(addrs
        .map(|a| format!("{}://{a}", parsed.scheme()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_from_addresses() {
        assert!(host_is_a_name("http://catalog:8080"));
        assert!(host_is_a_name("http://catalog.shop.svc.cluster.local"));
        assert!(!host_is_a_name("http://127.0.0.1:8082"));
        assert!(!host_is_a_name("http://[::1]:8082"));
        assert!(!host_is_a_name("http://localhost:8082"));
    }

    #[tokio::test]
    async fn a_list_of_addresses_is_the_set_as_given() {
        let d = Discovery::default();
        let e = d.endpoints(
            "catalog",
            &Source::Urls {
                urls: vec!["http://127.0.0.1:2/".into(), "http://127.0.0.1:1".into()],
                refresh: Duration::from_secs(5),
            },
        );
        let now = e.current();
        let got: Vec<&str> = now.iter().map(|s| &**s).collect();
        assert_eq!(got, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    }

    #[tokio::test]
    async fn a_name_becomes_one_endpoint_per_address() {
        // This machine's own name: resolvable without a DNS server on most machines.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let Ok(addrs) = tokio::net::lookup_host((host.as_str(), 9)).await else {
            eprintln!("skipped: this machine's name `{host}` does not resolve");
            return;
        };
        let mut expected: Vec<String> = addrs.map(|a| format!("http://{a}")).collect();
        expected.sort();
        expected.dedup();
        let d = Discovery::default();
        let mut e = d.endpoints(
            "catalog",
            &Source::Urls {
                urls: vec![format!("http://{host}:9")],
                refresh: Duration::from_millis(50),
            },
        );
        let found = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let now: Vec<String> = e.current().iter().map(|u| u.to_string()).collect();
                if now == expected {
                    return now;
                }
                e.changed().await;
            }
        })
        .await
        .expect("the name resolves to its addresses");
        assert!(!found.is_empty());
    }

    #[tokio::test]
    async fn the_directory_file_is_followed_as_it_changes() {
        let dir = std::env::temp_dir().join(format!("bazaar-dir-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("directory.json");
        let mut file = DirectoryFile {
            version: 1,
            ..DirectoryFile::default()
        };
        file.services
            .insert("cart".into(), vec!["http://127.0.0.1:1".into()]);
        file.write(&path).unwrap();
        let d = Discovery::default();
        let source = Source::File {
            path: path.clone(),
            fallback: vec!["http://127.0.0.1:9".into()],
        };
        let mut cart = d.endpoints("cart", &source);
        assert_eq!(&*cart.current()[0], "http://127.0.0.1:1");
        let orders = d.endpoints("orders", &source);
        assert_eq!(
            &*orders.current()[0],
            "http://127.0.0.1:9",
            "not named: the fallback"
        );

        // The file's modification time has a coarse clock on some filesystems.
        tokio::time::sleep(Duration::from_millis(20)).await;
        file.version = 2;
        file.services.insert(
            "cart".into(),
            vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()],
        );
        file.write(&path).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while cart.current().len() != 2 {
                cart.changed().await;
            }
        })
        .await
        .expect("the new replica is seen");
        let _ = std::fs::remove_dir_all(dir);
    }
}
