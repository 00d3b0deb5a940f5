//! How the store reaches Redis: one server or a cluster, in plain text or
//! over TLS, read from one URL.

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    Cmd, Pipeline, RedisError, RedisFuture, TlsCertificates, Value,
};

use crate::error::{without_password, Error};

/// How long one Redis command may take before the store counts as down.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command to a cluster may take with its retries: a master that
/// died is replaced within the cluster's node timeout and an election, and a
/// request waits at most this for it before it is answered 503.
const CLUSTER_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Where Redis is, as one URL names it: `redis://` or `rediss://` (TLS) for
/// one server, `redis-cluster://` or `rediss-cluster://` followed by
/// `host:port` of cluster nodes, comma-separated.
pub(super) struct Target {
    /// The URL with any password hidden, for messages.
    shown: String,
    /// Each node's own URL (one for a single server).
    nodes: Vec<String>,
    cluster: bool,
    tls: bool,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Self, Error> {
        let shown = without_password(url);
        let invalid = |reason: &str| Error::InvalidConfig {
            field: "session store",
            value: shown.clone(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("not a URL"))?;
        let (cluster, tls) =
            match scheme {
                "redis" => (false, false),
                "rediss" => (false, true),
                "redis-cluster" => (true, false),
                "rediss-cluster" => (true, true),
                _ => return Err(invalid(
                    "use a `redis://`, `rediss://`, `redis-cluster://` or `rediss-cluster://` URL",
                )),
            };
        let node_scheme = if tls { "rediss" } else { "redis" };
        let nodes = if cluster {
            // Credentials and a path, if any, belong to every node.
            let (credentials, hosts) = match rest.rsplit_once('@') {
                Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
                None => (String::new(), rest),
            };
            // The path, query and fragment too (`/db?protocol=resp3`).
            let (hosts, rest) = hosts.split_at(hosts.find(['/', '?', '#']).unwrap_or(hosts.len()));
            let rest = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("/{rest}")
            };
            let nodes: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|host| !host.is_empty())
                .map(|host| format!("{node_scheme}://{credentials}{host}{rest}"))
                .collect();
            if nodes.is_empty() {
                return Err(invalid("name at least one `host:port` of the cluster"));
            }
            nodes
        } else {
            vec![url.to_owned()]
        };
        for node in &nodes {
            redis::parse_redis_url(node).ok_or_else(|| invalid("not a Redis URL"))?;
        }
        Ok(Self {
            shown,
            nodes,
            cluster,
            tls,
        })
    }

    /// The URL as messages show it (without its password).
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    /// A client per node, built once at start-up: the first connection and
    /// the check of a cluster's certificates use them, and the subscription
    /// to the change reports moves on to the next when one fails.
    pub(super) fn clients(&self, certificates: &Certificates) -> Result<Vec<redis::Client>, Error> {
        if certificates.any() && !self.tls {
            return Err(self.invalid(&"certificates are for TLS: use a `rediss://` URL"));
        }
        self.nodes
            .iter()
            .map(|node| {
                match certificates.for_redis() {
                    Some(certificates) => {
                        redis::Client::build_with_tls(node.as_str(), certificates)
                    }
                    None => redis::Client::open(node.as_str()),
                }
                .map_err(|e| self.invalid(&e))
            })
            .collect()
    }

    /// Connects for commands: a connection manager that reconnects to one
    /// server, or a cluster connection that follows the slots as they move.
    /// `nodes` are [`Self::clients`].
    pub(super) async fn connect(
        &self,
        nodes: &[redis::Client],
        certificates: &Certificates,
    ) -> Result<Connection, Error> {
        let connection = if self.cluster {
            if self.tls {
                self.check_certificates(nodes).await?;
            }
            let mut builder = ClusterClientBuilder::new(self.nodes.iter().map(String::as_str))
                .connection_timeout(COMMAND_TIMEOUT)
                .response_timeout(COMMAND_TIMEOUT)
                .overall_response_timeout(Some(CLUSTER_REQUEST_TIMEOUT))
                .retries(4)
                .min_retry_wait(100)
                .max_retry_wait(800);
            if let Some(certificates) = certificates.for_redis() {
                builder = builder.certs(certificates);
            }
            let client = builder.build().map_err(|e| self.invalid(&e))?;
            let connection = client.get_async_connection().await;
            Connection::Cluster(connection.map_err(|e| self.unavailable(e))?)
        } else {
            let client = nodes[0].clone();
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(COMMAND_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_number_of_retries(1);
            let connection = client.get_connection_manager_with_config(config).await;
            Connection::One(connection.map_err(|e| self.unavailable(e))?)
        };
        Ok(connection)
    }

    /// A TLS handshake with the cluster's nodes in turn, until one
    /// completes: the cluster client reports a first connection's failure as
    /// text, which would hide a certificate that does not match. Nodes that
    /// cannot be reached are left to the cluster client to report.
    async fn check_certificates(&self, nodes: &[redis::Client]) -> Result<(), Error> {
        for node in nodes {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(COMMAND_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT));
            match node
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) if certificate_error(&error).is_some() => {
                    return Err(self.unavailable(error))
                }
                Err(_) => {}
            }
        }
        Ok(())
    }

    fn invalid(&self, reason: &dyn std::fmt::Display) -> Error {
        Error::InvalidConfig {
            field: "session store",
            value: self.shown.clone(),
            reason: reason.to_string(),
        }
    }

    /// A first connection that failed: a certificate that does not match
    /// is the app's setting to mend, anything else Redis being away.
    fn unavailable(&self, error: RedisError) -> Error {
        let advice = match certificate_error(&error) {
            Some(rustls::Error::InvalidCertificate(_)) => "Redis's TLS certificate was not accepted: name the certificate of the authority that signed it (`RedisStore::builder(..).ca_certificate(..)`, `CIVIC_REDIS_CA_CERT` in the examples), and connect by a name the certificate holds",
            Some(_) => "Redis did not accept the app's TLS certificate: give one its `tls-ca-cert-file` signed, with its key (`RedisStore::builder(..).client_certificate(..)`, `CIVIC_REDIS_CLIENT_CERT` and `CIVIC_REDIS_CLIENT_KEY` in the examples)",
            None => return unavailable(error),
        };
        self.invalid(&format!("{advice} ({error})"))
    }
}

