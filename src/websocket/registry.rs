//! What is known about each connection, and where it is kept:
//! [`ConnectionRegistry`] and the in-memory default.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

use crate::calendar::civil_from_days;

/// What `GET @connections/{id}` answers: when the connection was made, when
/// it was last active, and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The connection id.
    pub connection_id: String,
    /// When the connection was made, since the Unix epoch.
    pub connected_at: Duration,
    /// When the client last sent a frame, since the Unix epoch.
    pub last_active_at: Duration,
    /// The client's IP address (`identity.sourceIp`).
    pub source_ip: Option<String>,
    /// The client's `User-Agent` (`identity.userAgent`).
    pub user_agent: Option<String>,
}

impl ConnectionInfo {
    /// A connection made at `connected_at` and not active since.
    #[must_use]
    pub fn new(connection_id: impl Into<String>, connected_at: Duration) -> Self {
        Self {
            connection_id: connection_id.into(),
            connected_at,
            last_active_at: connected_at,
            source_ip: None,
            user_agent: None,
        }
    }

    /// The `GetConnection` answer, as API Gateway writes it:
    /// `{"connectedAt": "2024-01-20T11:54:57.419Z", "identity": {"sourceIp": …,
    /// "userAgent": …}, "lastActiveAt": …}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "connectedAt": iso8601(self.connected_at),
            "identity": {
                "sourceIp": self.source_ip,
                "userAgent": self.user_agent,
            },
            "lastActiveAt": iso8601(self.last_active_at),
        })
    }
}

/// `2024-01-20T11:54:57.419Z`.
pub(crate) fn iso8601(unix: Duration) -> String {
    let secs = unix.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix.subsec_millis()
    )
}

/// A registry that could not be read or written (a shared store that is
/// down). Its text is for logs.
#[derive(Debug, thiserror::Error)]
#[error("connection registry: {0}")]
pub struct RegistryError(pub String);

/// The future of a registry call.
pub type RegistryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 'a>>;

/// Where connections are recorded, so that every gateway node can answer
/// `GET @connections/{id}` and tell a live connection from a gone one.
///
/// [`WebSocketApi`](super::WebSocketApi) registers a connection once the
/// handshake is done and unregisters it when it closes; it never calls the
/// registry per message. Messages are delivered by the node that holds the
/// socket: a registry shared between nodes makes connections visible, not
/// reachable, from the others.
///
/// The default is [`InMemoryConnectionRegistry`]. Implement this trait for
/// a shared store (Redis, DynamoDB, …).
pub trait ConnectionRegistry: Send + Sync + fmt::Debug + 'static {
    /// Records a new connection.
    fn register(&self, info: ConnectionInfo) -> RegistryFuture<'_, ()>;

    /// The connection `id`, or `None` when it is unknown or gone.
    fn lookup<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, Option<ConnectionInfo>>;

    /// Forgets the connection `id`.
    fn unregister<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, ()>;
}

/// The default registry: a map in this process.
#[derive(Debug, Default)]
pub struct InMemoryConnectionRegistry {
    connections: Mutex<HashMap<String, ConnectionInfo>>,
}

impl InMemoryConnectionRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many connections are recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no connection is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnectionInfo>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl ConnectionRegistry for InMemoryConnectionRegistry {
    fn register(&self, info: ConnectionInfo) -> RegistryFuture<'_, ()> {
        self.map().insert(info.connection_id.clone(), info);
        Box::pin(std::future::ready(Ok(())))
    }

    fn lookup<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, Option<ConnectionInfo>> {
        let found = self.map().get(id).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn unregister<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, ()> {
        self.map().remove(id);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_written_as_get_connection_answers() {
        let mut info = ConnectionInfo::new("c1", Duration::from_millis(1_705_751_697_419));
        info.last_active_at = Duration::from_millis(1_705_751_708_326);
        info.source_ip = Some("49.105.91.154".into());
        info.user_agent = Some("ua".into());
        assert_eq!(
            info.to_json(),
            json!({
                "connectedAt": "2024-01-20T11:54:57.419Z",
                "identity": {"sourceIp": "49.105.91.154", "userAgent": "ua"},
                "lastActiveAt": "2024-01-20T11:55:08.326Z",
            })
        );
    }

    #[tokio::test]
    async fn in_memory_registry_forgets_unregistered_connections() {
        let registry = InMemoryConnectionRegistry::new();
        registry
            .register(ConnectionInfo::new("c1", Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(
            registry.lookup("c1").await.unwrap().unwrap().connection_id,
            "c1"
        );
        registry.unregister("c1").await.unwrap();
        assert!(registry.lookup("c1").await.unwrap().is_none());
        assert!(registry.is_empty());
    }
}
