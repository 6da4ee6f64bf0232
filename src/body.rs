//! The response body of every layer: the inner service's body, or a rejection.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of this crate's layers: either the inner service's
    /// body, untouched, or a complete body the layer produced (a rejection, a
    /// cached response).
    ///
    /// It works for any inner body whose `Data` is [`Bytes`] (axum, hyper,
    /// tonic, tower-http bodies), and keeps the inner body's error type, so
    /// stacking layers never changes how errors flow.
    #[derive(Debug)]
    pub struct GatewayBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    // The complete body is boxed: a `Bytes` is 32 bytes, and inline it made
    // every response 24 bytes larger than the inner service's (40 against 16
    // bytes for axum's body), so each move of a response became a `memcpy`
    // call. Boxed, the variant fits beside the inner body's niche and
    // `GatewayBody<B>` is as small as `B` for boxed bodies (axum's, tonic's,
    // `UnsyncBoxBody`); the price is one allocation per complete body that
    // is not empty.
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { data: Option<Box<Bytes>> },
    }
}

impl<B> GatewayBody<B> {
    /// Wraps the inner service's body.
    #[must_use]
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// A complete body.
    #[must_use]
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then(|| Box::new(data)),
            },
        }
    }

    /// An empty body.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full { data: None },
        }
    }

    /// Whether this body was produced by a layer rather than the inner service.
    #[must_use]
    pub fn is_full(&self) -> bool {
        matches!(self.kind, Kind::Full { .. })
    }
}

impl<B> From<Bytes> for GatewayBody<B> {
    fn from(data: Bytes) -> Self {
        Self::full(data)
    }
}

impl<B: Default> Default for GatewayBody<B> {
    fn default() -> Self {
        Self::new(B::default())
    }
}

impl<B> Body for GatewayBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(*data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}

/// axum's body, without boxing the inner service's body again: a
/// `GatewayBody<axum::body::Body>` (at any depth of layers) becomes the axum
/// body it holds, and only a layer's own complete body is converted. Use it
/// where a server wants one body type: `response.map(Body::from)` instead of
/// `response.map(Body::new)`, which boxes every response.
#[cfg(feature = "axum")]
impl<B> From<GatewayBody<B>> for axum_core::body::Body
where
    B: Into<axum_core::body::Body>,
{
    fn from(body: GatewayBody<B>) -> Self {
        match body.kind {
            Kind::Inner { body } => body.into(),
            Kind::Full { data: Some(data) } => Self::from(*data),
            Kind::Full { data: None } => Self::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn full_body_yields_its_bytes_once_with_an_exact_size_hint() {
        let body = GatewayBody::<Full<Bytes>>::full("hello");
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    }

    #[tokio::test]
    async fn empty_body_is_at_end_of_stream() {
        let body = GatewayBody::<Full<Bytes>>::empty();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }

    #[test]
    fn a_boxed_inner_body_costs_no_extra_size() {
        // The complete-body variant lives beside the inner body's niche.
        type Boxed = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;
        assert_eq!(size_of::<GatewayBody<Boxed>>(), size_of::<Boxed>());
        #[cfg(feature = "axum")]
        assert_eq!(
            size_of::<GatewayBody<axum::body::Body>>(),
            size_of::<axum::body::Body>()
        );
        // Any inner body: at most one word more than the larger variant.
        assert!(size_of::<GatewayBody<Full<Bytes>>>() <= size_of::<Full<Bytes>>() + 8);
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn into_axum_body_unwraps_the_inner_body_at_any_depth() {
        use axum_core::body::Body as AxumBody;
        type Two = GatewayBody<GatewayBody<AxumBody>>;
        let inner = Two::new(GatewayBody::new(AxumBody::from("inner")));
        let body = AxumBody::from(inner);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "inner");
        let middle = Two::new(GatewayBody::full("problem"));
        assert_eq!(
            AxumBody::from(middle).collect().await.unwrap().to_bytes(),
            "problem"
        );
        let empty = AxumBody::from(Two::empty());
        assert!(empty.is_end_stream());
        assert!(empty.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn inner_body_passes_through() {
        let body = GatewayBody::new(Full::new(Bytes::from_static(b"inner")));
        assert!(!body.is_full());
        assert_eq!(body.collect().await.unwrap().to_bytes(), "inner");
    }
}
