//! Debian's `redis-server` (7.0) as the session stores' tests meet it, on
//! a free 127.0.0.1 port, without persistence unless asked, and stopped
//! when dropped.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

use crate::free_port;

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
