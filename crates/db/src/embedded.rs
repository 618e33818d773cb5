//! The embedded local PostgreSQL: a private cluster in the checkout's `.wfops/pg`, so that
//! `cargo test` and the quick start need no database setup.
//!
//! Layout under `root` (the checkout's `.wfops`, git-ignored):
//!
//! | path | holds |
//! |---|---|
//! | `pg/` | the cluster's data directory (`server.log` inside it) |
//! | `pg.port` | the loopback port chosen when the cluster was created |
//! | `pg.password` | the generated password of the owner role `wfops` (mode 0600) |
//! | `pg.lock` | the file lock that serialises [`ensure`] across processes |
//!
//! Everything here blocks (it runs `initdb`, `pg_ctl` and `psql`); async callers wrap
//! [`ensure`] in `spawn_blocking`.
//!
//! The apps call [`ensure`] only when the embedded switch (`WFOPS_EMBEDDED_PG`, see
//! `wfops_config::EMBEDDED_SWITCH`) is on; the test harness calls it when `DATABASE_URL` is
//! unset. It never installs packages: with no server binaries it says what to install.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::error::{Error, Result};

/// The superuser that owns the local cluster and runs migrations.
pub const OWNER: &str = "wfops";
/// The database the apps use on the local cluster.
pub const DEFAULT_DATABASE: &str = "wfops";

/// Where Debian puts the server binaries of each installed major version.
const DEBIAN_PG_LIB: &str = "/usr/lib/postgresql";
/// How long a starting server may take before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running local cluster and how to reach it.
#[derive(Clone)]
pub struct LocalCluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: String,
    os_user: Option<OsUser>,
}

