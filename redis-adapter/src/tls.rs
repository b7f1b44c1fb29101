//! `rediss://`: the redis crate's rustls client, with the certificates checked at `start` (a bad
//! PEM, a key that is not the certificate's, an `#insecure` URL are typed errors there, not a
//! reconnection loop in the task).

use std::fmt;
use std::sync::Arc;

use redis::{Client, ClientTlsConfig, ConnectionAddr, TlsCertificates};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::FleetError;

/// What the builder was given: PEM bytes, checked at `start`.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    pub(crate) roots: Option<Vec<u8>>,
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("TlsOptions")
            .field("root_certificates", &self.roots.is_some())
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsOptions {
    pub(crate) fn is_set(&self) -> bool {
        self.roots.is_some() || self.identity.is_some()
    }
}

fn tls_error(what: &str, e: impl fmt::Display) -> FleetError {
    FleetError::Tls(format!("{what}: {e}"))
}

/// Every certificate of a PEM document; at least one.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, FleetError> {
    let certs =
        CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| tls_error(what, e))?;
    if certs.is_empty() {
        return Err(tls_error(what, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it"));
    }
    Ok(certs)
}

/// The process' rustls crypto provider: ring's, installed as the process default if there is
/// none yet (rustls would install it itself at the first connection when ring is its only
/// provider, and panic there when the process' rustls has two and none was chosen).
fn provider() -> Result<Arc<CryptoProvider>, FleetError> {
    if CryptoProvider::get_default().is_none() {
        // An error means another thread installed one meanwhile: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    CryptoProvider::get_default().cloned().ok_or_else(|| tls_error("rustls", "no crypto provider"))
}

/// The client for a `rediss://` (or `valkeys://`) URL, every certificate checked.
pub(crate) fn client(url: &str, options: &TlsOptions) -> Result<Client, FleetError> {
    let plain = Client::open(url).map_err(|e| FleetError::Url(e.to_string()))?;
    if let ConnectionAddr::TcpTls { insecure: true, .. } = plain.get_connection_info().addr() {
        return Err(FleetError::Tls(
            "#insecure (no certificate verification) is not supported: give the server's CA to \
             tls_root_certificates"
                .to_owned(),
        ));
    }
    let provider = provider()?;
    // The same checks rustls makes when the task connects, made here.
    let mut roots = RootCertStore::empty();
    if let Some(pem) = &options.roots {
        for cert in certificates(pem, "root certificates")? {
            roots.add(cert).map_err(|e| tls_error("root certificates", e))?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("rustls", e))?
        .with_root_certificates(roots);
    if let Some((cert, key)) = &options.identity {
        let chain = certificates(cert, "client certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| tls_error("client key", e))?;
        config.with_client_auth_cert(chain, key).map_err(|e| tls_error("client identity", e))?;
    }
    if !options.is_set() {
        return Ok(plain);
    }
    let certs = TlsCertificates {
        client_tls: options
            .identity
            .clone()
            .map(|(client_cert, client_key)| ClientTlsConfig { client_cert, client_key }),
        root_cert: options.roots.clone(),
    };
    Client::build_with_tls(url, certs).map_err(|e| tls_error("TLS configuration", e))
}
