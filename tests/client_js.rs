//! The browser client's own tests, run with node's built-in test runner
//! against the same ES modules the page loads (`tests/js/*.test.mjs`):
//! packet codecs, snapshot deltas, interpolation, prediction, and our
//! Socket.IO client against the official Node server.

mod support;

#[tokio::test]
async fn browser_client_unit_tests_pass() {
    if !support::tools::node_modules_ready() {
        return;
    }
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(support::tools::tests_dir())
        .args(["--test", "--test-reporter=spec"]);
    for entry in std::fs::read_dir(support::tools::tests_dir().join("js")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".test.mjs") {
            cmd.arg(path);
        }
    }
    let out = cmd.output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passed = stdout
        .lines()
        .find_map(|l| {
            l.trim_start_matches(|c: char| !c.is_ascii_alphabetic())
                .strip_prefix("pass ")
        })
        .and_then(|n| n.trim().parse::<u32>().ok());
    assert!(passed.is_some_and(|n| n > 0), "no JS test ran:\n{stdout}");
}
