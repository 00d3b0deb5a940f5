//! The task that hears the change reports every machine publishes. A
//! cluster carries a `PUBLISH` to all its nodes, so one subscription to any
//! node hears them all; when that node fails, the next one is tried.

use std::time::Duration;

use futures_util::StreamExt as _;

use super::connection::COMMAND_TIMEOUT;
use crate::session::store::StoreChanges;

/// How often the subscription is checked by a ping: a connection that died
/// without closing is noticed within this and the command timeout.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long to wait before subscribing again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(200);

/// Hears `channel` while it lives; stops when dropped.
pub(super) struct Subscription(tokio::task::JoinHandle<()>);

impl Subscription {
    /// Subscribes through `nodes` in turn, for as long as the store lives,
    /// subscribing again whenever the connection drops; `changes` says when
    /// the reports are heard.
    pub(super) fn start(nodes: Vec<redis::Client>, channel: String, changes: StoreChanges) -> Self {
        Self(tokio::spawn(async move {
            for node in nodes.iter().cycle() {
                if let Err(error) = hear(node, &channel, &changes).await {
                    tracing::warn!(%error, "lost Redis's session change reports; asking Redis at every request until they are back");
                }
                changes.set_connected(false);
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            }
        }))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One subscription, until its connection fails.
async fn hear(
    node: &redis::Client,
    channel: &str,
    changes: &StoreChanges,
) -> Result<(), redis::RedisError> {
    let connect = tokio::time::timeout(COMMAND_TIMEOUT, node.get_async_pubsub());
    let mut pubsub = connect.await.map_err(|_| timed_out())??;
    pubsub.subscribe(channel).await?;
    let (mut sink, mut stream) = pubsub.split();
    changes.set_connected(true);
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => {
                    if let Ok(id) = message.get_payload::<String>() {
                        changes.changed(&id);
                    }
                }
                None => return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()),
            },
            _ = ping.tick() => {
                // Subscribed, Redis answers a PING with an array, not a string.
                match tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return Err(error),
                    Err(_) => return Err(timed_out()),
                }
            }
        }
    }
}

fn timed_out() -> redis::RedisError {
    std::io::Error::from(std::io::ErrorKind::TimedOut).into()
}
