//! Password hashing (argon2) in a bounded set of memory buffers, allocated once and reused, and
//! [`Hashing`], the async front that runs it on the blocking pool and turns callers away past a
//! queue.
//!
//! Why: argon2 needs its whole memory cost (19 MiB by default) for every hash. Allocated afresh
//! on each of tokio's blocking threads, glibc's dynamic mmap threshold soon served those blocks
//! from per-thread arenas that it never returned: bursts of log-ins held the relay's RSS at about
//! 600 MB for good. Here at most [`parallelism`] buffers exist in the whole process; whichever
//! thread hashes borrows one and gives it back, so the memory is bounded by N × cost and at most
//! N hashes run at once.
//!
//! The PHC strings are exactly those of `argon2`'s `PasswordHasher` (argon2id, v=19, 16-byte
//! salt, 32-byte output) and [`verify`] accepts whatever its `PasswordVerifier` accepts, using
//! the stored hash's own algorithm, version and parameters — except a memory cost over
//! [`MAX_MEMORY_KIB`], which is refused rather than allocated.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

/// Password hashing cost. The defaults are OWASP's argon2id minimum (19 MiB, 2 passes).
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub passes: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            passes: 2,
        }
    }
}

/// The largest memory cost (KiB) a stored hash may ask for; above it the hash matches nothing.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// How many hashes may run at once in the process (the core count): the number of memory
/// buffers and of [`Hashing`] permits.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Hashes `password` with argon2id at `cost` and a fresh 16-byte salt (PHC string format).
///
/// Blocks the thread while it waits for a buffer and hashes: call it off the async workers.
/// Panics if `cost` is invalid for argon2 or above [`MAX_MEMORY_KIB`] (its hashes would never
/// verify).
pub fn hash(password: &str, cost: HashCost) -> String {
    assert!(
        cost.memory_kib <= MAX_MEMORY_KIB,
        "a hash cost of {} KiB is above MAX_MEMORY_KIB: its hashes could never be verified",
        cost.memory_kib
    );
    let params =
        Params::new(cost.memory_kib, cost.passes, 1, None).expect("valid argon2 parameters");
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    let salt_string = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    let output = compute(
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
        password.as_bytes(),
        &salt,
        Params::DEFAULT_OUTPUT_LEN,
    )
    .expect("argon2 hashing succeeds");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("argon2 parameters encode"),
        salt: Some(salt_string.as_salt()),
        hash: Some(output),
    }
    .to_string()
}

/// Whether `password` matches the stored PHC hash `phc`, computed with the hash's own algorithm,
/// version and parameters and compared in constant time. Anything unparsable (such as the empty
/// hash of a password-less account) or asking for more than [`MAX_MEMORY_KIB`] matches nothing.
///
/// Blocks the thread while it waits for a buffer and hashes: call it off the async workers.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm),
        hash.version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    // `block_count` (1 KiB each), not `m_cost`: many lanes raise the memory above `m`.
    if params.block_count() > MAX_MEMORY_KIB as usize {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    compute(&argon2, password.as_bytes(), salt, expected.len()).is_ok_and(|out| out == expected)
}

/// Runs `argon2` into a buffer borrowed from the pool (grown first if it is too small).
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    output_len: usize,
) -> argon2::password_hash::Result<Output> {
    let mut lease = pool().lease(argon2.params().block_count());
    Output::init_with(output_len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut lease.blocks)?)
    })
}

/// The process-wide buffers, made on first use.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(parallelism()))
}

/// The most buffers that ever existed at once in this process (never above [`parallelism`]).
#[cfg(test)]
pub(crate) fn peak_buffers() -> usize {
    pool().lock().peak
}

/// At most `capacity` argon2 memory buffers, lent to one hash at a time.
struct Pool {
    /// The buffers and their counts, behind one lock: lending is rare (once per hash) and
    /// short next to the hash itself.
    state: Mutex<PoolState>,
    /// Signalled when a buffer comes back, so a caller that found all of them lent out wakes.
    returned: Condvar,
    /// How many buffers may exist: bounds both the memory (capacity × cost) and how many
    /// hashes run at once, whatever thread runs them.
    capacity: usize,
}

/// What [`Pool::state`] guards.
struct PoolState {
    /// Buffers nobody uses now, kept rather than freed so that their memory is reused instead
    /// of returned to (and later taken again from) the allocator.
    free: Vec<Vec<Block>>,
    /// How many buffers exist, free or lent (a slot is counted from the moment it is claimed,
    /// before its allocation), so that a caller knows whether it may make one or must wait.
    live: usize,
    /// The most `live` ever was: what the tests check against the capacity.
    #[cfg_attr(not(test), allow(dead_code))]
    peak: usize,
}

