//! TLS towards another node's listener: its certificate checked against the trust
//! store, its host name checked unless `ssl.endpoint.identification.algorithm` is
//! empty, and this broker's key store presented when the listener asks for one.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::security::tls::{crypto_provider, identity, protocol_versions, trust_roots, PemSource, TlsError};

#[derive(Debug, Clone)]
pub struct ClientTlsSettings {
    pub truststore: PemSource,
    /// The key store (chain, key), presented if the server asks for a certificate.
    pub identity: Option<(PemSource, PemSource)>,
    pub tls12: bool,
    pub tls13: bool,
    /// `ssl.endpoint.identification.algorithm=https` (Kafka's default).
    pub verify_hostname: bool,
}

pub fn client_config(s: &ClientTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = crypto_provider();
    let roots = Arc::new(trust_roots(&s.truststore)?);
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(&protocol_versions(s.tls12, s.tls13))?;
    let builder = if s.verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let chain = WebPkiServerVerifier::builder_with_provider(roots, provider).build().map_err(|e| TlsError::Verifier(e.to_string()))?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
    };
    let config = match &s.identity {
        Some((chain, key)) => {
            let (chain, key) = identity(chain, key)?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The certificate chain checked, the host name not
/// (`ssl.endpoint.identification.algorithm=`, as Kafka allows).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>], server_name: &ServerName<'_>, ocsp: &[u8], now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
