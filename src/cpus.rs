//! Which CPUs a process runs on, `BAZAAR_CPUS`, and how many worker threads it runs,
//! `BAZAAR_WORKERS`.
//!
//! A process of the shop is one async runtime thread (or a few) plus one thread per SQLite
//! connection, and every SQL statement is a hand-off between the two. On a small machine
//! running a dozen such processes, each hand-off that crosses to another core costs an
//! inter-processor wake-up; on the same core it is a cheap switch. Measured on 2 cores
//! (docs/benchmarks.md, *Each process on its own CPUs*): with every process held to one core,
//! taken in turn, the shop served 1.7× the checkouts and 1.25× the product reads, and
//! spent about a third less CPU per checkout. So `bazaar up` gives each process its share of the CPUs it may
//! use ([`Placement`]), and each process holds itself to what it is given ([`apply`]).

use nix::{sched::CpuSet, unistd::Pid};
use std::{fmt, str::FromStr, sync::Mutex};

/// The variable: a CPU list as `taskset -c` takes it (`0`, `0-3`, `0,2,4-7`), or `all`.
pub const VAR: &str = "BAZAAR_CPUS";

/// CPUs by number, ascending, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus(Vec<usize>);

impl Cpus {
    fn set(&self) -> Result<CpuSet, String> {
        let mut set = CpuSet::new();
        for &cpu in &self.0 {
            set.set(cpu).map_err(|_| {
                format!(
                    "CPU {cpu} is beyond the {} this system can name",
                    CpuSet::count()
                )
            })?;
        }
        Ok(set)
    }
}

impl FromStr for Cpus {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let mut cpus = Vec::new();
        for part in raw.split(',').map(str::trim) {
            let number = |n: &str| {
                let n = n
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("`{part}` is not a CPU number or a range like `0-3`"))?;
                // Checked before a range is spelt out: `0-1000000000` would otherwise take
                // gigabytes to be refused, and `0-18446744073709551615` overflow.
                if n >= CpuSet::count() {
                    return Err(format!(
                        "CPU {n} is beyond the {} this system can name",
                        CpuSet::count()
                    ));
                }
                Ok(n)
            };
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(part)?, number(part)?),
            };
            if first > last {
                return Err(format!("`{part}` is a range that runs backwards"));
            }
            cpus.extend(first..=last);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Self(cpus))
    }
}

/// The compact form: `0-3,6`.
impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.as_slice();
        let mut separator = "";
        while let Some(&first) = rest.first() {
            // The run of consecutive numbers that starts here.
            let run = rest
                .iter()
                .enumerate()
                .take_while(|&(i, &c)| c == first + i)
                .count();
            let last = rest[run - 1];
            if first == last {
                write!(f, "{separator}{first}")?;
            } else {
                write!(f, "{separator}{first}-{last}")?;
            }
            separator = ",";
            rest = &rest[run..];
        }
        Ok(())
    }
}

/// `BAZAAR_WORKERS`: the worker threads of this process (by default, one per core it may
/// use). Every process of the shop reads it, so `BAZAAR_WORKERS=1 bazaar up` runs each
/// service on one thread.
pub fn worker_threads() -> Result<Option<usize>, String> {
    worker_threads_of(std::env::var("BAZAAR_WORKERS").ok().as_deref())
}

/// The most worker threads a process may be asked for: far past any machine's cores (a
/// thread each costs its stack; 100,000 of them exhausted memory before the first served).
pub const MAX_WORKERS: usize = 1024;

fn worker_threads_of(v: Option<&str>) -> Result<Option<usize>, String> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "BAZAAR_WORKERS must be a whole number of threads from 1 to {MAX_WORKERS}, got `{v}`"
            )),
        },
    }
}

/// What `BAZAAR_CPUS` asks of this process: `None` when it is unset, empty or `all`.
fn asked() -> Result<Option<Cpus>, String> {
    match std::env::var(VAR) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("all") => Ok(None),
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|e| format!("{VAR} must be a CPU list like `0-3,6`, or `all`: {e}")),
    }
}

/// Holds this process to the CPUs `BAZAAR_CPUS` names. Called first thing, while the
/// process has one thread: every thread it starts later inherits the set.
pub fn apply() -> Result<(), String> {
    let Some(cpus) = asked()? else {
        return Ok(());
    };
    let set = cpus.set().map_err(|e| format!("{VAR}={cpus}: {e}"))?;
    // Pid 0: the calling thread, the only one there is yet.
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| format!("{VAR}={cpus}: cannot run on these CPUs: {e}"))
}

/// The CPUs this process may run on.
fn allowed() -> Option<Cpus> {
    of(Pid::from_raw(0))
}

