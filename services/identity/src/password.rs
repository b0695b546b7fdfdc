//! Password hashing with argon2id at OWASP's parameters, off the async runtime, a few
//! at a time.
//!
//! Each hash takes 19 MiB and a core for tens of milliseconds, so hashes run on a pool of
//! as many threads as there are cores: more at once would only share the cores and add
//! to the memory. The threads are the pool's own, not the runtime's blocking threads: the
//! allocator keeps a freed hash's memory per thread, so a hash on each of a hundred
//! blocking threads would leave a hundred times 19 MiB resident. Even on a few threads the
//! allocator may keep each freed 19 MiB, so each thread hashes in memory of its own,
//! allocated once. Callers wait their turn for a bounded time, then are answered 503 with
//! `Retry-After`.

use crate::error::Error;
use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{
        Error as PhcError,
        phc::{Output, ParamsString, Salt},
    },
};
use std::{
    borrow::Cow,
    cell::RefCell,
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};
use tokio::sync::{Semaphore, oneshot};

/// Work for one of the pool's threads.
type Job = Box<dyn FnOnce() + Send>;

/// OWASP's first recommended argon2id configuration: 19 MiB, two passes, one lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Hashes and checks passwords. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    /// A hash of nothing anyone knows, checked against when the account does not exist so
    /// that an unknown email takes as long to refuse as a wrong password.
    dummy: Arc<str>,
    /// One permit per hash that may run at once: one per thread of the pool.
    slots: Arc<Semaphore>,
    /// The pool's queue; its threads end when the last hasher is dropped.
    jobs: mpsc::Sender<Job>,
    /// How long a caller waits for a slot.
    queue_timeout: Duration,
}

impl Hasher {
    /// A hasher with the standard parameters running up to `slots` hashes at once, each
    /// caller waiting at most `queue_timeout` for its turn (computes one hash, for the
    /// dummy).
    pub async fn new(slots: usize, queue_timeout: Duration) -> Result<Self, Error> {
        let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
            .map_err(argon2::password_hash::Error::from)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let slots = slots.max(1);
        let mut hasher = Self {
            argon2,
            dummy: Arc::from(""),
            slots: Arc::new(Semaphore::new(slots)),
            jobs: start_pool(slots)?,
            queue_timeout,
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let unguessable = crate::keys::b64url(&secret);
        hasher.dummy = Arc::from(hasher.hash(unguessable).await?);
        Ok(hasher)
    }

    /// The slots a hasher here has: one per core the process may use, and no more than
    /// its memory limit (cgroup v2's `memory.max`, a container's limit) holds hashes in
    /// progress beside the rest of the process. A pod without a CPU limit sees all of its
    /// node's cores: 16 hashes at once would need some 300 MiB past a 256 MiB limit.
    pub fn slots_here() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|max| max.trim().parse::<u64>().ok());
        slots_within(cores, limit)
    }

    /// Runs `work` in a free slot, once one is free within the queue timeout.
    async fn in_slot<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Error::Busy)?
            .map_err(|_| Error::Busy)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
            drop(permit);
        });
        self.jobs.send(job).map_err(|_| Error::PoolStopped)?;
        result.await.map_err(|_| Error::PoolStopped)?
    }

    /// The PHC string of `password` as it was typed, with a fresh salt. As typed, not
    /// normalised: every version of identity, older and newer, verifies the same hash (one
    /// that hashed a normal form refused, after a rollback or beside older replicas, the
    /// password as typed); [`Hasher::verify`] tries the other forms.
    pub async fn hash(&self, password: String) -> Result<String, Error> {
        let argon2 = self.argon2.clone();
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)?;
        self.in_slot(move || {
            let mut out = [0u8; 32];
            with_memory(argon2.params().block_count(), |blocks| {
                argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
            })
            .map_err(bad)?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(argon2.params()).map_err(bad)?,
                salt: Some(Salt::new(&salt).map_err(bad)?),
                hash: Some(Output::new(&out).map_err(bad)?),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Whether `password` matches `phc`; with no `phc` (no such account) it does the same
    /// work against the dummy and answers `false`. The password is tried as typed, then in
    /// each of its other Unicode forms ([`forms`]): the same password typed on another
    /// system or keyboard (an accent composed or combined, full-width letters) matches the
    /// hash of the form it was registered in. How many forms are tried depends on the
    /// password alone, so the work is the same whether the account exists or not.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Error> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        self.in_slot(move || {
            for form in forms(&password) {
                if matches(&form, &phc)? {
                    return Ok(known);
                }
            }
            Ok(false)
        })
        .await
    }
}

/// `password` as typed, then each of its Unicode normal forms that differs from those
/// before it: composed (NFC), decomposed (NFD) and compatibility-composed (NFKC, as NIST SP
/// 800-63B §5.1.1.2 asks; full-width letters as letters). A password of ASCII alone is
/// one form.
fn forms(password: &str) -> Vec<Cow<'_, str>> {
    use unicode_normalization::UnicodeNormalization;
    let mut forms = vec![Cow::Borrowed(password)];
    if password.is_ascii() {
        return forms;
    }
    for form in [
        password.nfc().collect::<String>(),
        password.nfd().collect(),
        password.nfkc().collect(),
    ] {
        if !forms.iter().any(|f| *f == form) {
            forms.push(Cow::Owned(form));
        }
    }
    forms
}