/// One buffer borrowed from the [`Pool`]; given back on drop, even when hashing panics.
struct Lease<'a> {
    /// Where to give the buffer back.
    pool: &'a Pool,
    /// The buffer: at least as many blocks as the hash that borrowed it needs.
    blocks: Vec<Block>,
}

impl Pool {
    fn new(capacity: usize) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                free: Vec::with_capacity(capacity),
                live: 0,
                peak: 0,
            }),
            returned: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// The state; a panic while it was held (there is no code there that panics) poisons
    /// nothing that matters, so it is used as is.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A buffer of at least `blocks` blocks: a free one (preferably large enough), else a new
    /// one if fewer than `capacity` exist, else the next one given back. A buffer too small
    /// is replaced by one of the needed size, which then stays in the pool.
    fn lease(&self, blocks: usize) -> Lease<'_> {
        let mut state = self.lock();
        let buffer = loop {
            if !state.free.is_empty() {
                let i = state
                    .free
                    .iter()
                    .position(|b| b.len() >= blocks)
                    .unwrap_or(state.free.len() - 1);
                break state.free.swap_remove(i);
            }
            if state.live < self.capacity {
                state.live += 1;
                state.peak = state.peak.max(state.live);
                break Vec::new();
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        };
        drop(state);
        // Made before allocating, so that the slot returns to the pool even if that fails.
        let mut lease = Lease {
            pool: self,
            blocks: buffer,
        };
        if lease.blocks.len() < blocks {
            // Free the old buffer first: the two never exist at once.
            lease.blocks = Vec::new();
            lease.blocks = vec![Block::default(); blocks];
        }
        lease
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let blocks = std::mem::take(&mut self.blocks);
        self.pool.lock().free.push(blocks);
        self.pool.returned.notify_one();
    }
}

/// Too many callers are already waiting to hash (or the runtime is shutting down): answer
/// `rate_limited` and let the client try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password hashes are waiting; try again later")]
pub struct Busy;

/// Runs password hashing (or anything calling [`hash`] / [`verify`]) on tokio's blocking pool,
/// at most [`parallelism`] at once, with at most `queue` callers waiting. Made once per relay.
#[derive(Debug)]
pub struct Hashing {
    /// One permit per pool buffer: a blocking thread is taken only by a caller that will find a
    /// buffer, so a log-in storm waits here, in futures, rather than in blocked threads.
    permits: Arc<Semaphore>,
    /// How many callers wait for a permit now (kept right by [`Waiting`] on every path,
    /// cancellation included), to refuse callers past `queue` at once.
    waiting: AtomicUsize,
    /// How many callers may wait for a permit; the next one gets [`Busy`]. A caller that
    /// finds a permit free does not count.
    queue: usize,
}

impl Hashing {
    /// Lets at most `queue` callers wait for one of the [`parallelism`] permits.
    pub fn new(queue: usize) -> Self {
        Hashing {
            permits: Arc::new(Semaphore::new(parallelism())),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// How many callers are waiting for a permit now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Runs `f` on tokio's blocking pool once a permit is free, or answers [`Busy`] at once if
    /// `queue` callers are already waiting. The permit is held until `f` returns, even if this
    /// future is dropped meanwhile. A panic in `f` resumes unwinding here.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _waiting = Waiting::join(&self.waiting, self.queue).ok_or(Busy)?;
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the hashing semaphore is never closed")
            }
        };
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        });
        match task.await {
            Ok(value) => Ok(value),
            Err(e) => match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                // Only a runtime shutting down cancels a blocking task.
                Err(_) => Err(Busy),
            },
        }
    }
}