/// The CPUs process `pid` may run on (its main thread's, which its other threads
/// inherited), as `bazaar status` and the ops console show them; `None` when it cannot
/// be read (the process is gone).
pub fn of_process(pid: u32) -> Option<Cpus> {
    of(Pid::from_raw(i32::try_from(pid).ok()?))
}

fn of(pid: Pid) -> Option<Cpus> {
    let set = nix::sched::sched_getaffinity(pid).ok()?;
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect();
    (!cpus.is_empty()).then_some(Cpus(cpus))
}

/// Hands out shares of the CPUs the supervisor may use, in turn: the first process gets
/// the first CPUs, the next the ones after, wrapping around, so the shop's processes are
/// spread evenly and each one's threads stay together.
#[derive(Debug)]
pub struct Placement {
    cpus: Vec<usize>,
    next: Mutex<usize>,
}

impl Placement {
    /// A placement over the CPUs this process may use; `None` when the operator set
    /// `BAZAAR_CPUS` (every process then inherits that) or there is only one CPU to use.
    pub fn new() -> Option<Self> {
        if std::env::var_os(VAR).is_some() {
            return None;
        }
        Self::over(allowed()?)
    }

    fn over(cpus: Cpus) -> Option<Self> {
        (cpus.0.len() > 1).then(|| Self {
            cpus: cpus.0,
            next: Mutex::new(0),
        })
    }

    /// The next `n` CPUs for a process of `n` worker threads; `None` when it would get
    /// them all anyway.
    pub fn take(&self, n: usize) -> Option<Cpus> {
        let len = self.cpus.len();
        if n >= len {
            return None;
        }
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let mut share: Vec<usize> = (0..n).map(|i| self.cpus[(*next + i) % len]).collect();
        *next = (*next + n) % len;
        share.sort_unstable();
        Some(Cpus(share))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_a_bounded_number_of_threads() {
        assert_eq!(worker_threads_of(None), Ok(None));
        assert_eq!(worker_threads_of(Some(" ")), Ok(None));
        assert_eq!(worker_threads_of(Some("2")), Ok(Some(2)));
        assert_eq!(worker_threads_of(Some("1024")), Ok(Some(MAX_WORKERS)));
        for bad in ["0", "-1", "two", "1025", "100000"] {
            let said = worker_threads_of(Some(bad)).unwrap_err();
            assert!(said.contains("from 1 to 1024"), "{bad}: {said}");
        }
    }

    #[test]
    fn lists_read_as_taskset_writes_them() {
        let cpus: Cpus = "4-6, 0,2,5".parse().unwrap();
        assert_eq!(cpus.0, vec![0, 2, 4, 5, 6]);
        assert_eq!(cpus.to_string(), "0,2,4-6");
        assert_eq!("3".parse::<Cpus>().unwrap().to_string(), "3");
        assert_eq!("0-1".parse::<Cpus>().unwrap().to_string(), "0-1");
        let beyond = format!("beyond the {}", CpuSet::count());
        for (bad, why) in [
            ("", "not a CPU"),
            ("a", "not a CPU"),
            ("3-1", "backwards"),
            ("0-1000000000", &beyond),
            ("0-18446744073709551615", &beyond),
            ("18446744073709551616", "not a CPU"),
        ] {
            let err = bad.parse::<Cpus>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn shares_go_round_the_cpus_in_turn() {
        let two = Placement::over(Cpus(vec![0, 1])).unwrap();
        let taken: Vec<String> = (0..5).map(|_| two.take(1).unwrap().to_string()).collect();
        assert_eq!(taken, ["0", "1", "0", "1", "0"]);
        assert_eq!(
            two.take(2),
            None,
            "a process of every CPU is not held to any"
        );

        let some = Placement::over(Cpus(vec![2, 3, 5, 7])).unwrap();
        assert_eq!(some.take(2).unwrap().to_string(), "2-3");
        assert_eq!(some.take(1).unwrap().to_string(), "5");
        assert_eq!(some.take(2).unwrap().to_string(), "2,7", "wrapping around");
        assert!(Placement::over(Cpus(vec![0])).is_none());
    }

    #[test]
    fn a_cpu_list_is_a_set_the_kernel_takes() {
        let mine = allowed().expect("this process runs somewhere");
        // Holding this thread to the CPUs it already has changes nothing, and must work.
        let set = mine.set().unwrap();
        std::thread::spawn(move || {
            nix::sched::sched_setaffinity(Pid::from_raw(0), &set).unwrap();
        })
        .join()
        .unwrap();
        assert!(Cpus(vec![CpuSet::count()]).set().is_err());
    }
}
