//! The auth pieces and the store together, the way the HTTP login and
//! Socket.IO handshake will use them: register, log in, present the token,
//! log out, throttle wrong passwords.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime};

use locus::auth::{
    token, validate, AuthError, LoginThrottle, PasswordConfig, PasswordHasher, ThrottleConfig,
};
use locus::store::{Store, StoreConfig};

struct Server {
    _dir: tempfile::TempDir,
    store: Store,
    passwords: PasswordHasher,
    throttle: LoginThrottle,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("locus.db"), StoreConfig::default())
        .await
        .unwrap();
    let passwords = PasswordHasher::new(&PasswordConfig::insecure_fast_for_tests())
        .await
        .unwrap();
    let throttle = LoginThrottle::new(ThrottleConfig::default());
    Server {
        _dir: dir,
        store,
        passwords,
        throttle,
    }
}

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl Server {
    async fn register(&self, username: &str, password: &str) -> Result<(), String> {
        validate::credentials(username, password).map_err(|e| e.to_string())?;
        let phc = self
            .passwords
            .hash(password)
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .create_account(username, &phc)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Returns the token, or the error text of the failure.
    async fn login(
        &self,
        username: &str,
        password: &str,
        now: Instant,
    ) -> Result<String, AuthError> {
        self.throttle.check_ip(IP, now)?;
        self.throttle.check_account(username, now)?;
        let account = self.store.account_by_username(username).await.unwrap();
        let ok = self
            .passwords
            .verify(password, account.as_ref().map(|a| a.password_phc.as_str()))
            .await?;
        match account.filter(|_| ok) {
            Some(account) => {
                self.throttle.record_success(username);
                let issued = token::issue(SystemTime::now(), Duration::from_secs(3600));
                self.store
                    .create_session(account.id, issued.hash, issued.expires_at)
                    .await
                    .unwrap();
                Ok(issued.token)
            }
            None => {
                self.throttle.record_failure(username, now);
                Err(AuthError::InvalidPassword("invalid credentials"))
            }
        }
    }
}

#[tokio::test]
async fn register_login_present_token_logout() {
    let s = server().await;
    s.register("alice", "correct horse").await.unwrap();
    assert_eq!(
        s.register("ALICE", "another pass").await.unwrap_err(),
        "username is taken"
    );
    assert!(s.register("a", "correct horse").await.is_err());
    assert!(s.register("bob", "short").await.is_err());

    let now = Instant::now();
    let bearer = s.login("alice", "correct horse", now).await.unwrap();
    let header = format!("Bearer {bearer}");
    let hash = token::hash_presented(token::bearer(&header).unwrap()).unwrap();
    let account = s
        .store
        .session_account(hash, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.username, "alice");

    // Logout invalidates the token server-side.
    assert_eq!(
        s.store.delete_session(hash).await.unwrap(),
        Some(account.id)
    );
    assert!(s
        .store
        .session_account(hash, SystemTime::now())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_alike_and_lock_out() {
    let s = server().await;
    s.register("alice", "correct horse").await.unwrap();
    let now = Instant::now();
    let wrong = s.login("alice", "wrong horse", now).await.unwrap_err();
    let unknown = s.login("nobody", "wrong horse", now).await.unwrap_err();
    assert_eq!(wrong, unknown);

    for _ in 0..4 {
        let _ = s.login("alice", "wrong horse", now).await;
    }
    // Fifth failure reached: locked, even with the right password.
    let err = s.login("alice", "correct horse", now).await.unwrap_err();
    assert!(matches!(err, AuthError::RateLimited { .. }), "{err:?}");
    // After the lockout the right password works and clears the count.
    let later = now + Duration::from_secs(2);
    s.login("alice", "correct horse", later).await.unwrap();
    s.throttle.check_account("alice", later).unwrap();
}

#[tokio::test]
async fn garbage_tokens_never_reach_the_store() {
    for presented in ["", "null", "Bearer", &"A".repeat(44), "../../etc/passwd"] {
        assert_eq!(token::hash_presented(presented), None, "{presented}");
    }
}
