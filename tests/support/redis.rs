//! Debian's `redis-server` (7.0) as the session stores' tests meet it: a
//! plain server, a TLS-only one with certificates made for it, and a local
//! Redis Cluster whose masters a test can crash. Each on free 127.0.0.1
//! ports, without persistence unless asked, and stopped when dropped.

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
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
        cli(self.port, &[], args).await
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
    _child: Child,
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
        let redis = Self {
            port,
            certs,
            _child: child,
        };
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
        let tls = [
            "--tls".as_ref(),
            "--cacert".as_ref(),
            self.ca_path().as_os_str(),
            "--cert".as_ref(),
            self.client_cert_path().as_os_str(),
            "--key".as_ref(),
            self.client_key_path().as_os_str(),
        ];
        cli(self.port, &tls, args).await
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

/// How long a cluster may take to form, and a crashed master's replica to
/// take over.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);

/// A local Redis Cluster of three masters with a replica each, as a
/// deployment shards sessions; a test crashes a master to see its replica
/// take over. Every node is stopped and its folder removed when dropped.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: TempDir,
}

/// One `redis-server` of a [`RedisCluster`].
struct Node {
    port: u16,
    child: Child,
}

impl RedisCluster {
    /// Starts six nodes, joins them into a cluster and waits until every
    /// node sees all 16384 slots served, each by a master with a replica in
    /// sync (30 s at most).
    pub async fn start() -> Self {
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        let dir = TempDir::new("redis-cluster");
        // A cluster bus port of its own for each node: the default, the
        // node's port + 10000, does not exist for a free port above 55535.
        let ports = free_ports(12);
        let nodes = ports[..6]
            .iter()
            .zip(&ports[6..])
            .map(|(&port, &bus_port)| Node::spawn(port, bus_port, &dir.0))
            .collect();
        let cluster = Self { nodes, dir };
        for port in cluster.ports() {
            poll(deadline, "a cluster node answers PING", || async {
                match cluster.cli(port, &["PING"]).await.as_str() {
                    "PONG\n" => Ok(()),
                    other => Err(format!("{port}: {other:?}")),
                }
            })
            .await;
        }
        let mut create = Command::new("redis-cli");
        create
            .args(["--cluster", "create"])
            .args(
                cluster
                    .ports()
                    .iter()
                    .map(|port| format!("127.0.0.1:{port}")),
            )
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let created = tokio::time::timeout_at(deadline.into(), create.output())
            .await
            .expect("redis-cli --cluster create joins the nodes within 30 s")
            .expect("redis-cli is installed with redis-server");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        poll(
            deadline,
            "every node of the cluster sees all slots served, each by a master with a replica",
            || cluster.formed(),
        )
        .await;
        cluster
    }

    /// `redis-cluster://127.0.0.1:<port>,...`, every node's address.
    pub fn url(&self) -> String {
        self.url_from(self.nodes[0].port)
    }

    /// The URL with the node at `first` first: the node a store subscribes
    /// to for the change reports, until it fails.
    pub fn url_from(&self, first: u16) -> String {
        let mut ports = self.ports();
        ports.sort_by_key(|port| *port != first);
        let nodes: Vec<String> = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis-cluster://{}", nodes.join(","))
    }

    /// Every node's port, killed ones too.
    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// What `redis-cli -p <port>` prints for `args`: the node's own answer,
    /// unless `args` start with `-c` to follow the cluster's redirections.
    pub async fn cli(&self, port: u16, args: &[&str]) -> String {
        cli(port, &[], args).await
    }

    /// The ports of the masters a live node knows and does not hold failed,
    /// whose process runs.
    pub async fn masters(&self) -> Vec<u16> {
        self.live_nodes(true).await
    }

    /// The ports of the replicas a live node knows and does not hold
    /// failed, whose process runs.
    pub async fn replicas(&self) -> Vec<u16> {
        self.live_nodes(false).await
    }

