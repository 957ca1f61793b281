//! The TLS side of a check: the roots trusted, and a verifier that remembers what
//! the server presented and why it failed, so an expired or misnamed certificate
//! still tells its expiry (x509-parser reads notAfter).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::PeerCert;

/// The roots a TLS probe trusts: the Mozilla set, plus `ca` (a PEM file) if given.
pub fn load_roots(ca: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("ca {}: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("ca {}: no PEM certificate in it", ca.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("ca {}: {e}", ca.display()))?;
        }
    }
    Ok(roots)
}

/// A fresh configuration per check: no session resumption, so every check times a
/// full handshake, and the verifier's record is this check's own.
pub(super) fn client(
    roots: &Arc<RootCertStore>,
) -> Result<(Arc<ClientConfig>, Arc<Recorder>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("TLS roots: {e}"))?;
    let recorder = Arc::new(Recorder {
        inner,
        seen: Mutex::default(),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    Ok((Arc::new(config), recorder))
}

/// Verifies as webpki does, remembering the end-entity certificate and the verdict, so
/// an expired or misnamed certificate still tells when it expires.
#[derive(Debug)]
pub(super) struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<(CertificateDer<'static>, Option<String>)>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let invalid = verdict.as_ref().err().map(tls_reason);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((end_entity.clone().into_owned(), invalid));
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificate the handshake saw: the verifier's record, else (a session the
/// verifier did not see) the connection's.
pub(super) fn peer_cert(recorder: &Recorder, conn: &rustls::ClientConnection) -> PeerCert {
    let seen = recorder
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let (der, invalid) = match seen {
        Some((der, invalid)) => (Some(der), invalid),
        None => (
            conn.peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned()),
            None,
        ),
    };
    PeerCert {
        expires_ms: der.as_ref().and_then(|d| not_after_ms(d)),
        invalid,
    }
}

/// A certificate's notAfter in ms since the epoch.
pub fn not_after_ms(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp().saturating_mul(1000))
}

pub(super) fn tls_reason(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "certificate expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate not valid for this name".into()
            }
            C::UnknownIssuer => "certificate not trusted (unknown issuer)".into(),
            C::Revoked => "certificate revoked".into(),
            C::BadSignature => "certificate has a bad signature".into(),
            other => format!("certificate invalid: {other:?}"),
        },
        other => other.to_string(),
    }
}
