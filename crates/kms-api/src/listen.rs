//! Serving HTTP/1.1 on a TCP listener, in clear or over TLS (rustls on
//! aws-lc-rs), and the PEM files TLS is configured from. The API's listener
//! (`kms serve`) and the XKS proxy's (`kms xks-proxy`) are this one loop,
//! each with its own handler; the XKS client reads its PEM files here too.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::HttpResponse;

/// The certificates of the PEM file `path`, at least one, as trust roots.
/// `what` names the setting in errors.
pub fn pem_roots(path: &Path, what: &str) -> Result<rustls::RootCertStore, String> {
    let bad = |e: &dyn std::fmt::Display| format!("{what} {}: {e}", path.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate found"));
    }
    Ok(roots)
}

/// A certificate chain and its private key, from PEM files.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Read `cert` (at least one certificate) and `key`; `what` names their
    /// settings in errors.
    pub fn from_pem_files(cert: &Path, key: &Path, what: (&str, &str)) -> Result<Self, String> {
        let bad = |e: &dyn std::fmt::Display| format!("{} {}: {e}", what.0, cert.display());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).map_err(|e| bad(&e))?.collect::<Result<_, _>>().map_err(|e| bad(&e))?;
        if certs.is_empty() {
            return Err(bad(&"no certificate found"));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{} {}: {e}", what.1, key.display()))?;
        Ok(Identity { certs, key })
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("certs", &self.certs.len()).finish_non_exhaustive()
    }
}

/// The rustls provider every TLS configuration of the server uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS acceptor presenting `identity`, HTTP/1.1 by ALPN; with
/// `client_roots`, only clients with a certificate that chains to them.
pub fn tls_acceptor(
    identity: Identity,
    client_roots: Option<rustls::RootCertStore>,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(roots) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS client verification: {e}"))?,
        ),
    };
    let mut sc = builder.with_single_cert(identity.certs, identity.key).map_err(|e| format!("TLS: {e}"))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(sc)))
}

/// Whether a TLS client, its handshake done, is served.
pub type ClientCheck = Arc<dyn Fn(&rustls::ServerConnection) -> bool + Send + Sync>;

/// How [`serve`] serves.
pub struct Listen {
    /// TLS, or clear HTTP.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Most connections open at once; beyond, a new connection is closed at
    /// once (the client sees it closed and retries) rather than queued.
    pub max_connections: Option<usize>,
    /// A check of TLS clients after the handshake (the XKS proxy's subject).
    pub check_client: Option<ClientCheck>,
    /// How long requests in flight at shutdown have to finish.
    pub drain: Duration,
}

/// Serve HTTP/1.1 (keep-alive, a 30 s header timeout, `TCP_NODELAY`) on
/// `listener` until `shutdown` changes, answering each request with
/// `handler(request, peer)`; then let the open connections finish, up to
/// `drain`.
pub async fn serve<H, F>(listener: TcpListener, listen: Listen, handler: H, mut shutdown: watch::Receiver<bool>)
where
    H: Fn(hyper::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let open = listen.max_connections.map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
    tracing::info!(max_connections = ?listen.max_connections, "accepting connections");
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let permit = match &open {
            None => None,
            Some(open) => match open.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    tracing::debug!(%peer, "connection refused: too many open");
                    drop(stream);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let svc = service_fn(move |req| {
            let answer = handler(req, peer);
            async move { Ok::<_, Infallible>(answer.await) }
        });
        match &listen.tls {
            None => {
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let (acceptor, http, watcher) = (acceptor.clone(), http.clone(), graceful.watcher());
                let check = listen.check_client.clone();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    if check.is_some_and(|check| !check(tls.get_ref().1)) {
                        return;
                    }
                    let _ = watcher.watch(http.serve_connection(TokioIo::new(tls), svc)).await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(listen.drain) => tracing::warn!("shutdown timed out; closing remaining connections"),
    }
}