/// Whether `password` hashes to the PHC string `phc` (with the parameters it names).
fn matches(password: &str, phc: &str) -> Result<bool, Error> {
    let hash = PasswordHash::new(phc).map_err(bad)?;
    let params = Params::try_from(&hash)?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(bad)?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(bad)?
        .unwrap_or_default();
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Err(bad(PhcError::EncodingInvalid));
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..expected.len())
        .ok_or(bad(PhcError::OutputSize))?;
    with_memory(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password.as_bytes(), &salt, out, blocks)
    })
    .map_err(bad)?;
    // `Output` compares in constant time.
    Ok(Output::new(out).map_err(bad)? == expected)
}

/// A stored hash or its parameters that argon2 cannot use.
fn bad(e: impl Into<PhcError>) -> Error {
    Error::PasswordHash(e.into())
}

thread_local! {
    /// This thread's argon2 memory, kept between hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` blocks of this thread's own memory.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() != blocks {
            *memory = vec![Block::default(); blocks];
        }
        f(&mut memory)
    })
}

/// Starts `threads` threads running the jobs sent to the returned queue.
fn start_pool(threads: usize) -> Result<mpsc::Sender<Job>, Error> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..threads {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job must not take the thread with it.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            })
            .map_err(|_| Error::PoolStopped)?;
    }
    Ok(tx)
}

/// What the rest of identity needs beside its hashes in progress (about 30 MB when idle).
const RESERVED_BYTES: u64 = 64 << 20;

/// One slot per core, as many as `memory_limit` (bytes) holds hashes of [`M_COST_KIB`]
/// beside [`RESERVED_BYTES`]; at least one.
fn slots_within(cores: usize, memory_limit: Option<u64>) -> usize {
    let by_memory = memory_limit.map_or(usize::MAX, |limit| {
        let per_hash = u64::from(M_COST_KIB) * 1024;
        usize::try_from(limit.saturating_sub(RESERVED_BYTES) / per_hash).unwrap_or(usize::MAX)
    });
    cores.min(by_memory).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_cores_within_the_memory_limit() {
        let mib = 1 << 20;
        // No limit (or none known): one per core.
        assert_eq!(slots_within(16, None), 16);
        // The manifests' 256 MiB: (256 - 64) / 19 = 10 hashes at once, not 16.
        assert_eq!(slots_within(16, Some(256 * mib)), 10);
        assert_eq!(slots_within(2, Some(256 * mib)), 2);
        // A limit too small for even one hash still has a slot (identity must sign in).
        assert_eq!(slots_within(4, Some(32 * mib)), 1);
    }

    #[tokio::test]
    async fn hashes_with_owasp_parameters_and_verifies() {
        let h = Hasher::new(2, Duration::from_secs(10)).await.unwrap();
        let phc = h.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            h.verify("correct horse battery".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("wrong horse battery".into(), Some(phc))
                .await
                .unwrap()
        );
        assert!(!h.verify("anything".into(), None).await.unwrap());
    }

    /// One password however its characters are encoded: "é" as one code point or as "e"
    /// and a combining accent, full-width letters as the letters, whichever of them it was
    /// registered in. The hash is of the password as typed, as every version of identity
    /// makes and verifies it (hashing a normal form broke sign-in after a rollback and
    /// beside older replicas: the upgrade review).
    #[tokio::test]
    async fn a_password_is_one_whichever_unicode_form_it_is_typed_in() {
        let h = Hasher::new(2, Duration::from_secs(10)).await.unwrap();
        let composed = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e 42";
        let combined = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e 42";
        for registered in [composed, combined] {
            let phc = h.hash(registered.into()).await.unwrap();
            assert!(matches(registered, &phc).unwrap(), "hashed as typed");
            for typed in [composed, combined] {
                assert!(h.verify(typed.into(), Some(phc.clone())).await.unwrap());
            }
            assert!(
                !h.verify("cafe creme brulee 42".into(), Some(phc))
                    .await
                    .unwrap()
            );
        }
        let full_width = "\u{ff21}\u{ff24}\u{ff21} plays chess";
        let phc = h.hash("ADA plays chess".into()).await.unwrap();
        assert!(h.verify(full_width.into(), Some(phc)).await.unwrap());
        assert_eq!(forms("plain ascii").len(), 1, "one hash for ASCII");
        assert_eq!(forms(full_width).len(), 2, "as typed, and NFKC");
    }

    #[tokio::test]
    async fn hashes_run_a_slot_at_a_time_and_callers_give_up_after_the_queue_timeout() {
        let h = Hasher::new(1, Duration::from_millis(1)).await.unwrap();
        let busy = h.slots.clone().acquire_owned().await.unwrap();
        let err = h.verify("anything".into(), None).await.unwrap_err();
        assert!(matches!(err, Error::Busy), "{err:?}");
        drop(busy);
        assert!(!h.verify("anything".into(), None).await.unwrap());
    }
}
