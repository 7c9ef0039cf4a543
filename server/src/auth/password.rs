//! Password hashing with argon2id (OWASP parameters by default: 19 MiB,
//! 2 iterations, 1 lane; argon2's `Params::DEFAULT`), stored as PHC strings
//! that carry their own parameters. Hashing and verifying run on
//! `concurrency` dedicated threads behind a small semaphore, each reusing one
//! argon2 memory buffer, so a login storm costs at most `concurrency` x 19 MiB
//! and never runs argon2 on an async worker. (Allocating the 19 MiB afresh
//! per hash, on tokio's blocking pool, left glibc holding hundreds of MiB:
//! 80 logins grew RSS by about 500 MiB, measured.) Beyond
//! `queue` waiting requests, new ones get [`AuthError::Overloaded`] at once.
//! Must not touch storage or decide throttling.
//!
//! Unknown users are verified against a dummy hash made at start-up with the
//! same parameters, so "no such user" and "wrong password" take the same
//! time. Password length is checked before any hashing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::{validate, AuthError};

/// A stored password string starting with this character is no password at
/// all (bot accounts, which play only with their token): login with it never
/// succeeds. PHC strings start with `$`.
pub const UNUSABLE_PASSWORD_PREFIX: char = '!';

/// argon2id cost and the concurrency limits around it.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    /// Memory per hash, KiB. Default: 19 456 (19 MiB, OWASP minimum).
    pub memory_kib: u32,
    /// Passes over memory. Default: 2.
    pub iterations: u32,
    /// Lanes. Default: 1.
    pub parallelism: u32,
    /// Hashes computed at once (each holds `memory_kib`). Default: 2.
    pub concurrency: usize,
    /// Requests allowed to wait for a hashing slot; more are refused with
    /// [`AuthError::Overloaded`]. Default: 64.
    pub queue: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
            concurrency: 2,
            queue: 64,
        }
    }
}

impl PasswordConfig {
    /// Cheapest parameters argon2 accepts, for tests that register many
    /// users. Never use in production.
    pub fn insecure_fast_for_tests() -> PasswordConfig {
        PasswordConfig {
            memory_kib: Params::MIN_M_COST.max(8),
            iterations: 1,
            parallelism: 1,
            ..PasswordConfig::default()
        }
    }
}

/// Hashes and verifies passwords off the async workers. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    /// Shared by clones.
    inner: Arc<Inner>,
}

/// Work for the hashing threads.
type HashJob = Box<dyn FnOnce() + Send>;

