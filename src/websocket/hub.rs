//! The connections this process holds, and the handle that pushes to them:
//! [`Connections`].

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::registry::ConnectionInfo;

/// What a connection's task is asked to do from outside.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this frame.
    Frame(Message),
    /// Close with this code and reason, then run `$disconnect`.
    Close(u16, &'static str),
}

/// The live state of one connection, shared by its task and the hub.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    pub(crate) id: Arc<str>,
    pub(crate) connected_at: Duration,
    pub(crate) connected_mono: Instant,
    /// Nanoseconds from `connected_mono` to the last frame from the client.
    pub(crate) last_active: AtomicU64,
    pub(crate) source_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl ConnectionState {
    pub(crate) fn touch(&self, now: Instant) {
        let nanos = now
            .saturating_duration_since(self.connected_mono)
            .as_nanos();
        self.last_active
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn idle_since(&self) -> Duration {
        Duration::from_nanos(self.last_active.load(Ordering::Relaxed))
    }

    pub(crate) fn info(&self) -> ConnectionInfo {
        let mut info = ConnectionInfo::new(&*self.id, self.connected_at);
        info.last_active_at = self.connected_at + self.idle_since();
        info.source_ip.clone_from(&self.source_ip);
        info.user_agent.clone_from(&self.user_agent);
        info
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Local {
    pub(crate) tx: mpsc::Sender<Outbound>,
    pub(crate) state: Arc<ConnectionState>,
}

const SHARDS: usize = 32;

type Shard = HashMap<Arc<str>, Local>;

/// The connections of this process, sharded so that connects, closes and
/// pushes on different connections rarely meet on a lock.
pub(crate) struct Hub {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.len())
            .finish()
    }
}

impl Hub {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, id: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(id) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, local: Local) {
        self.shard(&local.state.id)
            .insert(local.state.id.clone(), local);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.shard(id).remove(id);
    }

    pub(crate) fn get(&self, id: &str) -> Option<Local> {
        self.shard(id).get(id).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Every connection's sender, copied out so no lock is held while sending.
    pub(crate) fn senders(&self) -> Vec<mpsc::Sender<Outbound>> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            all.extend(shard.values().map(|l| l.tx.clone()));
        }
        all
    }

    pub(crate) fn ids(&self) -> Vec<String> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            all.extend(shard.keys().map(|id| id.to_string()));
        }
        all
    }
}

/// Why a push did not reach a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The connection is unknown to this process, or closed (`@connections`
    /// answers 410 Gone).
    #[error("the connection is gone")]
    Gone,
    /// The connection's outbound queue is full: the client reads slower than
    /// it is sent to (`@connections` answers 429).
    #[error("the connection's outbound queue is full")]
    Full,
}

/// The Rust handle for pushing to connections from the same process: what
/// `POST @connections/{id}` does, without HTTP. Cheap to clone.
///
/// Sends never wait: each connection has a bounded outbound queue
/// ([`outbound_queue`](super::WebSocketApiBuilder::outbound_queue)), and a
/// full queue is [`PushError::Full`].
#[derive(Clone, Debug)]
pub struct Connections {
    pub(crate) hub: Arc<Hub>,
}

impl Connections {
    /// Sends a text message to the connection `id`.
    pub fn send_text(&self, id: &str, text: impl Into<String>) -> Result<(), PushError> {
        self.send(id, Message::Text(Utf8Bytes::from(text.into())))
    }

    /// Sends a binary message to the connection `id`.
    pub fn send_binary(&self, id: &str, data: impl Into<Bytes>) -> Result<(), PushError> {
        self.send(id, Message::Binary(data.into()))
    }

    /// Sends `message` to the connection `id`.
    pub fn send(&self, id: &str, message: Message) -> Result<(), PushError> {
        let local = self.hub.get(id).ok_or(PushError::Gone)?;
        push(&local.tx, Outbound::Frame(message))
    }

    /// Sends a text message to every connection; answers how many accepted
    /// it. The text is shared, not copied, between connections.
    #[must_use = "the count tells how many connections were reached"]
    pub fn broadcast_text(&self, text: impl Into<String>) -> usize {
        let text = Utf8Bytes::from(text.into());
        self.hub
            .senders()
            .iter()
            .filter(|tx| push(tx, Outbound::Frame(Message::Text(text.clone()))).is_ok())
            .count()
    }

    /// Closes the connection `id` (close code 1000); `$disconnect` runs.
    pub fn close(&self, id: &str) -> Result<(), PushError> {
        let local = self.hub.get(id).ok_or(PushError::Gone)?;
        push(&local.tx, Outbound::Close(1000, ""))
    }

    /// What `GET @connections/{id}` answers, for a connection of this
    /// process.
    #[must_use]
    pub fn info(&self, id: &str) -> Option<ConnectionInfo> {
        self.hub.get(id).map(|local| local.state.info())
    }

    /// The ids of this process's connections.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.hub.ids()
    }

    /// How many connections this process holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hub.len()
    }

    /// Whether this process holds no connection.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn push(tx: &mpsc::Sender<Outbound>, outbound: Outbound) -> Result<(), PushError> {
    tx.try_send(outbound).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => PushError::Full,
        mpsc::error::TrySendError::Closed(_) => PushError::Gone,
    })
}