/// One caller counted in [`Hashing::waiting`] until dropped (permit found, or future dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    /// Counts one more waiter, unless `queue` already wait.
    fn join(count: &'a AtomicUsize, queue: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < queue).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 1024,
        passes: 1,
    };

    /// Hashes of "password" from the argon2 reference implementation's tests (argon2id, i
    /// and d; versions 16 and 19; several lanes; keyid and data parameters).
    const REFERENCE: &[&str] = &[
        "$argon2i$v=19$m=65536,t=1,p=1$c29tZXNhbHQAAAAAAAAAAA$+r0d29hqEB0yasKr55ZgICsQGSkl0v0kgwhd+U3wyRo",
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
        "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
        "$argon2d$v=19$m=65536,t=2,p=1,keyid=8PDw8A$YzI5dFpYTmhiSFFBQUFBQUFBQUFBQQ$Jxy74cswY2mq9y+u+iJcJy8EqOp4t/C7DWDzGwGB3IM",
        "$argon2d$v=16$m=32,t=2,p=3,keyid=8PDw8A,data=Dw8PDw8P$AAAAAAAAAAA$KnH4gniiaFnDvlA1xev3yovC4cnrrI6tnHOYtmja90o",
    ];

    /// What `accounts::hash_password` wrote before this module existed.
    fn old_hash(password: &str, cost: HashCost) -> String {
        let params = Params::new(cost.memory_kib, cost.passes, 1, None).unwrap();
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    /// How `accounts::verify_password` checked a hash before this module existed.
    fn old_verify(password: &str, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    }

    #[test]
    fn a_hash_verifies_with_its_password_only() {
        let a = hash("correct horse", CHEAP);
        let b = hash("correct horse", CHEAP);
        assert_ne!(a, b, "fresh salts");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("", &a));
    }

    #[test]
    fn new_hashes_verify_the_old_way_and_old_hashes_the_new_way() {
        for cost in [CHEAP, HashCost::default()] {
            let new = hash("correct horse", cost);
            assert!(old_verify("correct horse", &new));
            assert!(!old_verify("wrong horse", &new));
            let old = old_hash("correct horse", cost);
            assert_eq!(old.len(), new.len(), "{old} / {new}");
            assert!(verify("correct horse", &old));
            assert!(!verify("wrong horse", &old));
        }
    }

    #[test]
    fn reference_hashes_verify_with_their_own_parameters() {
        for phc in REFERENCE {
            assert!(old_verify("password", phc), "{phc}");
            assert!(verify("password", phc), "{phc}");
            assert!(!verify("sassword", phc), "{phc}");
        }
    }

    #[test]
    fn unparsable_and_absurd_hashes_match_nothing() {
        assert!(!verify("", ""));
        assert!(!verify("password", "not a hash"));
        assert!(!verify(
            "password",
            "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ"
        ));
        // 1 GiB of memory, or 8 × 2^24 blocks by lanes: refused, not allocated.
        assert!(!verify(
            "password",
            "$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
        ));
        assert!(!verify(
            "password",
            "$argon2id$v=19$m=8,t=1,p=16777215$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
        ));
    }

    #[test]
    fn many_threads_hashing_at_once_never_make_more_than_n_buffers() {
        let threads: Vec<_> = (0..4 * parallelism())
            .map(|i| {
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        let phc = hash(&format!("password {i}"), CHEAP);
                        assert!(verify(&format!("password {i}"), &phc));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let peak = peak_buffers();
        assert!((1..=parallelism()).contains(&peak), "{peak} buffers");
    }

    /// Waits (a little at a time) until `done` holds.
    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test]
    async fn run_answers_busy_past_the_queue_and_cancelled_waiters_leave_it() {
        let hashing = Arc::new(Hashing::new(2));
        // Hold every permit with a call that waits to be released.
        let (releases, holders): (Vec<_>, Vec<_>) = (0..parallelism())
            .map(|i| {
                let (release, released) = tokio::sync::oneshot::channel::<()>();
                let h = hashing.clone();
                let holder = tokio::spawn(async move {
                    h.run(move || {
                        released.blocking_recv().unwrap();
                        i
                    })
                    .await
                });
                (release, holder)
            })
            .unzip();
        until("every permit is taken", || {
            hashing.permits.available_permits() == 0
        })
        .await;

        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let h = hashing.clone();
                tokio::spawn(async move { h.run(|| ()).await })
            })
            .collect();
        until("two callers wait", || hashing.waiting() == 2).await;
        assert_eq!(hashing.run(|| ()).await, Err(Busy));
        assert_eq!(hashing.waiting(), 2, "a refused caller is not counted");

        for w in waiters {
            w.abort();
            assert!(w.await.unwrap_err().is_cancelled());
        }
        assert_eq!(hashing.waiting(), 0);

        for release in releases {
            release.send(()).unwrap();
        }
        for (i, holder) in holders.into_iter().enumerate() {
            assert_eq!(holder.await.unwrap(), Ok(i));
        }
        assert_eq!(hashing.run(|| 5).await, Ok(5));
        assert_eq!(hashing.waiting(), 0);
        assert_eq!(hashing.permits.available_permits(), parallelism());
    }

    #[tokio::test]
    async fn a_panic_in_run_resumes_in_the_caller_and_frees_the_permit() {
        let hashing = Arc::new(Hashing::new(0));
        let h = hashing.clone();
        let caller = tokio::spawn(async move { h.run(|| panic!("boom")).await });
        let err = caller.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(hashing.permits.available_permits(), parallelism());
        let phc = hashing.run(|| hash("pw", CHEAP)).await.unwrap();
        assert!(hashing.run(move || verify("pw", &phc)).await.unwrap());
    }
}
