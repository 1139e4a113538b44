//! A tower layer around the kube client's HTTP stack that records every API request in
//! `coredns_kubernetes_rest_client_*` (method, status code, host, time to the response
//! headers, as client-go measures it).

use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::cluster::metrics::RestClientMetrics;

/// The layer: `host` is the API server's `host[:port]` (requests at this point of the stack
/// carry only their path).
#[derive(Clone, Debug)]
pub struct RestMetricsLayer {
    /// Where to count.
    pub metrics: RestClientMetrics,
    /// The `host` label.
    pub host: String,
}

impl<S> Layer<S> for RestMetricsLayer {
    type Service = Instrumented<S>;

    fn layer(&self, inner: S) -> Instrumented<S> {
        Instrumented {
            inner,
            metrics: self.metrics.clone(),
            host: self.host.clone(),
        }
    }
}

/// The service the layer makes.
#[derive(Clone, Debug)]
pub struct Instrumented<S> {
    inner: S,
    metrics: RestClientMetrics,
    host: String,
}

impl<S, RequestBody, ResponseBody> Service<Request<RequestBody>> for Instrumented<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResponseBody: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let method = request.method().as_str().to_owned();
        let (metrics, host) = (self.metrics.clone(), self.host.clone());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "<error>".to_string(),
            };
            metrics.observe(&method, &code, &host, started.elapsed().as_secs_f64());
            result
        })
    }
}
