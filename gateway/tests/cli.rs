//! The `strata` command line: what operators and the docs rely on.

use std::process::Command;

fn strata(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().unwrap()
}

#[test]
fn config_example_is_a_valid_config_once_its_placeholder_secrets_are_replaced() {
    let out = strata(&["config", "example"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    // Bind to port 0 so the check cannot collide with anything running.
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace("127.0.0.1:9000", "127.0.0.1:0")
        .replace("127.0.0.1:9001", "127.0.0.1:0");
    // As printed, its public placeholder token and secret would let anyone in: refused.
    std::fs::write(&path, &text).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("placeholder"), "{why}");
    let text = text
        .replace("change-me-to-a-long-random-token", "a-real-admin-token-0123456789")
        .replace(
            "change-me-to-a-long-random-secret",
            "a-real-replication-secret-0123456789",
        );
    std::fs::write(&path, text).unwrap();
    // Start the site just long enough to see it accepts the file.
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "strata serve exited on the example config"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn unknown_config_key_stops_startup_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "site_name = \"a\"\ndata_dir = \"d\"\nblok_size = 4096\n[s3]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"0123456789abcdef\"\n",
    )
    .unwrap();
    let out = strata(&["serve", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("blok_size"), "error does not name the key: {err}");
}

#[test]
fn admin_without_a_running_site_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "site_name = \"a\"\ndata_dir = \"d\"\n[s3]\nlisten = \"127.0.0.1:1\"\n[admin]\nlisten = \"127.0.0.1:1\"\ntoken = \"0123456789abcdef\"\n",
    )
    .unwrap();
    let out = strata(&["admin", "--config", path.to_str().unwrap(), "user", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}
