//! The backend's body on a miss: passed through frame by frame, and copied
//! aside up to the item limit so the response can be stored when it ends.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::cache_key::CacheKey;
use super::service::Shared;
use super::store::{Entry, FlightGuard, Outcome};

pin_project! {
    /// The body of a response the backend sent through the cache: the
    /// backend's body, untouched, frame by frame.
    ///
    /// When the response may be stored, each data frame is also copied aside
    /// while the total stays within the item limit; when the body ends the
    /// copy is stored. Nothing is read ahead of the client, and a body that
    /// outgrows the limit stops being copied and streams on untouched, so at
    /// most the item limit is ever held per response.
    pub struct CacheBody<B> {
        #[pin]
        inner: B,
        // Boxed: a hit's body (no recorder) stays small to move.
        recorder: Option<Box<Recorder>>,
    }
}

impl<B> CacheBody<B> {
    /// A body passed through without recording.
    pub(crate) fn pass(inner: B) -> Self {
        Self {
            inner,
            recorder: None,
        }
    }

    pub(crate) fn record(inner: B, recorder: Recorder) -> Self {
        Self {
            inner,
            recorder: Some(Box::new(recorder)),
        }
    }

    /// Whether the body is still being copied for the cache.
    #[must_use]
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }
}

/// axum's body: a body passed through is the inner body itself (not boxed
/// again); one being copied for the cache is boxed, so the copy still sees
/// every frame. See `GatewayBody`'s conversion, which this completes.
#[cfg(feature = "axum")]
impl<B> From<CacheBody<B>> for axum_core::body::Body
where
    B: Body<Data = Bytes> + Into<axum_core::body::Body> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    fn from(body: CacheBody<B>) -> Self {
        if body.recorder.is_none() {
            body.inner.into()
        } else {
            Self::new(body)
        }
    }
}

/// An empty pass-through body, so outer layers that need `Default` bodies
/// (tower-http's CORS, which answers preflights itself) compose with the cache.
impl<B: Default> Default for CacheBody<B> {
    fn default() -> Self {
        Self::pass(B::default())
    }
}

impl<B: fmt::Debug> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBody")
            .field("inner", &self.inner)
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

/// What a miss needs to store its response once the body has been read.
pub(crate) struct Recorder {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: CacheKey,
    /// The entry, with an empty body until the end.
    pub(crate) entry: Entry,
    pub(crate) buffer: BytesMut,
    pub(crate) first: Option<Bytes>,
    pub(crate) flight: Option<FlightGuard>,
}

impl Recorder {
    /// Copies a chunk; `false` when the body has outgrown the item limit.
    fn push(&mut self, data: &Bytes) -> bool {
        let size = self.buffered() + data.len();
        if size > self.shared.max_item_size {
            return false;
        }
        // One chunk is kept as is until the end (copied once there); more
        // are joined.
        match (&self.first, self.buffer.is_empty()) {
            (None, true) => self.first = Some(data.clone()),
            (Some(first), true) => {
                self.buffer.reserve(size);
                self.buffer.extend_from_slice(first);
                self.buffer.extend_from_slice(data);
                self.first = None;
            }
            _ => self.buffer.extend_from_slice(data),
        }
        true
    }

    fn buffered(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.buffer.len()
    }

    /// Stores the response and tells the waiters.
    pub(crate) fn finish(mut self) {
        let body = match self.first.take() {
            // A copy: a single chunk may be a slice of a much larger buffer
            // (hyper's read buffer), which the entry would keep alive.
            Some(first) => Bytes::copy_from_slice(&first),
            None => std::mem::take(&mut self.buffer).freeze(),
        };
        let mut entry = self.entry;
        entry.weight = weight(&entry, body.len() + self.key.len());
        entry.body = body;
        let stored_at = entry.stored_at;
        let entry = Arc::new(entry);
        self.shared
            .store
            .insert(self.key.clone(), &entry, stored_at);
        if let Some(flight) = self.flight.take() {
            flight.complete(Outcome::Stored(entry));
        }
    }

    /// Gives up storing; the waiters fetch for themselves.
    fn abandon(mut self) {
        if let Some(flight) = self.flight.take() {
            flight.complete(Outcome::NotStored);
        }
    }
}

/// An entry's weight: body, headers and a fixed overhead, in bytes.
pub(crate) fn weight(entry: &Entry, body_len: usize) -> u32 {
    const OVERHEAD: usize = 256;
    let headers: usize = entry
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    u32::try_from(body_len + headers + OVERHEAD + entry.info.path.len()).unwrap_or(u32::MAX)
}

impl<B> Body for CacheBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        let Some(mut recorder) = this.recorder.take() else {
            return Poll::Ready(frame);
        };
        match &frame {
            None => recorder.finish(),
            Some(Ok(frame)) => match frame.data_ref() {
                Some(data) if recorder.push(data) => *this.recorder = Some(recorder),
                // Over the limit; or trailers, which are not stored.
                _ => recorder.abandon(),
            },
            Some(Err(_)) => recorder.abandon(),
        }
        // hyper stops polling once the body says it has ended.
        if this.recorder.is_some()
            && this.inner.is_end_stream()
            && let Some(recorder) = this.recorder.take()
        {
            recorder.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
