//! The production binary never creates a database cluster or generates secrets on its own:
//! started without `DATABASE_URL` and without the embedded switch, it stops and says what to set.

use std::process::Command;

#[test]
fn without_a_database_the_api_exits_and_says_what_to_set() {
    for command in ["serve", "migrate"] {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let out = Command::new(env!("CARGO_BIN_EXE_wfops-api"))
            .arg(command)
            // nothing inherited: no DATABASE_URL, no WFOPS_EMBEDDED_PG, no .env of the checkout
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WFOPS_HOME", &home)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{command}: {stderr}");
        assert!(
            stderr.contains("DATABASE_URL") && stderr.contains("WFOPS_EMBEDDED_PG=1"),
            "{command}: {stderr}"
        );
        assert!(!home.exists(), "{command} created {}", home.display());
        assert!(!dir.path().join(".wfops").exists());
    }
}

#[test]
fn weak_secrets_stop_the_api_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wfops-api"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", "postgres://wfops@127.0.0.1:1/wfops")
        .env("JWT_SECRET", "changeme")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    assert!(!stderr.contains("changeme"), "{stderr}");
}