/// The TLS handshake's refusal of a certificate, ours or Redis's, behind
/// `error`.
fn certificate_error(error: &RedisError) -> Option<&rustls::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    // The redis crate keeps an I/O error behind an `Arc`, and an I/O error
    // keeps the TLS error as its payload, which `source()` skips.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        let unshared = match error.downcast_ref::<Shared>() {
            Some(shared) => &**shared as &(dyn std::error::Error + 'static),
            None => error,
        };
        let payload = unshared
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map_or(unshared, |payload| {
                payload as &(dyn std::error::Error + 'static)
            });
        if let Some(error) = payload.downcast_ref::<rustls::Error>() {
            use rustls::AlertDescription as Alert;
            // Redis (OpenSSL) refusing the app's certificate, or its absence.
            let refused_ours = |alert: &Alert| {
                matches!(
                    alert,
                    Alert::CertificateRequired
                        | Alert::BadCertificate
                        | Alert::UnsupportedCertificate
                        | Alert::CertificateExpired
                        | Alert::CertificateRevoked
                        | Alert::CertificateUnknown
                        | Alert::UnknownCA
                        | Alert::AccessDenied
                )
            };
            return match error {
                rustls::Error::InvalidCertificate(_) => Some(error),
                rustls::Error::AlertReceived(alert) if refused_ours(alert) => Some(error),
                _ => None,
            };
        }
        source = error.source();
    }
    None
}

/// The certificates of a TLS connection to Redis, in PEM: the authority that
/// signed Redis's (else the system's roots are trusted), and the app's own
/// for servers that ask clients for one.
#[derive(Clone, Default)]
pub(super) struct Certificates {
    pub(super) authority: Option<Vec<u8>>,
    pub(super) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl Certificates {
    fn any(&self) -> bool {
        self.authority.is_some() || self.client.is_some()
    }

    fn for_redis(&self) -> Option<TlsCertificates> {
        self.any().then(|| TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.authority.clone(),
        })
    }
}

/// A connection to one server or to a cluster; cheap to clone, shared by
/// every request.
#[derive(Clone)]
pub(super) enum Connection {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::One(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::One(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::One(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A command error as the store reports it (a cluster without a master for
/// a slot, during a failover, says `CLUSTERDOWN` in it).
pub(super) fn unavailable(error: RedisError) -> Error {
    Error::SessionStoreUnavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TLS errors as the redis crate passes them on (an I/O error holding
    /// rustls's): a certificate refused either way is named, anything else
    /// (another alert, Redis away) is not.
    #[test]
    fn only_certificate_refusals_count_as_the_apps_setting() {
        use rustls::{AlertDescription, CertificateError};
        let tls = |error: rustls::Error| {
            RedisError::from(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
        };
        let named = |error: RedisError| certificate_error(&error).is_some();
        assert!(named(tls(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))));
        assert!(named(tls(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
        ))));
        assert!(!named(tls(rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion
        ))));
        assert!(!named(tls(rustls::Error::HandshakeNotComplete)));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!named(RedisError::from(refused)));
    }

    #[test]
    fn urls_name_one_server_or_a_cluster() {
        let one = Target::parse("rediss://:secret@redis.example:6380/2").unwrap();
        assert!(!one.cluster && one.tls);
        assert_eq!(one.nodes, ["rediss://:secret@redis.example:6380/2"]);
        assert_eq!(one.shown(), "rediss://:***@redis.example:6380/2");

        let cluster =
            Target::parse("redis-cluster://app:pw@10.0.0.1:7000, 10.0.0.2:7001,").unwrap();
        assert!(cluster.cluster && !cluster.tls);
        assert_eq!(
            cluster.nodes,
            [
                "redis://app:pw@10.0.0.1:7000/",
                "redis://app:pw@10.0.0.2:7001/"
            ]
        );
        assert_eq!(
            cluster.shown(),
            "redis-cluster://app:***@10.0.0.1:7000, 10.0.0.2:7001,"
        );
        let tls = Target::parse("rediss-cluster://[::1]:7000").unwrap();
        assert!(tls.cluster && tls.tls);
        assert_eq!(tls.nodes, ["rediss://[::1]:7000/"]);
        let query = Target::parse("redis-cluster://a:1,b:2?protocol=resp3").unwrap();
        assert_eq!(
            query.nodes,
            ["redis://a:1/?protocol=resp3", "redis://b:2/?protocol=resp3"]
        );
        let db = Target::parse("redis-cluster://u:p@w@a:1,b:2/0").unwrap();
        assert_eq!(db.nodes, ["redis://u:p@w@a:1/0", "redis://u:p@w@b:2/0"]);
        assert_eq!(db.shown(), "redis-cluster://u:***@a:1,b:2/0");

        for bad in [
            "localhost:6379",
            "http://redis",
            "redis-cluster://",
            "redis-cluster://,",
        ] {
            let error = Target::parse(bad).err().expect(bad).to_string();
            assert!(error.contains("`session store` is invalid"), "{error}");
        }
        let error = Target::parse("mysql://u:hunter2@db")
            .err()
            .unwrap()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
