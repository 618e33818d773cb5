//! An https remote that answers 401 to everything, served with a self-signed certificate
//! that this process trusts through `SSL_CERT_FILE`. Kept in its own test binary because
//! libgit2 reads the trust store once per process.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};
use wfops_git::{GitAuth, GitError, Mirror, RemoteSpec, Secret};

struct Tls {
    cert: X509,
    key: PKey<Private>,
    _dir: tempfile::TempDir,
}

/// Makes the certificate and points OpenSSL at it before any libgit2 call in this process.
fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "localhost").unwrap();
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder
            .set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .build(&builder.x509v3_context(None, None))
            .unwrap();
        builder.append_extension(san).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = builder.build();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, cert.to_pem().unwrap()).unwrap();
        std::env::set_var("SSL_CERT_FILE", &path);
        Tls {
            cert,
            key,
            _dir: dir,
        }
    })
}

/// Answers every request with 401 until stopped; records the request heads.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start() -> Self {
        let tls = tls();
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor.set_private_key(&tls.key).unwrap();
        acceptor.set_certificate(&tls.cert).unwrap();
        let acceptor = acceptor.build();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && served < 20 {
                    let stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    };
                    served += 1;
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let Ok(mut tls) = acceptor.accept(stream) else {
                        continue;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    requests
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let _ = tls.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
                          Content-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    let _ = tls.shutdown();
                }
            })
        };
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let requests = self.requests.lock().unwrap().clone();
        requests
    }
}

#[test]
fn a_rejected_token_is_auth_failed_and_never_shown() {
    let token = "ghp_VerySecretToken_0123456789";
    tls();
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let spec = RemoteSpec::new(
        format!("https://localhost:{}/org/repo.git", server.port),
        "main",
        GitAuth::Token(Secret::new(token.to_string())),
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let err = mirror.fetch().unwrap_err();
    let requests = server.finish();

    assert!(matches!(err, GitError::AuthFailed { .. }), "{err:?}");
    let shown = format!("{err} | {err:?} | {spec:?} | {mirror:?}");
    assert!(!shown.contains(token), "{shown}");
    assert!(
        shown.contains(&format!("localhost:{}", server_port(&shown))),
        "{shown}"
    );

    // The token did go to the server, once, as the Basic password over TLS.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    let with_token = requests
        .iter()
        .filter(|r| r.contains(&format!("Authorization: Basic {basic}")))
        .count();
    assert_eq!(with_token, 1, "{requests:#?}");
    assert!(
        requests.iter().all(|r| !r.contains(token)),
        "never in the request line"
    );
}

fn server_port(shown: &str) -> String {
    shown
        .split("localhost:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_remote_asking_for_credentials_without_any_configured_is_auth_failed() {
    tls();
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let spec = RemoteSpec::new(
        format!("https://localhost:{}/org/repo.git", server.port),
        "main",
        GitAuth::None,
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let err = mirror.fetch().unwrap_err();
    let requests = server.finish();
    assert!(
        matches!(&err, GitError::AuthFailed { message, .. } if message.contains("none are configured")),
        "{err:?}"
    );
    assert!(requests.iter().all(|r| !r.contains("Authorization:")));
}