    async fn live_nodes(&self, masters: bool) -> Vec<u16> {
        let view = self.cli(self.live_port(), &["CLUSTER", "NODES"]).await;
        view.lines()
            .filter_map(NodeLine::parse)
            .filter(|node| node.is_master() == masters && !node.is_failed())
            .map(|node| node.port)
            .filter(|port| self.is_live(*port))
            .collect()
    }

    /// The port of the master that serves `key`'s slot now.
    pub async fn master_of(&self, key: &str) -> u16 {
        let live = self.live_port();
        let answer = self.cli(live, &["CLUSTER", "KEYSLOT", key]).await;
        let slot: u16 = answer
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("CLUSTER KEYSLOT {key}: {answer:?}"));
        let view = self.cli(live, &["CLUSTER", "NODES"]).await;
        view.lines()
            .filter_map(NodeLine::parse)
            .find(|node| node.is_master() && !node.is_failed() && node.serves(slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}:\n{view}"))
            .port
    }

    /// Waits until each live master's replica has every write so far
    /// (`WAIT 1 2000`): replication is asynchronous, and a write a master
    /// took just before it crashed may be lost with it.
    pub async fn replicate(&self) {
        for master in self.masters().await {
            let answer = self.cli(master, &["WAIT", "1", "2000"]).await;
            let replicas: u32 = answer.trim().parse().unwrap_or(0);
            assert!(
                replicas >= 1,
                "no replica of {master} acknowledged its writes within 2 s: {answer:?}"
            );
        }
    }

    /// Kills the node at `port` with SIGKILL, as a crash: it saves nothing
    /// and tells no other node.
    pub async fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .unwrap_or_else(|| panic!("no node at {port}"));
        node.child.kill().await.expect("the node is killed");
    }

    /// Waits until a former replica of the master `dead` (killed) is a
    /// master and every live node says `cluster_state:ok`; the new master's
    /// port.
    pub async fn wait_promoted(&self, dead: u16) -> u16 {
        let replicas = self.replicas_of(dead);
        assert!(!replicas.is_empty(), "{dead} was no master with a replica");
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        poll(
            deadline,
            &format!("a replica of {dead} ({replicas:?}) takes over"),
            || self.promoted(&replicas),
        )
        .await
    }

    /// The keys matching `pattern` on every live master, sorted.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for master in self.masters().await {
            let found = self.cli(master, &["--scan", "--pattern", pattern]).await;
            keys.extend(found.lines().map(str::to_owned));
        }
        keys.sort();
        keys
    }

    fn is_live(&self, port: u16) -> bool {
        self.nodes
            .iter()
            .any(|node| node.port == port && node.child.id().is_some())
    }

    /// A node that was not killed, to ask about the cluster.
    fn live_port(&self) -> u16 {
        self.ports()
            .into_iter()
            .find(|port| self.is_live(*port))
            .expect("a node of the cluster is alive")
    }

    /// Whether every node says `cluster_state:ok` and lists all slots in
    /// `CLUSTER SLOTS`, each range with a replica: Redis lists a replica
    /// there only once it has synced with its master.
    async fn formed(&self) -> Result<(), String> {
        for port in self.ports() {
            self.says_ok(port).await?;
            let answer = self.cli(port, &["--json", "CLUSTER", "SLOTS"]).await;
            let ranges: Vec<Value> = serde_json::from_str(&answer)
                .map_err(|e| format!("{port}: CLUSTER SLOTS {answer:?}: {e}"))?;
            let covered: u64 = ranges
                .iter()
                .map(|range| range[1].as_u64().unwrap_or(0) + 1 - range[0].as_u64().unwrap_or(0))
                .sum();
            let replicated = ranges
                .iter()
                .all(|range| range.as_array().map_or(0, Vec::len) >= 4);
            if covered != 16384 || !replicated {
                return Err(format!("{port}: CLUSTER SLOTS {answer}"));
            }
        }
        Ok(())
    }

    async fn says_ok(&self, port: u16) -> Result<(), String> {
        let info = self.cli(port, &["CLUSTER", "INFO"]).await;
        match info.lines().find(|line| line.starts_with("cluster_state:")) {
            Some(line) if line.trim_end() == "cluster_state:ok" => Ok(()),
            state => Err(format!("{port}: {state:?}")),
        }
    }

    /// The one of `replicas` that is a master now, once every live node
    /// says `cluster_state:ok`.
    async fn promoted(&self, replicas: &[u16]) -> Result<u16, String> {
        let masters = self.masters().await;
        let promoted = replicas
            .iter()
            .copied()
            .find(|replica| masters.contains(replica))
            .ok_or_else(|| format!("masters {masters:?}"))?;
        for port in self.ports().into_iter().filter(|port| self.is_live(*port)) {
            self.says_ok(port).await?;
        }
        Ok(promoted)
    }

    /// The replicas the node at `port` last knew of itself, from the config
    /// file it keeps: once it is dead, the live nodes' view has lost the
    /// link, and its former replica is listed as a master like any other.
    fn replicas_of(&self, port: u16) -> Vec<u16> {
        let path = self.dir.0.join(format!("nodes-{port}.conf"));
        let config =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let nodes: Vec<NodeLine> = config.lines().filter_map(NodeLine::parse).collect();
        let id = nodes
            .iter()
            .find(|node| node.flags.contains(&"myself"))
            .map(|node| node.id)
            .unwrap_or_else(|| panic!("{} names no node itself", path.display()));
        nodes
            .iter()
            .filter(|node| node.master_id == id)
            .map(|node| node.port)
            .collect()
    }
}

