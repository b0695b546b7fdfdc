//! Where each replica listens and keeps its data. Replicas of a service share its
//! database; a read model's replicas each keep their own copy, in one of two slots each
//! (a rolling restart's successor takes the other slot, so old and new never share an
//! index, and the next restart finds most of its data still there).

use crate::cpus::{Cpus, Placement};
use anyhow::{Context, bail};
use platform::registry::{Entry, GATEWAY, Registry};
use socket2::{Domain, Protocol, Socket, Type};
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    str::FromStr,
};

/// How many replicas each service runs: `catalog=3,cart=2` (the rest: one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicas(BTreeMap<String, u32>);

/// The most replicas of one service `bazaar up` runs.
pub const MAX_REPLICAS: u32 = 16;

impl FromStr for Replicas {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (service, n) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not SERVICE=N"))?;
            let service = service.trim();
            if crate::REGISTRY.get(service).is_none() {
                let known: Vec<&str> = crate::REGISTRY.names().collect();
                return Err(format!(
                    "there is no service called `{service}` (the services: {})",
                    known.join(", ")
                ));
            }
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| format!("`{n}` is not a number of replicas"))?;
            if !(1..=MAX_REPLICAS).contains(&n) {
                return Err(format!(
                    "{service} may have 1 to {MAX_REPLICAS} replicas, not {n}"
                ));
            }
            if out.insert(service.to_owned(), n).is_some() {
                return Err(format!("{service} is named twice"));
            }
        }
        Ok(Self(out))
    }
}

impl Replicas {
    /// How many replicas `service` runs.
    pub fn of(&self, service: &str) -> u32 {
        self.0.get(service).copied().unwrap_or(1)
    }
}

/// A read model's data slot: a rolling restart's successor takes the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    fn other(self) -> Self {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn letter(self) -> char {
        match self {
            Slot::A => 'a',
            Slot::B => 'b',
        }
    }
}

/// One replica process to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Unique in this shop's life: a successor has a new one.
    pub id: u64,
    pub entry: &'static Entry,
    /// 1, 2, …
    pub replica: u32,
    pub slot: Slot,
    /// Its service's port: for a gateway replica the shop's, which its siblings share.
    pub port: u16,
    /// A gateway replica's port of its own, beside the shop's: on the shared one the kernel
    /// hands each new connection to any of the siblings, a frozen one included, so only
    /// here is an answer surely this process's. The supervisor checks it here, and the
    /// directory lists it, so that the storefront's calls balance over the replicas and
    /// leave a frozen one within its callers' probes. `None` for every other service.
    pub own_port: Option<u16>,
    /// What this replica's environment has beyond the shop's: where it listens, its
    /// database, its index, its name, its CPUs.
    pub env: Vec<(String, String)>,
    /// The CPUs it is held to, kept by its successors; `None`: those of the supervisor.
    pub cpus: Option<Cpus>,
}

impl Spec {
    pub fn name(&self) -> &'static str {
        self.entry.name()
    }

    /// `catalog` for the first replica, `catalog#2` for the second.
    pub fn label(&self) -> String {
        if self.replica == 1 {
            self.name().to_owned()
        } else {
            format!("{}#{}", self.name(), self.replica)
        }
    }

    /// Where this process, and no other, answers: its own port if it has one.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.own_port.unwrap_or(self.port))
    }
}

/// What a replica is started on, bound and not yet listening: its service's port and,
/// for a gateway replica, its own ([`Spec::own_port`]).
#[derive(Debug)]
pub struct Sockets {
    pub service: Socket,
    pub own: Option<Socket>,
}

impl Sockets {
    /// `spec`'s ports bound again for a process restarted after its last one ended, the
    /// service's unless `service` is given (a copy of the gateway's shared socket).
    pub fn again(spec: &Spec, service: Option<Socket>) -> std::io::Result<Self> {
        let service = match service {
            Some(s) => s,
            None => reserve_again(spec)?,
        };
        let own = spec.own_port.map(reserve).transpose()?;
        Ok(Self { service, own })
    }
}

