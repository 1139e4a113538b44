//! A tower layer around the kube client's HTTP stack that caps the lines of watch responses.
//!
//! kube reads a watch stream with tokio-util's `LinesCodec` and no maximum, so an API server (or
//! anything in between) that sends bytes without a newline makes it buffer them without end.
//! kube offers no hook there; this layer sees the response body before kube does. Past
//! [`MAX_WATCH_LINE`] bytes without a newline, the body ends in [`LineTooLong`] and drops the
//! connection: the watcher takes it as any stream error and watches again.

use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, FutureExt};
use http::{Request, Response};
use hyper::body::{Body, Bytes, Frame, SizeHint};
use thiserror::Error;
use tower::{Layer, Service};

/// The longest watch line (one event: an object and its type) kept: 16 MiB. etcd refuses
/// objects over 1.5 MiB, so a real event is at most a tenth of it.
pub const MAX_WATCH_LINE: usize = 16 << 20;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A watch response sent more than [`MAX_WATCH_LINE`] bytes without a newline.
#[derive(Debug, Error)]
#[error("a watch event longer than {max} bytes without a newline")]
pub struct LineTooLong {
    /// The cap.
    pub max: usize,
}

impl LineTooLong {
    /// Whether `error`, or any error it wraps (in kube's and std's wrappers), is this one.
    pub fn is_cause_of(error: &(dyn StdError + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(e) = next {
            if e.is::<LineTooLong>() {
                return true;
            }
            // `io::Error::source` skips the error it wraps: look at that one.
            next = match e.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
                None => e.source(),
            };
        }
        false
    }
}

/// The layer: caps lines at `max` bytes on watch requests (`watch=true`), passes others as
/// they are.
#[derive(Clone, Copy, Debug)]
pub struct LineCapLayer {
    /// The cap ([`MAX_WATCH_LINE`] in the server).
    pub max: usize,
}

impl<S> Layer<S> for LineCapLayer {
    type Service = LineCap<S>;

    fn layer(&self, inner: S) -> LineCap<S> {
        LineCap {
            inner,
            max: self.max,
        }
    }
}

/// The service the layer makes.
#[derive(Clone, Debug)]
pub struct LineCap<S> {
    inner: S,
    max: usize,
}

fn is_watch<B>(request: &Request<B>) -> bool {
    request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"))
}

impl<S, RequestBody, ResponseBody> Service<Request<RequestBody>> for LineCap<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<CappedBody<ResponseBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let max = is_watch(&request).then_some(self.max);
        self.inner
            .call(request)
            .map(move |result| {
                result.map(|response| {
                    response.map(|body| CappedBody {
                        inner: Some(body),
                        max,
                        run: 0,
                    })
                })
            })
            .boxed()
    }
}

/// A response body whose runs of bytes without a newline are at most `max` long (no cap when
/// `max` is None). Past it, one [`LineTooLong`] error, then the end; the inner body, and with
/// it the connection, is dropped.
#[derive(Debug)]
pub struct CappedBody<B> {
    inner: Option<B>,
    max: Option<usize>,
    /// Bytes since the last newline.
    run: usize,
}

impl<B> CappedBody<B> {
    /// Count `data`; false if a line went past the cap.
    fn count(&mut self, data: &[u8]) -> bool {
        let Some(max) = self.max else {
            return true;
        };
        let mut pieces = data.split(|b| *b == b'\n');
        let last = pieces.next_back().map_or(0, <[u8]>::len);
        for piece in pieces {
            if self.run + piece.len() > max {
                return false;
            }
            self.run = 0;
        }
        self.run += last;
        self.run <= max
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref()
            && !this.count(data)
        {
            this.inner = None;
            let max = this.max.unwrap_or_default();
            return Poll::Ready(Some(Err(Box::new(LineTooLong { max }))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(max: usize) -> CappedBody<http_body_util::Empty<Bytes>> {
        CappedBody {
            inner: Some(http_body_util::Empty::new()),
            max: Some(max),
            run: 0,
        }
    }

    #[test]
    fn runs_without_a_newline_are_counted_across_chunks() {
        let mut body = capped(4);
        assert!(body.count(b"ab"));
        assert!(body.count(b"cd\nabcd\nab"));
        assert!(body.count(b"cd"));
        assert!(!body.count(b"e"));
        let mut body = capped(4);
        assert!(!body.count(b"a\nabcde\nb"), "a long line inside one chunk");
        let mut body = capped(4);
        assert!(body.count(b"abc"));
        assert!(!body.count(b"de\n"), "the run before the first newline");
    }

    #[test]
    fn the_error_is_found_through_kube_and_io_wrappers() {
        let ours: BoxError = Box::new(LineTooLong { max: 1 });
        let io = std::io::Error::other(kube::Error::Service(ours));
        let wrapped = kube::runtime::watcher::Error::WatchFailed(kube::Error::ReadEvents(io));
        assert!(LineTooLong::is_cause_of(&wrapped));
        let other = std::io::Error::other("reset");
        assert!(!LineTooLong::is_cause_of(&kube::Error::ReadEvents(other)));
    }
}