impl Node {
    fn spawn(port: u16, bus_port: u16, dir: &Path) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus_port.to_string(),
            ])
            .arg("--cluster-config-file")
            .arg(dir.join(format!("nodes-{port}.conf")))
            .args(["--cluster-node-timeout", "1000"])
            // A replica's first sync would wait 5 s for others to share it,
            // and `CLUSTER SLOTS` lists it only once its replication offset
            // moved, which without writes takes the master's next ping to
            // its replicas (every 10 s).
            .args([
                "--repl-diskless-sync-delay",
                "0",
                "--repl-ping-replica-period",
                "1",
            ])
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        Self { port, child }
    }
}

/// A line of `CLUSTER NODES`, or of a node's config file, which holds the
/// same lines: `<id> <ip>:<port>@<bus port> <flags> <master id or -> <ping
/// sent> <pong received> <epoch> <link> <slot ranges>...`.
struct NodeLine<'a> {
    id: &'a str,
    port: u16,
    flags: Vec<&'a str>,
    master_id: &'a str,
    slots: Vec<&'a str>,
}

impl<'a> NodeLine<'a> {
    /// `None` for the config file's last line (`vars ...`).
    fn parse(line: &'a str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (address, _bus) = fields.get(1)?.split_once('@')?;
        Some(Self {
            id: fields[0],
            port: address.rsplit_once(':')?.1.parse().ok()?,
            flags: fields.get(2)?.split(',').collect(),
            master_id: fields.get(3)?,
            slots: fields.get(8..).unwrap_or_default().to_vec(),
        })
    }

    fn is_master(&self) -> bool {
        self.flags.contains(&"master")
    }

    /// Held failed by the majority (`fail`) or by the node asked (`fail?`).
    fn is_failed(&self) -> bool {
        self.flags.iter().any(|flag| flag.starts_with("fail"))
    }

    fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|range| {
            // `[slot->-id]` and `[slot-<-id]` are slots moving, not served.
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            match (first.parse::<u16>(), last.parse::<u16>()) {
                (Ok(first), Ok(last)) => (first..=last).contains(&slot),
                _ => false,
            }
        })
    }
}

/// What `redis-cli` prints for `args` against the server at `port`, reached
/// with `connection` (TLS settings).
async fn cli(port: u16, connection: &[&std::ffi::OsStr], args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(connection)
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .await
        .expect("redis-cli is installed with redis-server");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `count` free ports on 127.0.0.1, no two alike.
fn free_ports(count: usize) -> Vec<u16> {
    (0..count).map(|_| free_port()).collect()
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