/// Connections each process holds when all of them share one PostgreSQL server: ten
/// services, a few replicas and a rolling restart's successors stay well inside its
/// default 100, with room for a second shop.
pub const SHARED_SERVER_POOL: u32 = 4;

/// The worker threads a process of the shop gets when the operator sets none: every
/// process of the shop shares this machine's cores, so each service gets a quarter of
/// them and the gateway, which every request passes, half (each at least one). Measured
/// on 2 cores (docs/benchmarks.md): a worker per core in each of 12 processes spent more
/// time waking idle workers than working; one each served 1.35× the product reads and
/// 1.14× the checkouts, and a second worker for the gateway took back most of that.
fn workers(service: &str) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let share = if service == GATEWAY { 2 } else { 4 };
    (cores / share).max(1)
}

/// The worker threads a process of `service` will run: the operator's `BAZAAR_WORKERS`,
/// else [`workers`].
fn threads_of(service: &str) -> usize {
    crate::cpus::worker_threads()
        .ok()
        .flatten()
        .unwrap_or_else(|| workers(service))
}

/// Decides ports and data places.
#[derive(Debug, Clone)]
pub struct Planner {
    registry: Registry,
    data_dir: PathBuf,
    /// The PostgreSQL server whose databases the services get, if not SQLite.
    database: Option<String>,
    /// The gateway's port; the first replicas of the others keep their offset from it.
    base_port: u16,
    /// Each new process's CPUs, unless the operator chose them ([`crate::cpus`]).
    placement: Option<std::sync::Arc<Placement>>,
    /// The port the first gateway got: every other gateway shares it, also when the
    /// kernel chose it (`base_port` 0).
    gateway_port: std::sync::Arc<std::sync::OnceLock<u16>>,
}

impl Planner {
    pub fn new(
        registry: Registry,
        data_dir: &Path,
        database: Option<String>,
        base_port: u16,
    ) -> anyhow::Result<Self> {
        if let Some(server) = &database {
            // Checked now, not at the first service's start (or a read model's sixteenth
            // replica's restart): the longest name any process of the shop could get.
            let longest = registry
                .entries()
                .iter()
                .filter(|e| e.def.database)
                .map(|e| match e.def.read_model {
                    true => format!("{}_{MAX_REPLICAS}b", e.name()),
                    false => e.name().to_owned(),
                })
                .max_by_key(String::len)
                .unwrap_or_default();
            postgres_database(server, &longest)?;
        }
        Ok(Self {
            registry,
            data_dir: data_dir.to_owned(),
            database,
            base_port,
            placement: Placement::new().map(std::sync::Arc::new),
            gateway_port: std::sync::Arc::default(),
        })
    }

    /// Replica `replica` of `entry` as the shop starts it, and its sockets, bound.
    pub fn first(&self, entry: &'static Entry, replica: u32) -> anyhow::Result<(Spec, Sockets)> {
        let socket = if entry.name() == GATEWAY {
            let socket = match self.gateway_port.get() {
                Some(&port) => bind(port, true)
                    .with_context(|| format!("could not share port {port} between gateways"))?,
                None => reserve_shareable(self.base_port).with_context(|| {
                    format!(
                        "port {} is in use: stop what uses it or pass --port",
                        self.base_port
                    )
                })?,
            };
            let _ = self.gateway_port.set(port_of(&socket)?);
            socket
        } else if self.base_port == 0 || replica > 1 {
            reserve(0)?
        } else {
            let gateway = self.registry.get(GATEWAY).map_or(8080, |g| g.port);
            let offset = entry.port.saturating_sub(gateway);
            self.base_port
                .checked_add(offset)
                .and_then(|p| reserve(p).ok())
                .map_or_else(|| reserve(0), Ok)?
        };
        let cpus = self
            .placement
            .as_ref()
            .and_then(|p| p.take(threads_of(entry.name())));
        self.on(entry, replica, Slot::A, socket, cpus)
    }

