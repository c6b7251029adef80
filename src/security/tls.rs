//! TLS for SSL and SASL_SSL listeners, through rustls: Kafka's PEM key and trust stores
//! (`ssl.keystore.type=PEM`), `ssl.client.auth`, `ssl.enabled.protocols`. The files are
//! watched: a connection accepted after they change gets the new certificate, without a
//! restart; connections already open keep theirs.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often the key and trust store files are checked for changes, at most.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: {reason}")]
    Config { key: String, reason: String },
    #[error("reading {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("building the client certificate verifier: {0}")]
    Verifier(String),
}

pub(crate) fn config_error(key: &str, reason: impl Into<String>) -> TlsError {
    TlsError::Config { key: key.to_string(), reason: reason.into() }
}

/// `ssl.client.auth`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Some(ClientAuth::None),
            "requested" => Some(ClientAuth::Requested),
            "required" => Some(ClientAuth::Required),
            _ => None,
        }
    }
}

/// Where PEM text comes from: a file (`*.location`) or the config value itself.
#[derive(Debug, Clone)]
pub enum PemSource {
    File(PathBuf),
    Inline(String),
}

impl PemSource {
    pub(crate) fn read(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::File(p) => std::fs::read(p).map_err(|source| TlsError::Io { path: p.display().to_string(), source }),
            PemSource::Inline(s) => Ok(s.as_bytes().to_vec()),
        }
    }

    fn file(&self) -> Option<&Path> {
        match self {
            PemSource::File(p) => Some(p),
            PemSource::Inline(_) => None,
        }
    }
}

/// A listener's TLS settings, as read from its configs.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The certificate chain and private key (one file, or chain and key inline).
    pub chain: PemSource,
    pub key: PemSource,
    pub truststore: Option<PemSource>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`, as rustls versions.
    pub tls12: bool,
    pub tls13: bool,
}

type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

struct Loaded {
    config: Arc<ServerConfig>,
    fingerprint: Fingerprint,
    checked: Instant,
}

/// A listener's TLS server configuration, rebuilt when its files change.
pub struct TlsContext {
    settings: TlsSettings,
    loaded: Mutex<Loaded>,
    check_interval: Duration,
}

impl TlsContext {
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let fingerprint = fingerprint(&settings);
        let config = build(&settings)?;
        Ok(TlsContext { settings, loaded: Mutex::new(Loaded { config, fingerprint, checked: Instant::now() }), check_interval: RELOAD_CHECK_INTERVAL })
    }

    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }

    /// The configuration for a new connection: rebuilt first if a file changed since it
    /// was built (a rebuild that fails keeps the old one, with a warning).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let mut loaded = self.loaded.lock();
        if loaded.checked.elapsed() >= self.check_interval {
            loaded.checked = Instant::now();
            let now = fingerprint(&self.settings);
            if now != loaded.fingerprint {
                loaded.fingerprint = now;
                match build(&self.settings) {
                    Ok(c) => {
                        tracing::info!("TLS key or trust store changed: new connections use the new certificates");
                        loaded.config = c;
                    }
                    Err(e) => tracing::warn!(error = %e, "TLS key or trust store changed but cannot be loaded; keeping the previous one"),
                }
            }
        }
        loaded.config.clone()
    }
}

fn fingerprint(s: &TlsSettings) -> Fingerprint {
    [Some(&s.chain), Some(&s.key), s.truststore.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(PemSource::file)
        .map(|p| (p.to_path_buf(), std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))))
        .collect()
}

pub(crate) fn certificates(pem: &[u8], key: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..]).collect::<Result<_, _>>().map_err(|e| config_error(key, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(key, "no CERTIFICATE in the PEM text"));
    }
    Ok(certs)
}

/// The certificate chain and private key of a key store.
pub(crate) fn identity(chain: &PemSource, key: &PemSource) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = certificates(&chain.read()?, "ssl.keystore.certificate.chain")?;
    let key_pem = key.read()?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| config_error("ssl.keystore.key", format!("invalid PEM: {e}")))?
        .ok_or_else(|| {
            let encrypted = String::from_utf8_lossy(&key_pem).contains("ENCRYPTED PRIVATE KEY");
            config_error("ssl.keystore.key", if encrypted { "an encrypted private key (ssl.key.password) is not supported: use an unencrypted PKCS#8 key" } else { "no PRIVATE KEY in the PEM text" })
        })?;
    Ok((chain, key))
}

/// The trusted certificates of a trust store.
pub(crate) fn trust_roots(trust: &PemSource) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certificates(&trust.read()?, "ssl.truststore.certificates")? {
        roots.add(c).map_err(|e| config_error("ssl.truststore.location", e.to_string()))?;
    }
    Ok(roots)
}

/// ring builds with a C compiler alone (aws-lc-rs would need cmake on every machine).
#[allow(deprecated)]
pub(crate) fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `ssl.enabled.protocols` as rustls versions, newest first.
pub(crate) fn protocol_versions(tls12: bool, tls13: bool) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if tls12 {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

fn build(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = identity(&s.chain, &s.key)?;
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(&protocol_versions(s.tls12, s.tls13))?;
    let builder = match s.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let trust = s.truststore.as_ref().ok_or_else(|| config_error("ssl.truststore.location", "ssl.client.auth needs a trust store"))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(trust_roots(trust)?), provider);
            let verifier = if auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Verifier(e.to_string()))?)
        }
    };
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_identity(dir: &Path, name: &str) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.join("server.pem"), format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    }

    #[test]
    fn a_changed_key_store_is_used_by_the_next_connection_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        write_identity(dir.path(), "first");
        let file = PemSource::File(dir.path().join("server.pem"));
        let settings = TlsSettings { chain: file.clone(), key: file, truststore: None, client_auth: ClientAuth::None, tls12: true, tls13: true };
        let mut ctx = TlsContext::new(settings).unwrap();
        ctx.check_interval = Duration::ZERO;
        let first = ctx.server_config();
        assert!(Arc::ptr_eq(&first, &ctx.server_config()), "unchanged files: the same configuration");
        // A new certificate (the size differs, so the change is seen whatever the mtime).
        std::thread::sleep(Duration::from_millis(20));
        write_identity(dir.path(), "second-certificate-with-a-longer-name");
        let second = ctx.server_config();
        assert!(!Arc::ptr_eq(&first, &second), "the new certificate is loaded");
        // A file that no longer parses keeps the previous configuration.
        std::fs::write(dir.path().join("server.pem"), "not PEM at all").unwrap();
        assert!(Arc::ptr_eq(&second, &ctx.server_config()));
        assert!(matches!(TlsContext::new(ctx.settings.clone()), Err(TlsError::Config { .. })));
    }
}
