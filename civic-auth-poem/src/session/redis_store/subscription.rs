//! The task that hears the change reports every machine publishes. A
//! cluster carries a `PUBLISH` to all its nodes, so one subscription to any
//! node hears them all; when that node fails, the next one is tried.
//!
//! A node that answers is not always one that hears: one cut off from the
//! cluster, or reset out of it, still answers and takes subscriptions. So
//! every second the task publishes a heartbeat the way sessions' reports are
//! published, and counts as hearing only while each comes back in time.

use std::time::Duration;

use futures_util::StreamExt as _;

use super::connection::{Connection, COMMAND_TIMEOUT};
use crate::{random::random_value, session::store::StoreChanges};

/// How often a heartbeat is published: a subscription that stopped hearing
/// is noticed within two of these (a heartbeat must be back before the next).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// What starts a heartbeat's payload; session ids never hold a `:`.
const HEARTBEAT: &str = "heartbeat:";
/// How long to wait before subscribing again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(200);

/// Hears `channel` while it lives; stops when dropped.
pub(super) struct Subscription(tokio::task::JoinHandle<()>);

impl Subscription {
    /// Subscribes through `nodes` in turn, for as long as the store lives,
    /// subscribing again whenever the connection drops; `changes` says when
    /// the reports are heard.
    pub(super) fn start(
        nodes: Vec<redis::Client>,
        connection: Connection,
        channel: &'static str,
        changes: StoreChanges,
    ) -> Self {
        Self(tokio::spawn(async move {
            for node in nodes.iter().cycle() {
                if let Err(error) = hear(node, &connection, channel, &changes).await {
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

/// One subscription, until its connection fails or a heartbeat published
/// through `connection` is not heard back in time.
async fn hear(
    node: &redis::Client,
    connection: &Connection,
    channel: &str,
    changes: &StoreChanges,
) -> Result<(), redis::RedisError> {
    let connect = tokio::time::timeout(COMMAND_TIMEOUT, node.get_async_pubsub());
    let mut pubsub = connect.await.map_err(|_| timed_out())??;
    pubsub.subscribe(channel).await?;
    let mut stream = pubsub.into_on_message();
    changes.set_connected(true);
    let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
    beat.tick().await;
    // The heartbeat published last, until it is heard.
    let mut awaited: Option<String> = None;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => match message.get_payload::<String>() {
                    Ok(payload) if payload.starts_with(HEARTBEAT) => {
                        if awaited.as_deref() == Some(payload.as_str()) {
                            awaited = None;
                        }
                    }
                    Ok(id) => changes.changed(&id),
                    Err(_) => {}
                },
                None => return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()),
            },
            _ = beat.tick() => {
                if awaited.is_some() {
                    return Err(timed_out());
                }
                let payload = format!("{HEARTBEAT}{}", random_value());
                let mut connection = connection.clone();
                redis::cmd("PUBLISH").arg(channel).arg(&payload).query_async::<()>(&mut connection).await?;
                awaited = Some(payload);
            }
        }
    }
}

fn timed_out() -> redis::RedisError {
    std::io::Error::from(std::io::ErrorKind::TimedOut).into()
}
