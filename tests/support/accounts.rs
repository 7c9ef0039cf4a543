//! Accounts over the HTTP API (`/api/register`, `/api/login`), the way a
//! player makes them: for the in-process [`super::server::LocusServer`] and
//! the child-process [`super::process::LocusProcess`] alike. Accounts made
//! straight in the database (bots) are in [`super::db`].

use serde_json::{json, Value};

/// The password every test account gets.
pub const PASSWORD: &str = "password1";

/// Registers `username` at `base` (`http://ADDR`); expects 201 and returns
/// the account id.
pub async fn register(http: &reqwest::Client, base: &str, username: &str, password: &str) -> u64 {
    let res = http
        .post(format!("{base}/api/register"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "register {username}");
    res.json::<Value>().await.unwrap()["id"].as_u64().unwrap()
}

/// Logs in at `base`; expects 200 and returns the token.
pub async fn login(http: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let res = http
        .post(format!("{base}/api/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login {username}");
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Registers `username` with [`PASSWORD`] and logs in; returns (account
/// id, token).
pub async fn account(http: &reqwest::Client, base: &str, username: &str) -> (u64, String) {
    let id = register(http, base, username, PASSWORD).await;
    (id, login(http, base, username, PASSWORD).await)
}