    /// The successor of `old` in a rolling restart: a port of its own (the gateway keeps
    /// the shop's, shared with its predecessor until that one stops) and, for a read
    /// model, the other data slot.
    pub fn successor(&self, old: &Spec) -> anyhow::Result<(Spec, Sockets)> {
        let socket = if old.name() == GATEWAY {
            bind(old.port, true).with_context(|| {
                format!("could not share port {} with the old gateway", old.port)
            })?
        } else {
            reserve(0)?
        };
        let slot = if old.entry.def.read_model {
            old.slot.other()
        } else {
            old.slot
        };
        let (mut spec, sockets) =
            self.on(old.entry, old.replica, slot, socket, old.cpus.clone())?;
        // A read model's new copy keeps what an admin decided about the old one's letters.
        if old.entry.def.read_model
            && let Some((_, database)) = old.env.iter().find(|(k, _)| k == "BAZAAR_DATABASE_URL")
        {
            spec.env
                .push(("BAZAAR_PREDECESSOR_DATABASE".to_owned(), database.clone()));
        }
        Ok((spec, sockets))
    }

    /// Replica `replica` of `entry` on `socket`, its service's port, and for a gateway
    /// replica a port of its own besides.
    fn on(
        &self,
        entry: &'static Entry,
        replica: u32,
        slot: Slot,
        socket: Socket,
        cpus: Option<Cpus>,
    ) -> anyhow::Result<(Spec, Sockets)> {
        let own = own_socket(entry)?;
        let ports = (port_of(&socket)?, own.as_ref().map(port_of).transpose()?);
        let spec = self.spec(entry, replica, slot, ports, cpus)?;
        let sockets = Sockets {
            service: socket,
            own,
        };
        Ok((spec, sockets))
    }

    fn spec(
        &self,
        entry: &'static Entry,
        replica: u32,
        slot: Slot,
        (port, own_port): (u16, Option<u16>),
        cpus: Option<Cpus>,
    ) -> anyhow::Result<Spec> {
        let name = entry.name();
        // A read model's replicas each have their own copy; the first replica's first slot
        // keeps the plain names, so a shop of one replica each looks as it always did.
        let own_copy = entry.def.read_model && (replica, slot) != (1, Slot::A);
        let suffix = own_copy.then(|| format!("{replica}{}", slot.letter()));
        let mut env = vec![
            ("BAZAAR_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            ("BAZAAR_INSTANCE".to_owned(), format!("{name}-{replica}")),
        ];
        if std::env::var_os("BAZAAR_WORKERS").is_none() {
            env.push(("BAZAAR_WORKERS".to_owned(), workers(name).to_string()));
        }
        if let Some(cpus) = &cpus {
            env.push((crate::cpus::VAR.to_owned(), cpus.to_string()));
        }
        if entry.def.database {
            let db = match (&self.database, &suffix) {
                (Some(server), None) => postgres_database(server, name)?,
                (Some(server), Some(s)) => postgres_database(server, &format!("{name}_{s}"))?,
                (None, None) => sqlite(&self.data_dir.join(format!("{name}.db"))),
                (None, Some(s)) => sqlite(&self.data_dir.join(format!("{name}-{s}.db"))),
            };
            env.push(("BAZAAR_DATABASE_URL".to_owned(), db));
            // Every process of the shop shares the one server, which admits 100 clients
            // by default; the operator's own BAZAAR_DATABASE_POOL wins.
            if self.database.is_some() && std::env::var_os("BAZAAR_DATABASE_POOL").is_none() {
                env.push((
                    "BAZAAR_DATABASE_POOL".to_owned(),
                    SHARED_SERVER_POOL.to_string(),
                ));
            }
        }
        if entry.def.read_model {
            // Derived data that is not in the database lives in the data directory too,
            // whatever the database: two shops on one machine must never share an index.
            let dir = match &suffix {
                None => self.data_dir.join(format!("{name}-index")),
                Some(s) => self.data_dir.join(format!("{name}-index-{s}")),
            };
            env.push(("BAZAAR_INDEX_DIR".to_owned(), dir.display().to_string()));
        }
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Spec {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            entry,
            replica,
            slot,
            port,
            own_port,
            env,
            cpus,
        })
    }
}