/// Starts `count` threads running [`HashJob`]s; they end when the returned
/// sender is dropped.
fn spawn_hash_threads(count: usize) -> Result<mpsc::Sender<HashJob>, AuthError> {
    let (jobs, receiver) = mpsc::channel::<HashJob>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..count {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("locus-argon2-{n}"))
            .spawn(move || loop {
                let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = job else { return };
                // A panicking job drops its reply (the caller sees an error);
                // the thread lives on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            })
            .map_err(|e| AuthError::Hashing(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(jobs)
}

/// Runs `f` on the hashing threads and awaits its result.
async fn on_hash_threads<T: Send + 'static>(
    threads: &mpsc::Sender<HashJob>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    threads
        .send(Box::new(move || {
            let _ = reply.send(f());
        }))
        .map_err(|_| AuthError::Hashing("the hashing threads have stopped".to_owned()))?;
    answer
        .await
        .map_err(|_| AuthError::Hashing("a hashing job failed".to_owned()))
}

/// argon2 of `password` and `salt` into `out`, in this thread's reusable
/// memory (resized only when the parameters change).
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    thread_local! {
        static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let needed = argon2.params().block_count();
        if memory.len() != needed {
            *memory = Vec::new();
            memory.resize(needed, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..])
    })
}

/// Whether `password` matches the PHC `hash` (any argon2 variant, version
/// and parameters it names); what `PasswordVerifier::verify_password` does,
/// in reusable memory.
fn verify_with(password: &[u8], hash: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    Output::init_with(expected.len(), |out| {
        Ok(compute(&argon2, password, salt, out)?)
    })
    .is_ok_and(|computed| computed == expected)
}

struct Inner {
    /// The dedicated hashing threads' queue (bounded in practice by
    /// `permits`).
    threads: mpsc::Sender<HashJob>,
    /// argon2id with the configured parameters.
    argon2: Argon2<'static>,
    /// Hashing slots.
    permits: Arc<Semaphore>,
    /// Requests holding or waiting for a slot.
    in_flight: AtomicUsize,
    /// Most requests holding or waiting for a slot (`concurrency + queue`).
    max_in_flight: usize,
    /// PHC string of a random password, verified against for unknown users.
    dummy_phc: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", self.inner.argon2.params())
            .field("in_flight", &self.inner.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Decrements the in-flight count when a request finishes or is cancelled.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A new PHC string for `password` under `argon2` (argon2id, v19) with a
/// random salt; the same string `PasswordHasher::hash_password` makes.
fn hash_with(argon2: &Argon2<'_>, password: &[u8]) -> Result<String, AuthError> {
    let failed = |e: argon2::password_hash::Error| AuthError::Hashing(e.to_string());
    let mut salt_bytes = [0u8; 16];
    rand::fill(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(failed)?;
    let len = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| Ok(compute(argon2, password, &salt_bytes, out)?))
        .map_err(failed)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

impl PasswordHasher {
    /// Builds the hasher, its threads and its dummy hash (one hash).
    /// Fails if the parameters are out of argon2's range.
    pub async fn new(config: &PasswordConfig) -> Result<PasswordHasher, AuthError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| AuthError::Hashing(format!("invalid argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_argon2 = argon2.clone();
        let concurrency = config.concurrency.max(1);
        let threads = spawn_hash_threads(concurrency)?;
        let dummy_phc = on_hash_threads(&threads, move || {
            let mut password = [0u8; 32];
            rand::fill(&mut password);
            hash_with(&dummy_argon2, &password)
        })
        .await??;
        Ok(PasswordHasher {
            inner: Arc::new(Inner {
                threads,
                argon2,
                permits: Arc::new(Semaphore::new(concurrency)),
                in_flight: AtomicUsize::new(0),
                max_in_flight: concurrency.saturating_add(config.queue),
                dummy_phc,
            }),
        })
    }

    /// Runs `f` on the hashing threads once a hashing slot is free.
    async fn run<T, F>(&self, f: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let inner = &self.inner;
        let previous = inner.in_flight.fetch_add(1, Ordering::AcqRel);
        let _in_flight = InFlight(&inner.in_flight);
        if previous >= inner.max_in_flight {
            return Err(AuthError::Overloaded);
        }
        let permit = Arc::clone(&inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Overloaded)?;
        let task_inner = Arc::clone(inner);
        on_hash_threads(&inner.threads, move || {
            let _permit = permit;
            f(&task_inner)
        })
        .await
    }

    /// Hashes a new password into a PHC string, after checking its length
    /// (8-128 characters).
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        validate::password(password)?;
        let password = password.to_owned();
        self.run(move |inner| hash_with(&inner.argon2, password.as_bytes()))
            .await?
    }

    /// Checks `password` against the account's PHC string (one starting with
    /// [`UNUSABLE_PASSWORD_PREFIX`] never matches), or against the
    /// dummy hash when `phc` is `None` (unknown user: always `false`, in the
    /// same time). A password longer than the limit is `false` without
    /// hashing. A stored string that does not parse is `false` and logged.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, AuthError> {
        if password.len() > 4 * validate::PASSWORD_MAX
            || password.chars().count() > validate::PASSWORD_MAX
        {
            return Ok(false);
        }
        let password = password.to_owned();
        let phc = phc.map(str::to_owned);
        self.run(move |inner| {
            // Accounts without a usable password (bots) are verified against
            // the dummy hash too, so they take the same time and never match.
            let usable = phc
                .as_deref()
                .filter(|p| !p.starts_with(UNUSABLE_PASSWORD_PREFIX));
            let known = usable.is_some();
            let target = usable.unwrap_or(&inner.dummy_phc);
            match PasswordHash::new(target) {
                Ok(hash) => verify_with(password.as_bytes(), &hash) && known,
                Err(err) => {
                    tracing::error!(error = %err, "stored password hash does not parse");
                    false
                }
            }
        })
        .await
    }

    /// Whether a stored hash uses other parameters than the configured ones
    /// (so a successful login may re-hash and store the password).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        if hash.algorithm != Algorithm::Argon2id.ident() {
            return true;
        }
        match Params::try_from(&hash) {
            Ok(params) => {
                let want = self.inner.argon2.params();
                params.m_cost() != want.m_cost()
                    || params.t_cost() != want.t_cost()
                    || params.p_cost() != want.p_cost()
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fast() -> PasswordHasher {
        PasswordHasher::new(&PasswordConfig::insecure_fast_for_tests())
            .await
            .unwrap()
    }

    #[test]
    fn default_parameters_are_owasp() {
        let config = PasswordConfig::default();
        assert_eq!(
            (config.memory_kib, config.iterations, config.parallelism),
            (19456, 2, 1)
        );
    }

    #[tokio::test]
    async fn hash_and_verify_roundtrip() {
        let hasher = fast().await;
        let phc = hasher.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(hasher.verify("correct horse", Some(&phc)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&phc)).await.unwrap());
    }

    #[tokio::test]
    async fn phc_strings_match_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = fast().await;
        let argon2 = hasher.inner.argon2.clone();
        // Ours is verified by the crate's verifier...
        let ours = hasher.hash("correct horse").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2.verify_password(b"wrong horse!", &parsed).is_err());
        // ...and the crate's hash (other parameters too) by ours.
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify("correct horse", Some(&theirs)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&theirs)).await.unwrap());
        // Same password and salt, same parameters: the same string.
        let again = argon2
            .hash_password(b"correct horse", parsed.salt.unwrap())
            .unwrap()
            .to_string();
        assert_eq!(again, ours);
    }

    #[tokio::test]
    async fn same_password_gets_different_salts() {
        let hasher = fast().await;
        let a = hasher.hash("password1").await.unwrap();
        let b = hasher.hash("password1").await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = fast().await;
        assert!(!hasher.verify("anything at all", None).await.unwrap());
        assert!(!hasher.verify("", None).await.unwrap());
    }

    #[tokio::test]
    async fn hash_refuses_bad_lengths_before_hashing() {
        let hasher = fast().await;
        assert!(matches!(
            hasher.hash("short").await,
            Err(AuthError::InvalidPassword(_))
        ));
        assert!(matches!(
            hasher.hash(&"x".repeat(1 << 20)).await,
            Err(AuthError::InvalidPassword(_))
        ));
    }

    #[tokio::test]
    async fn overlong_password_does_not_verify() {
        let hasher = fast().await;
        let long = "y".repeat(129);
        // Even against a hash of exactly that string made elsewhere.
        let phc = hash_with(&hasher.inner.argon2, long.as_bytes()).unwrap();
        assert!(!hasher.verify(&long, Some(&phc)).await.unwrap());
    }

    #[tokio::test]
    async fn unparseable_stored_hash_does_not_verify() {
        let hasher = fast().await;
        assert!(!hasher.verify("password1", Some("not a phc")).await.unwrap());
        assert!(!hasher.verify("password1", Some("")).await.unwrap());
    }

    #[tokio::test]
    async fn verifies_hashes_made_with_other_parameters() {
        let hasher = fast().await;
        let other = PasswordHasher::new(&PasswordConfig {
            memory_kib: 16,
            iterations: 2,
            ..PasswordConfig::insecure_fast_for_tests()
        })
        .await
        .unwrap();
        let phc = other.hash("password1").await.unwrap();
        assert!(hasher.verify("password1", Some(&phc)).await.unwrap());
        assert!(hasher.needs_rehash(&phc));
        assert!(!other.needs_rehash(&phc));
        assert!(hasher.needs_rehash("garbage"));
    }

    #[tokio::test]
    async fn refuses_when_the_queue_is_full() {
        let hasher = PasswordHasher::new(&PasswordConfig {
            concurrency: 1,
            queue: 0,
            ..PasswordConfig::insecure_fast_for_tests()
        })
        .await
        .unwrap();
        // Hold the only slot.
        let permit = Arc::clone(&hasher.inner.permits)
            .acquire_owned()
            .await
            .unwrap();
        let waiting = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify("password1", None).await })
        };
        // Let the spawned request take the one allowed in-flight place.
        while hasher.inner.in_flight.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hasher.verify("password1", None).await,
            Err(AuthError::Overloaded)
        ));
        drop(permit);
        assert_eq!(waiting.await.unwrap(), Ok(false));
        assert_eq!(hasher.inner.in_flight.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn rejects_invalid_parameters() {
        let got = PasswordHasher::new(&PasswordConfig {
            memory_kib: 1,
            ..PasswordConfig::default()
        })
        .await;
        assert!(matches!(got, Err(AuthError::Hashing(_))));
    }
}
