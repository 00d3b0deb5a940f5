//! Debian's `redis-server` (7.0) as the session stores' tests meet it: a
//! plain server, and a TLS-only one with certificates made for it. Each on
//! a free 127.0.0.1 port, without persistence unless asked, and stopped
//! when dropped.

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

use crate::{free_port, TempDir};

/// A real `redis-server` on a free 127.0.0.1 port, without persistence;
/// stopped when dropped.
pub struct Redis {
    pub port: u16,
    /// Where a persistent server keeps its append-only file.
    dir: Option<PathBuf>,
    child: Child,
}

impl Redis {
    pub async fn start() -> Self {
        Self::spawn(free_port(), None).await
    }

    /// A server that writes every change to disk before answering, so that
    /// after [`Self::stop`] and [`Self::restart`] it has all it had.
    pub async fn start_persistent() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("civic-auth-poem-redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for Redis's data");
        Self::spawn(port, Some(dir)).await
    }

    async fn spawn(port: u16, dir: Option<PathBuf>) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--protected-mode", "yes"]);
        match &dir {
            None => command.args(["--appendonly", "no"]),
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// What `redis-cli` prints for `args` against this server.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .await
            .expect("redis-cli is installed with redis-server");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops Redis, as an outage would.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts it again on the same port: empty, unless it is persistent.
    pub async fn restart(&mut self) {
        *self = Self::spawn(self.port, self.dir.take()).await;
    }
}

/// Whether [`RedisTls`] asks its clients for a certificate.
#[derive(Clone, Copy, Debug)]
pub enum ClientCerts {
    /// `--tls-auth-clients yes`: a client without a certificate from the
    /// server's CA is refused, as by a Redis that authenticates clients
    /// with mutual TLS.
    Required,
    /// `--tls-auth-clients optional`: a client may connect without one; a
    /// certificate it does present must come from the CA.
    Optional,
}

/// A `redis-server` that speaks only TLS (no plain-text port), as a managed
/// Redis does, with certificates `openssl` made for this server.
pub struct RedisTls {
    pub port: u16,
    certs: Certificates,
    child: Child,
}

impl RedisTls {
    pub async fn start(client_certs: ClientCerts) -> Self {
        let certs = Certificates::make().await;
        let port = free_port();
        let auth_clients = match client_certs {
            ClientCerts::Required => "yes",
            ClientCerts::Optional => "optional",
        };
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&certs.server_cert)
            .arg("--tls-key-file")
            .arg(&certs.server_key)
            .arg("--tls-ca-cert-file")
            .arg(&certs.ca)
            .args(["--tls-auth-clients", auth_clients])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let redis = Self { port, certs, child };
        // The port accepts TCP before the server's TLS is set up; an answer
        // through TLS is what shows it ready.
        let deadline = Instant::now() + Duration::from_secs(10);
        poll(deadline, "the TLS redis-server answers PING", || async {
            match redis.cli(&["PING"]).await.as_str() {
                "PONG\n" => Ok(()),
                other => Err(format!("PING: {other:?}")),
            }
        })
        .await;
        redis
    }

    /// `rediss://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }

    /// The CA that signed the server's certificate and the client's.
    pub fn ca_path(&self) -> &Path {
        &self.certs.ca
    }

    /// A client certificate the server accepts (signed by its CA).
    pub fn client_cert_path(&self) -> &Path {
        &self.certs.client_cert
    }

    /// The key of [`Self::client_cert_path`].
    pub fn client_key_path(&self) -> &Path {
        &self.certs.client_key
    }

    /// A CA that signed nothing of this server's: trusting it instead of
    /// [`Self::ca_path`] must fail the handshake.
    pub fn other_ca_path(&self) -> &Path {
        &self.certs.other_ca
    }

    /// What `redis-cli` prints for `args` against this server, connected
    /// with the CA and the client certificate.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .arg("--tls")
            .arg("--cacert")
            .arg(self.ca_path())
            .arg("--cert")
            .arg(self.client_cert_path())
            .arg("--key")
            .arg(self.client_key_path())
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .await
            .expect("redis-cli is installed with redis-server");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops Redis, as an outage would.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The files `openssl` made for one [`RedisTls`], removed with it: a CA,
/// the server's certificate for `127.0.0.1` and `localhost` and a client's,
/// both signed by that CA, and a second CA that signed neither.
struct Certificates {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
    _dir: TempDir,
}

impl Certificates {
    async fn make() -> Self {
        let dir = TempDir::new("redis-tls");
        // Stated rather than left to the system's `openssl.cnf`: rustls
        // refuses a CA certificate as a server's or a client's.
        const CA: &[&str] = &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        let (ca, _) = certificate(&dir.0, "ca", "/CN=civic-auth-poem test CA", None, CA).await;
        let (other_ca, _) =
            certificate(&dir.0, "other-ca", "/CN=civic-auth-poem other CA", None, CA).await;
        let (server_cert, server_key) = certificate(
            &dir.0,
            "server",
            "/CN=localhost",
            Some("ca"),
            &[
                "basicConstraints=critical,CA:FALSE",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "extendedKeyUsage=serverAuth",
            ],
        )
        .await;
        let (client_cert, client_key) = certificate(
            &dir.0,
            "client",
            "/CN=civic-auth-poem test client",
            Some("ca"),
            &[
                "basicConstraints=critical,CA:FALSE",
                "extendedKeyUsage=clientAuth",
            ],
        )
        .await;
        Self {
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            other_ca,
            _dir: dir,
        }
    }
}

/// Makes `<name>.pem` and its key `<name>.key` in `dir`: a new P-256 key
/// and a certificate of a day for `subject` with `extensions`, signed by
/// the CA `issuer` (its `.pem` and `.key` there) or else by itself.
async fn certificate(
    dir: &Path,
    name: &str,
    subject: &str,
    issuer: Option<&str>,
    extensions: &[&str],
) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let mut command = Command::new("openssl");
    command
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", subject]);
    if let Some(issuer) = issuer {
        command
            .arg("-CA")
            .arg(dir.join(format!("{issuer}.pem")))
            .arg("-CAkey")
            .arg(dir.join(format!("{issuer}.key")));
    }
    for extension in extensions {
        command.args(["-addext", extension]);
    }
    let made = command
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .await
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "openssl made no certificate {name}: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// `attempt`'s value, asked for every 50 ms; past `deadline`, fails the
/// test with `what` and why the last attempt failed.
async fn poll<T, F, Fut>(deadline: Instant, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    loop {
        let why_not = match attempt().await {
            Ok(value) => return value,
            Err(why_not) => why_not,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not in time; last {why_not}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
