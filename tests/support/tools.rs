//! The outside tools and services some suites need, and the one rule for
//! when they are missing: outside CI the test prints `SKIPPED: ...` and
//! passes; in CI (`CI=true`) it fails. `bash tests/run.sh` installs the npm
//! packages and the Python virtualenv and sets the service URLs. Runs node
//! and python scripts to completion; owns no server.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `tests/` folder of the checkout.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Whether CI is running us: missing external tools are then failures, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false" && v != "0")
        .unwrap_or(false)
}

/// Returns false (after printing why) when the npm packages under `tests/`
/// are not installed; panics instead in CI, where they must be.
pub fn node_modules_ready() -> bool {
    let ok = tests_dir().join("node_modules/socket.io-client").is_dir()
        && Command::new("node").arg("--version").output().is_ok();
    if !ok {
        missing("node or tests/node_modules missing: run `bash tests/run.sh` (it installs them)");
    }
    ok
}

/// The Python interpreter of the test virtualenv, when installed; panics in
/// CI when it is missing.
pub fn python() -> Option<PathBuf> {
    let py = tests_dir().join(".venv/bin/python");
    if py.is_file() {
        return Some(py);
    }
    missing("tests/.venv missing: run `bash tests/run.sh` (it builds it)");
    None
}

/// Says why a suite is skipped outside CI; panics in CI.
pub fn missing(msg: &str) {
    assert!(!in_ci(), "{msg}");
    eprintln!("SKIPPED: {msg}");
}

/// A URL from environment variable `var`, when set and not empty;
/// otherwise `None` after [`missing`] said what to run.
fn service_url(var: &str, service: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing(&format!(
                "{var} not set (no {service} to test against): run `bash tests/run.sh`"
            ));
            None
        }
    }
}

/// The PostgreSQL URL of `LOCUS_TEST_POSTGRES_URL` (a database the tests
/// may fill and empty), or `None` (skipped outside CI, a panic in CI).
pub fn postgres_url() -> Option<String> {
    service_url("LOCUS_TEST_POSTGRES_URL", "PostgreSQL")
}

/// The Redis URL of `LOCUS_TEST_REDIS_URL`, or `None` (skipped outside
/// CI, a panic in CI).
pub fn redis_url() -> Option<String> {
    service_url("LOCUS_TEST_REDIS_URL", "Redis")
}

/// Runs `node tests/js/<script> <args..>` to completion, panicking with its
/// output when it exits non-zero. Returns its stdout.
pub async fn run_node(script: &str, args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(tests_dir())
        .arg(format!("js/{script}"))
        .args(args)
        .kill_on_drop(true);
    finish(cmd, script).await
}

/// Runs `node tests/<path> <args..>` like [`run_node`] (for scripts outside `tests/js/`).
pub async fn run_node_file(path: &str, args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(tests_dir())
        .arg(path)
        .args(args)
        .kill_on_drop(true);
    finish(cmd, path).await
}

/// Runs `tests/.venv/bin/python tests/py/<script> <args..>` like [`run_node`].
pub async fn run_python(python: &Path, script: &str, args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new(python);
    cmd.current_dir(tests_dir())
        .arg(format!("py/{script}"))
        .args(args)
        .kill_on_drop(true);
    finish(cmd, script).await
}

async fn finish(mut cmd: tokio::process::Command, name: &str) -> String {
    let run = cmd.output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within 300 s"))
        .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}