impl fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCluster")
            .field("data_dir", &self.data_dir)
            .field("bin_dir", &self.bin_dir)
            .field("port", &self.port)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl LocalCluster {
    /// A connection URL for the owner role on database `db_name`. It contains the password:
    /// never log it.
    pub fn admin_url(&self, db_name: &str) -> String {
        format!(
            "postgres://{OWNER}:{}@127.0.0.1:{}/{db_name}",
            self.password, self.port
        )
    }

    /// The URL of the apps' database, i.e. `admin_url("wfops")`.
    pub fn database_url(&self) -> String {
        self.admin_url(DEFAULT_DATABASE)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the server binaries in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Stops the server (fast shutdown). The next [`ensure`] starts it again.
    pub fn stop(&self) -> Result<()> {
        let data = path_str(&self.data_dir)?;
        let out = run(
            self.pg_command("pg_ctl")
                .args(["stop", "-D", data, "-m", "fast", "-w"])
                .args(["-t", &START_TIMEOUT.as_secs().to_string()]),
            "pg_ctl stop",
        )?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Embedded(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// A command for a server binary, run as the `postgres` OS user when we are root
    /// (PostgreSQL refuses to run as root).
    fn pg_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // the postgres user may not be able to read our working directory
        cmd.current_dir("/").stdin(Stdio::null());
        if let Some(user) = &self.os_user {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    /// Runs one SQL statement through `psql` as the owner and returns its unaligned output.
    fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new(self.bin_dir.join("psql"));
        cmd.current_dir("/")
            .stdin(Stdio::null())
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", OWNER])
            .args([
                "-d",
                db,
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]);
        let out = run(&mut cmd, "psql")?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(Error::Embedded(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// Creates (first time), starts (when stopped) and returns the local cluster under `root`.
///
/// Safe to call from many processes at once: an exclusive lock on `root/pg.lock` serialises
/// callers, and every step checks the state it finds instead of assuming it.
pub fn ensure(root: &Path) -> Result<LocalCluster> {
    fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let root = root
        .canonicalize()
        .map_err(|e| Error::io(format!("resolving {}", root.display()), e))?;
    let lock_path = root.join("pg.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| Error::io(format!("locking {}", lock_path.display()), e))?;

    let result = ensure_locked(&root);
    // the lock is released when `lock` is dropped; be explicit about the order
    drop(lock);
    result
}

fn ensure_locked(root: &Path) -> Result<LocalCluster> {
    // Installing packages is the job of `./dev` (or of whoever provisions the machine), never
    // of a library a production binary links.
    let bin_dir = find_bin_dir(Path::new(DEBIAN_PG_LIB)).ok_or_else(|| {
        Error::Embedded(format!(
            "no PostgreSQL server binaries under {DEBIAN_PG_LIB}/*/bin; install them \
             (`./dev up` does, or `sudo apt-get install postgresql`) or set DATABASE_URL"
        ))
    })?;
    let os_user = if running_as_root()? {
        Some(OsUser::lookup("postgres")?.ok_or_else(|| {
            Error::Embedded(
                "running as root needs the `postgres` OS user to run the server \
                 (Debian's postgresql package creates it)"
                    .into(),
            )
        })?)
    } else {
        None
    };

    let data_dir = root.join("pg");
    let port_file = root.join("pg.port");
    let password_file = root.join("pg.password");

    let cluster = if data_dir.join("PG_VERSION").is_file() {
        let port = read_port(&port_file)?;
        let password = read_file(&password_file)?;
        if password.is_empty() {
            return Err(Error::Embedded(format!(
                "{} is empty; remove {} to create a new cluster",
                password_file.display(),
                data_dir.display()
            )));
        }
        LocalCluster {
            data_dir,
            bin_dir,
            port,
            password,
            os_user,
        }
    } else {
        let cluster = LocalCluster {
            data_dir,
            bin_dir,
            port: free_port()?,
            password: generate_password(),
            os_user,
        };
        // state files first: a crash after initdb must not leave a cluster nobody can log into
        write_private(&port_file, &cluster.port.to_string())?;
        write_private(&password_file, &cluster.password)?;
        init_cluster(root, &cluster)?;
        cluster
    };

    start_if_stopped(&cluster)?;
    ensure_database(&cluster, DEFAULT_DATABASE)?;
    Ok(cluster)
}

/// The newest `<base>/<version>/bin` that holds a complete server installation.
pub fn find_bin_dir(base: &Path) -> Option<PathBuf> {
    let entries = fs::read_dir(base).ok()?;
    let mut found: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.to_owned();
            let key = version
                .split('.')
                .map(|part| part.parse::<u64>().ok())
                .collect::<Option<Vec<u64>>>()?;
            let bin = entry.path().join("bin");
            ["initdb", "pg_ctl", "postgres", "psql"]
                .iter()
                .all(|program| bin.join(program).is_file())
                .then_some((key, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn init_cluster(root: &Path, cluster: &LocalCluster) -> Result<()> {
    let data = &cluster.data_dir;
    if data.exists() {
        // a data directory without PG_VERSION is what a failed initdb leaves behind
        fs::remove_dir_all(data)
            .map_err(|e| Error::io(format!("removing incomplete {}", data.display()), e))?;
    }
    fs::create_dir(data).map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
    fs::set_permissions(data, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(format!("setting permissions of {}", data.display()), e))?;

    let pwfile = root.join("pg.initpw");
    write_private(&pwfile, &cluster.password)?;
    if let Some(user) = &cluster.os_user {
        // the server user must own its data directory, traverse `root` and read the password
        std::os::unix::fs::chown(data, Some(user.uid), Some(user.gid))
            .map_err(|e| Error::io(format!("chown {}", data.display()), e))?;
        std::os::unix::fs::chown(&pwfile, Some(user.uid), Some(user.gid))
            .map_err(|e| Error::io(format!("chown {}", pwfile.display()), e))?;
        let mode = fs::metadata(root)
            .map_err(|e| Error::io(format!("reading {}", root.display()), e))?
            .permissions()
            .mode();
        fs::set_permissions(root, fs::Permissions::from_mode(mode | 0o711))
            .map_err(|e| Error::io(format!("setting permissions of {}", root.display()), e))?;
    }

    let out = run(
        cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(data)
            .args(["-U", OWNER, "-E", "UTF8", "--locale=C"])
            .args(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display())),
        "initdb",
    );
    let _ = fs::remove_file(&pwfile);
    let out = out?;
    if !out.status.success() {
        return Err(Error::Embedded(format!(
            "initdb failed (the postgres OS user must be able to reach {}): {}",
            data.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }

    // Loopback TCP only, no Unix socket (socket paths have a length limit that deep checkouts
    // exceed, and nobody else should connect). Room for parallel test pools.
    let settings = format!(
        "\n# added by wfops_db::embedded\n\
         listen_addresses = '127.0.0.1'\n\
         port = {}\n\
         unix_socket_directories = ''\n\
         max_connections = 300\n\
         password_encryption = 'scram-sha-256'\n",
        cluster.port
    );
    let conf = data.join("postgresql.conf");
    let mut file = OpenOptions::new()
        .append(true)
        .open(&conf)
        .map_err(|e| Error::io(format!("opening {}", conf.display()), e))?;
    file.write_all(settings.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", conf.display()), e))?;
    Ok(())
}

fn start_if_stopped(cluster: &LocalCluster) -> Result<()> {
    let pid_file = cluster.data_dir.join("postmaster.pid");
    if let Ok(contents) = fs::read_to_string(&pid_file) {
        let pid = contents.lines().next().unwrap_or("").trim();
        if is_postgres_process(pid) {
            // running, or starting up, or shutting down: wait until it answers
            if wait_until_accepting(cluster.port, START_TIMEOUT) {
                return Ok(());
            }
            return Err(Error::Embedded(format!(
                "the server with pid {pid} does not accept connections on port {}; see {}",
                cluster.port,
                cluster.data_dir.join("server.log").display()
            )));
        }
        // left behind by a server that was killed: the postmaster would refuse to start
        fs::remove_file(&pid_file)
            .map_err(|e| Error::io(format!("removing stale {}", pid_file.display()), e))?;
        tracing::warn!(
            pid,
            "removed a stale postmaster.pid of the embedded database"
        );
    }

    if TcpStream::connect(("127.0.0.1", cluster.port)).is_ok() {
        return Err(Error::Embedded(format!(
            "port {} (kept in pg.port) is used by another program; stop it, or remove \
             the .wfops folder to create a new cluster",
            cluster.port
        )));
    }

    let log = cluster.data_dir.join("server.log");
    let out = run(
        cluster
            .pg_command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&cluster.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", &START_TIMEOUT.as_secs().to_string()]),
        "pg_ctl start",
    )?;
    if !out.status.success() {
        let tail = fs::read_to_string(&log)
            .map(|text| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(10)..].join("\n")
            })
            .unwrap_or_default();
        return Err(Error::Embedded(format!(
            "pg_ctl start failed: {}\n{tail}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if !wait_until_accepting(cluster.port, START_TIMEOUT) {
        return Err(Error::Embedded(format!(
            "the server started but does not accept connections on port {}",
            cluster.port
        )));
    }
    Ok(())
}

fn ensure_database(cluster: &LocalCluster, name: &str) -> Result<()> {
    let exists = cluster.psql(
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
    )?;
    if exists != "1" {
        cluster.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
    }
    Ok(())
}

/// Whether `pid` names a live PostgreSQL process (a reused pid of another program does not
/// count, which is what makes a stale postmaster.pid safe to remove).
fn is_postgres_process(pid: &str) -> bool {
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| matches!(comm.trim(), "postgres" | "postmaster"))
        .unwrap_or(false)
}

fn wait_until_accepting(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::io("finding a free loopback port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("finding a free loopback port", e))?
        .port();
    Ok(port)
}

fn generate_password() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn read_port(path: &Path) -> Result<u16> {
    let text = read_file(path)?;
    text.parse().map_err(|_| {
        Error::Embedded(format!(
            "{} holds {text:?}, not a port number",
            path.display()
        ))
    })
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

/// Writes a file only its owner can read (it may hold a password).
fn write_private(path: &Path, contents: &str) -> Result<()> {
    let mut file: File = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::Embedded(format!("{} is not valid UTF-8", path.display())))
}

/// Runs a command with its output captured (never inherited: a daemon holding the test
/// harness's pipes would make it wait forever).
fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::io(format!("running {what}"), e))
}

fn running_as_root() -> Result<bool> {
    // /proc/self belongs to the effective user; no libc call (and no unsafe) needed
    let meta = fs::metadata("/proc/self").map_err(|e| Error::io("reading /proc/self", e))?;
    Ok(meta.uid() == 0)
}

#[derive(Clone, Debug)]
struct OsUser {
    uid: u32,
    gid: u32,
}

impl OsUser {
    fn lookup(name: &str) -> Result<Option<OsUser>> {
        let passwd =
            fs::read_to_string("/etc/passwd").map_err(|e| Error::io("reading /etc/passwd", e))?;
        Ok(parse_passwd(&passwd, name))
    }
}

fn parse_passwd(passwd: &str, name: &str) -> Option<OsUser> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(OsUser { uid, gid })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(base: &Path, version: &str, complete: bool) {
        let bin = base.join(version).join("bin");
        fs::create_dir_all(&bin).unwrap();
        let programs: &[&str] = if complete {
            &["initdb", "pg_ctl", "postgres", "psql"]
        } else {
            &["psql"]
        };
        for program in programs {
            fs::write(bin.join(program), "").unwrap();
        }
    }

    #[test]
    fn bin_dir_is_the_newest_complete_installation() {
        let base = tempfile::tempdir().unwrap();
        fake_install(base.path(), "9.6", true);
        fake_install(base.path(), "15", true);
        fake_install(base.path(), "13", true);
        // a client-only package must not be picked
        fake_install(base.path(), "17", false);
        assert_eq!(
            find_bin_dir(base.path()),
            Some(base.path().join("15").join("bin"))
        );
    }

    #[test]
    fn no_bin_dir_without_a_server() {
        let base = tempfile::tempdir().unwrap();
        assert_eq!(find_bin_dir(base.path()), None);
        fake_install(base.path(), "16", false);
        assert_eq!(find_bin_dir(base.path()), None);
        assert_eq!(find_bin_dir(&base.path().join("missing")), None);
    }

    #[test]
    fn passwd_lookup_finds_uid_and_gid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
        let user = parse_passwd(passwd, "postgres").unwrap();
        assert_eq!((user.uid, user.gid), (101, 104));
        assert!(parse_passwd(passwd, "nobody").is_none());
        assert!(parse_passwd("postgres:x:notanumber:1::/:/bin/sh", "postgres").is_none());
    }

    #[test]
    fn garbage_pid_is_not_postgres() {
        assert!(!is_postgres_process(""));
        assert!(!is_postgres_process("12ab"));
        // our own process is alive but is not postgres
        assert!(!is_postgres_process(&std::process::id().to_string()));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let cluster = LocalCluster {
            data_dir: "/x/pg".into(),
            bin_dir: "/usr/lib/postgresql/15/bin".into(),
            port: 5555,
            password: "s3cr3t-password".into(),
            os_user: None,
        };
        let debug = format!("{cluster:?}");
        assert!(!debug.contains("s3cr3t-password"), "{debug}");
        assert!(cluster
            .admin_url("wfops")
            .ends_with("@127.0.0.1:5555/wfops"));
    }

    #[test]
    fn private_files_are_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private(&path, "x").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_file(&path).unwrap(), "x");
    }

    #[test]
    fn bad_port_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.port");
        fs::write(&path, "not-a-port").unwrap();
        let err = read_port(&path).unwrap_err().to_string();
        assert!(err.contains("not a port number"), "{err}");
    }
}