fn sqlite(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A socket bound to 127.0.0.1:`port` (0: a free port) but not yet listening: it holds
/// the port for its service, which starts listening on it. Until then a connection to the
/// port is refused at once, as if nothing were there, so nobody waits on a service that
/// has not started.
pub fn reserve(port: u16) -> std::io::Result<Socket> {
    bind(port, false)
}

/// The port of `spec` bound again for a process restarted after its last one ended: as
/// [`reserve`], and shareable for a gateway as its first socket was, so that a rolling
/// restart can still start a successor beside it.
pub fn reserve_again(spec: &Spec) -> std::io::Result<Socket> {
    bind(spec.port, spec.name() == GATEWAY)
}

/// A gateway replica's port of its own ([`Spec::own_port`]), any free one; `None` for
/// every other service.
fn own_socket(entry: &Entry) -> std::io::Result<Option<Socket>> {
    (entry.name() == GATEWAY).then(|| reserve(0)).transpose()
}

/// [`reserve`] for the shop's own address, with `SO_REUSEPORT`: so that a rolling restart
/// of the gateway can listen on it beside its predecessor until that one stops. Whether
/// the port is free is checked first without the option, which anything else holding
/// the port (another shop's gateway too) makes fail.
fn reserve_shareable(port: u16) -> std::io::Result<Socket> {
    let free = port_of(&bind(port, false)?)?;
    bind(free, true)
}

fn bind(port: u16, shared: bool) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    // Always, as std and tokio do: the connections a dead process leaves closing on its
    // port inherit the flag from its listener, and the restart's bind must get past them.
    // (Port 0 still gets a port nothing else holds: the kernel picks a free one first.)
    socket.set_reuse_address(true)?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(socket)
}

/// The port a reserved socket holds.
pub fn port_of(socket: &Socket) -> std::io::Result<u16> {
    socket
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("not an IP socket"))
}

