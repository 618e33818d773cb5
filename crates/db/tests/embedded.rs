//! The embedded cluster: created once (even by racing callers), reused, restarted after a stop
//! and after a crash that left a stale postmaster.pid, and migratable.
//!
//! Uses its own cluster in a temporary folder, so that stopping it does not disturb the shared
//! one other tests use.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};

use wfops_db::embedded::{self, LocalCluster};
use wfops_db::{migrate, Db, Error, ScopedFutureExt};

/// Stops the private cluster however the test ends.
struct StopOnDrop(LocalCluster);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

fn accepting(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn ensure_from_threads(root: &Path, n: usize) -> Vec<LocalCluster> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let root: PathBuf = root.to_path_buf();
            std::thread::spawn(move || embedded::ensure(&root))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("ensure panicked").expect("ensure failed"))
        .collect()
}

#[test]
fn a_private_cluster_is_created_once_reused_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".wfops");

    // three callers race on a folder with nothing in it: one initdb, one cluster
    let clusters = ensure_from_threads(&root, 3);
    let cluster = clusters[0].clone();
    let _stop = StopOnDrop(cluster.clone());
    for other in &clusters {
        assert_eq!(other.port(), cluster.port());
        assert_eq!(other.admin_url("wfops"), cluster.admin_url("wfops"));
    }
    assert!(accepting(cluster.port()));
    assert_eq!(
        std::fs::read_to_string(root.join("pg.port"))
            .unwrap()
            .trim(),
        cluster.port().to_string()
    );
    let password_mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(root.join("pg.password"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(password_mode, 0o600);
    assert!(
        !root.join("pg.initpw").exists(),
        "the initdb password file must be removed"
    );

    // running: a second call changes nothing
    let again = embedded::ensure(&root).unwrap();
    assert_eq!(again.admin_url("x"), cluster.admin_url("x"));

    // stopped: the next call starts it on the same port
    cluster.stop().unwrap();
    assert!(!accepting(cluster.port()));
    let restarted = embedded::ensure(&root).unwrap();
    assert_eq!(restarted.port(), cluster.port());
    assert!(accepting(cluster.port()));

    // killed (simulated): a postmaster.pid naming a live process that is not postgres
    cluster.stop().unwrap();
    let pid_file = cluster.data_dir().join("postmaster.pid");
    std::fs::write(
        &pid_file,
        format!("{}\n{}\n", std::process::id(), cluster.data_dir().display()),
    )
    .unwrap();
    embedded::ensure(&root).unwrap();
    assert!(accepting(cluster.port()));

    // the owner can migrate the apps' database, and the app role then sees it up to date
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = cluster.database_url();
        let applied = migrate::run(&url).await.unwrap();
        assert_eq!(applied, migrate::embedded_versions().unwrap());
        assert!(
            migrate::run(&url).await.unwrap().is_empty(),
            "second run applies nothing"
        );

        let db = Db::connect(&url, 2).await.unwrap();
        let status = db
            .system_tx(|conn| async move { migrate::status(conn).await }.scope_boxed())
            .await
            .unwrap();
        assert!(status.is_up_to_date(), "{status:?}");
        assert_eq!(status.applied, status.embedded);
    });
}

#[test]
fn a_wrong_password_is_refused_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".wfops");
    let cluster = embedded::ensure(&root).unwrap();
    let _stop = StopOnDrop(cluster.clone());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let good = cluster.admin_url("wfops");
    let at = good.find('@').unwrap();
    let bad = format!("postgres://wfops:not-the-password{}", &good[at..]);
    let err = runtime.block_on(migrate::run(&bad)).unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert!(!err.to_string().contains("not-the-password"), "{err}");
}
