//! The worker never creates a database cluster or generates secrets on its own: started without
//! `DATABASE_URL` and without the embedded switch, it stops and says what to set.

use std::process::Command;

#[test]
fn without_a_database_the_worker_exits_and_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = Command::new(env!("CARGO_BIN_EXE_wfops-worker"))
        // nothing inherited: no DATABASE_URL, no WFOPS_EMBEDDED_PG, no .env of the checkout
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("WFOPS_HOME", &home)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("WFOPS_EMBEDDED_PG=1"),
        "{stderr}"
    );
    assert!(!home.exists(), "the worker created {}", home.display());
    assert!(!dir.path().join(".wfops").exists());
}