/// The URL of database `name` on a PostgreSQL server: the server URL's database name
/// (default `bazaar`) suffixed with the name.
pub fn postgres_database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut url =
        url::Url::parse(server).with_context(|| format!("--database `{server}` is not a URL"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!(
            "--database must be a postgres:// URL, got `{}`",
            url.scheme()
        );
    }
    let base = url.path().trim_start_matches('/');
    let base = if base.is_empty() { "bazaar" } else { base };
    let db = format!("{base}_{name}");
    // PostgreSQL cuts a longer name to its first 63 bytes without a word: two services'
    // databases (or two replicas' copies) would become one. The path is percent-encoded,
    // each `%XX` one byte of the name.
    let bytes = db.len() - 2 * db.matches('%').count();
    const KEPT: usize = platform::db::POSTGRES_NAME_BYTES;
    if bytes > KEPT {
        bail!(
            "--database names `{base}`, and the shop's databases are named after it \
             (`{base}_{name}`, {bytes} bytes): PostgreSQL keeps {KEPT} bytes of a \
             name, so shorten it by {} bytes at least",
            bytes - KEPT
        );
    }
    url.set_path(&db);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::REGISTRY;

    fn env<'a>(spec: &'a Spec, key: &str) -> Option<&'a str> {
        spec.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn postgres_urls_get_one_database_per_service() {
        assert_eq!(
            postgres_database("postgres://root@127.0.0.1:5432", "catalog").unwrap(),
            "postgres://root@127.0.0.1:5432/bazaar_catalog"
        );
        assert_eq!(
            postgres_database("postgres://u:p@db/shop?sslmode=disable", "identity").unwrap(),
            "postgres://u:p@db/shop_identity?sslmode=disable"
        );
        assert!(postgres_database("mysql://x", "catalog").is_err());
        // PostgreSQL cuts names at 63 bytes: cart's and catalog's would be one database.
        let server = |base: &str| format!("postgres://u@db/{base}");
        let at_most = "a".repeat(63 - "_catalog".len());
        assert!(postgres_database(&server(&at_most), "catalog").is_ok());
        let said = postgres_database(&server(&format!("{at_most}a")), "catalog")
            .unwrap_err()
            .to_string();
        assert!(
            said.contains("64 bytes") && said.contains("by 1 bytes"),
            "{said}"
        );
        // Percent-encoded, a byte of the name is three of the URL.
        let accented = "é".repeat(27); // 54 bytes, 162 in the URL
        assert!(postgres_database(&server(&accented), "catalog").is_ok());
        // The planner checks the longest name any replica could get, at once.
        let base = "b".repeat(50);
        let said = Planner::new(REGISTRY, &std::env::temp_dir(), Some(server(&base)), 0)
            .map(|_| ())
            .expect_err("recommendations_16b does not fit")
            .to_string();
        assert!(said.contains("recommendations_16b"), "{said}");
        assert!(Planner::new(REGISTRY, &std::env::temp_dir(), Some(server("shop")), 0).is_ok());
    }

    #[test]
    fn replicas_are_counted_per_service_and_checked() {
        let r: Replicas = "catalog=3, cart=2".parse().unwrap();
        assert_eq!((r.of("catalog"), r.of("cart"), r.of("orders")), (3, 2, 1));
        for (bad, why) in [
            ("catalog", "not SERVICE=N"),
            ("shop=2", "no service called `shop`"),
            ("catalog=x", "not a number"),
            ("catalog=0", "1 to 16"),
            ("catalog=17", "1 to 16"),
            ("catalog=2,cart=2,catalog=3", "catalog is named twice"),
        ] {
            let err = bad.parse::<Replicas>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!("".parse::<Replicas>().unwrap(), Replicas::default());
    }

    #[test]
    fn replicas_share_the_database_but_read_models_keep_their_own_copy() {
        let dir = std::env::temp_dir();
        let planner = Planner::new(REGISTRY, &dir, None, 0).unwrap();
        let cart = REGISTRY.get("cart").unwrap();
        let (one, _s1) = planner.first(cart, 1).unwrap();
        let (two, _s2) = planner.first(cart, 2).unwrap();
        assert_ne!(one.port, two.port);
        assert_eq!(
            env(&one, "BAZAAR_DATABASE_URL"),
            env(&two, "BAZAAR_DATABASE_URL")
        );
        assert_eq!(env(&two, "BAZAAR_INSTANCE"), Some("cart-2"));
        assert_eq!(env(&one, "BAZAAR_INDEX_DIR"), None);

        let search = REGISTRY.get("search").unwrap();
        let (first, _a) = planner.first(search, 1).unwrap();
        let (second, _b) = planner.first(search, 2).unwrap();
        let (next, _c) = planner.successor(&first).unwrap();
        let dbs =
            [&first, &second, &next].map(|s| env(s, "BAZAAR_DATABASE_URL").unwrap().to_owned());
        assert!(dbs[0].ends_with("/search.db"), "{dbs:?}");
        assert!(dbs[1].ends_with("/search-2a.db"), "{dbs:?}");
        assert!(
            dbs[2].ends_with("/search-1b.db"),
            "a successor takes the other slot: {dbs:?}"
        );
        let (after, _d) = planner.successor(&next).unwrap();
        assert_eq!(
            env(&after, "BAZAAR_DATABASE_URL"),
            Some(dbs[0].as_str()),
            "and back"
        );
        // Each new copy is told the copy it replaces, to keep what an admin decided there.
        assert_eq!(env(&first, "BAZAAR_PREDECESSOR_DATABASE"), None);
        assert_eq!(
            env(&next, "BAZAAR_PREDECESSOR_DATABASE"),
            Some(dbs[0].as_str())
        );
        assert_eq!(
            env(&after, "BAZAAR_PREDECESSOR_DATABASE"),
            Some(dbs[2].as_str())
        );
        let (cart_next, _e) = planner.successor(&one).unwrap();
        assert_eq!(env(&cart_next, "BAZAAR_PREDECESSOR_DATABASE"), None);
        assert_ne!(
            env(&first, "BAZAAR_INDEX_DIR"),
            env(&next, "BAZAAR_INDEX_DIR")
        );
    }

    #[test]
    fn each_process_is_held_to_its_share_of_the_cpus_and_its_successor_to_the_same() {
        let planner = Planner::new(REGISTRY, &std::env::temp_dir(), None, 0).unwrap();
        let cart = REGISTRY.get("cart").unwrap();
        let (one, _a) = planner.first(cart, 1).unwrap();
        let (two, _b) = planner.first(cart, 2).unwrap();
        let (next, _c) = planner.successor(&one).unwrap();
        assert_eq!(next.cpus, one.cpus);
        assert_eq!(env(&next, "BAZAAR_CPUS"), env(&one, "BAZAAR_CPUS"));
        for spec in [&one, &two] {
            assert_eq!(
                env(spec, "BAZAAR_CPUS").map(str::to_owned),
                spec.cpus.as_ref().map(ToString::to_string)
            );
        }
        // Placed only where there are CPUs to choose from and the operator chose none.
        if planner.placement.is_some() {
            let (one, two) = (one.cpus.unwrap(), two.cpus.unwrap());
            assert_ne!(one, two, "replicas side by side run on different CPUs");
        }
    }

    #[test]
    fn processes_sharing_one_postgresql_server_hold_small_pools() {
        let dir = std::env::temp_dir();
        let cart = REGISTRY.get("cart").unwrap();
        let shared = Planner::new(REGISTRY, &dir, Some("postgres://h/x".into()), 0).unwrap();
        let (spec, _s) = shared.first(cart, 1).unwrap();
        assert_eq!(
            env(&spec, "BAZAAR_DATABASE_URL"),
            Some("postgres://h/x_cart")
        );
        assert_eq!(env(&spec, "BAZAAR_DATABASE_POOL"), Some("4"));
        let own = Planner::new(REGISTRY, &dir, None, 0).unwrap();
        let (spec, _s) = own.first(cart, 1).unwrap();
        assert_eq!(
            env(&spec, "BAZAAR_DATABASE_POOL"),
            None,
            "SQLite: its own file"
        );
    }

    #[test]
    fn every_replica_gets_a_port_of_its_own_held_from_planning() {
        let dir = std::env::temp_dir();
        let planner = Planner::new(REGISTRY, &dir, None, 0).unwrap();
        let held: Vec<(Spec, Sockets)> = REGISTRY
            .entries()
            .iter()
            .flat_map(|e| (1..=2).map(move |r| (e, r)))
            .map(|(e, r)| planner.first(e, r).unwrap())
            .collect();
        // Where each answers alone: the gateways on ports of their own beside the shop's,
        // which they share.
        let mut ports: Vec<u16> = held
            .iter()
            .map(|(s, _)| s.own_port.unwrap_or(s.port))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), held.len(), "no two replicas share a port");
        for (spec, sockets) in &held {
            assert_eq!(port_of(&sockets.service).unwrap(), spec.port);
            assert_eq!(
                sockets.own.as_ref().map(|s| port_of(s).unwrap()),
                spec.own_port
            );
            assert_eq!(spec.own_port.is_some(), spec.name() == GATEWAY);
            assert!(
                spec.url()
                    .ends_with(&format!(":{}", ports_of(spec).last().unwrap()))
            );
            // Until its service listens, a caller is refused at once, not left waiting.
            for port in ports_of(spec) {
                assert!(
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                    "{}'s port {port} refuses connections before its service listens",
                    spec.label()
                );
            }
        }
        // And none the shop's, which the gateways share.
        let gateway = held.iter().find(|(s, _)| s.name() == GATEWAY).unwrap();
        ports.push(gateway.0.port);
        // Held from planning on: whatever else asks the kernel for a free port is never
        // given one of these.
        let others: Vec<std::net::TcpListener> = (0..200)
            .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap())
            .collect();
        for other in &others {
            let port = other.local_addr().unwrap().port();
            assert!(!ports.contains(&port), "port {port} given out twice");
        }
    }

    /// A replica's ports: its service's, then its own if it has one.
    fn ports_of(spec: &Spec) -> Vec<u16> {
        std::iter::once(spec.port).chain(spec.own_port).collect()
    }

    #[test]
    fn the_gateways_successor_shares_its_port_and_no_other_shop_can() {
        let planner = Planner::new(REGISTRY, &std::env::temp_dir(), None, 0).unwrap();
        let gateway = REGISTRY.get(GATEWAY).unwrap();
        let (old, sockets) = planner.first(gateway, 1).unwrap();
        sockets.service.listen(16).unwrap();
        let (new, _shared) = planner
            .successor(&old)
            .expect("the successor binds beside it");
        assert_eq!(new.port, old.port);
        assert_ne!(
            new.own_port, old.own_port,
            "a port of its own, not its predecessor's"
        );
        let other = Planner::new(REGISTRY, &std::env::temp_dir(), None, old.port).unwrap();
        assert!(
            other.first(gateway, 1).is_err(),
            "another shop is refused the port"
        );
    }

    #[test]
    fn a_gateway_restarted_after_a_crash_still_shares_its_port_with_a_successor() {
        let planner = Planner::new(REGISTRY, &std::env::temp_dir(), None, 0).unwrap();
        let gateway = REGISTRY.get(GATEWAY).unwrap();
        let (old, sockets) = planner.first(gateway, 1).unwrap();
        // The first gateway dies; the keeper binds its ports again for the next.
        drop(sockets);
        let again = Sockets::again(&old, None).expect("the ports again");
        again.service.listen(16).unwrap();
        assert_eq!(
            again.own.as_ref().map(|s| port_of(s).unwrap()),
            old.own_port,
            "its own port too"
        );
        let (new, _shared) = planner
            .successor(&old)
            .expect("a rolling restart's successor binds beside the restarted gateway");
        assert_eq!(new.port, old.port);
        // Any other service's port is its own again, not shared.
        let (cart, socket) = planner.first(REGISTRY.get("cart").unwrap(), 1).unwrap();
        drop(socket);
        let again = reserve_again(&cart).unwrap();
        again.listen(16).unwrap();
        assert!(bind(cart.port, true).is_err(), "cart's port is not shared");
    }

    /// Gateways share the shop's one address, also when the kernel picked it.
    #[test]
    fn every_gateway_listens_on_the_shops_port() {
        let planner = Planner::new(REGISTRY, &std::env::temp_dir(), None, 0).unwrap();
        let gateway = REGISTRY.get(GATEWAY).unwrap();
        let (one, first) = planner.first(gateway, 1).unwrap();
        first.service.listen(16).unwrap();
        let (two, second) = planner.first(gateway, 2).unwrap();
        second.service.listen(16).unwrap();
        assert_ne!(one.port, 0);
        assert_eq!(two.port, one.port);
    }

    #[test]
    fn a_port_in_use_is_refused_with_the_reason() {
        let server = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = server.local_addr().unwrap().port();
        let planner = Planner::new(REGISTRY, &std::env::temp_dir(), None, port).unwrap();
        let err = planner
            .first(REGISTRY.get(GATEWAY).unwrap(), 1)
            .unwrap_err();
        assert!(format!("{err:#}").contains("in use"), "{err:#}");
    }

    #[test]
    fn a_restart_gets_its_port_back_past_the_connections_the_last_process_left() {
        let socket = reserve(0).unwrap();
        let port = port_of(&socket).unwrap();
        // What the service does with it: listen and serve a connection.
        socket.listen(16).unwrap();
        let listener: std::net::TcpListener = socket.into();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (served, _) = listener.accept().unwrap();
        // The process dies: its listener is gone, the connection it served lingers.
        drop(listener);
        let again = reserve(port).expect("the port again for the restarted process");
        assert_eq!(port_of(&again).unwrap(), port);
        drop((served, client));
    }
}
