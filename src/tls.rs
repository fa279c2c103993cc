//! The one home of client TLS for Postgres and RabbitMQ: which
//! certificate authorities are trusted and how much of the server's
//! certificate is checked. rustls with ring (no OpenSSL), as the Humanitec
//! client already uses.
//!
//! The store reads its choice from `sslmode`/`sslrootcert` in
//! `DATABASE_URL` (as libpq does), the broker from `amqps://` and
//! `AMQP_CA_FILE`; both end up as a [`Verify`] and a [`client_config`].

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How much of the server's certificate is checked.
#[derive(Clone, Debug)]
pub enum Verify {
    /// Encrypt, check nothing (libpq's `prefer` and `require`): protects
    /// against a passive listener only.
    Nothing,
    /// The certificate chains to one of these authorities; any host name
    /// (libpq's `verify-ca`).
    Chain(Arc<RootCertStore>),
    /// The chain, and the certificate names the host connected to
    /// (libpq's `verify-full`, and always for `amqps://`).
    Full(Arc<RootCertStore>),
}

/// Why a trust setting could not be used; names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{setting} `{path}`: {reason}")]
pub struct TrustError {
    pub setting: &'static str,
    pub path: String,
    pub reason: String,
}

/// The authorities of a PEM file (one or more `CERTIFICATE` blocks), for
/// the setting named `setting` in errors.
pub fn roots_from_file(setting: &'static str, path: &Path) -> Result<RootCertStore, TrustError> {
    let fail = |reason: String| TrustError {
        setting,
        // Escaped: a hostile setting must not forge log lines.
        path: path.display().to_string().escape_debug().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot be read ({e})")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("is not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(fail(
            "holds no certificate (expected the CA's `-----BEGIN CERTIFICATE-----` block)".into(),
        ));
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(fail(format!(
            "none of its {ignored} certificate(s) can serve as a certificate authority"
        )));
    }
    Ok(roots)
}

/// The certificates of a PEM file of CAs, checked as [`roots_from_file`]
/// checks them, as DER: for a TLS client that takes certificates rather
/// than a store (SMTP, `NOTIFY_SMTP_CA_FILE`).
pub fn ca_certs_from_file(setting: &'static str, path: &Path) -> Result<Vec<Vec<u8>>, TrustError> {
    roots_from_file(setting, path)?;
    let pem = std::fs::read(path).map_err(|e| TrustError {
        setting,
        path: path.display().to_string().escape_debug().to_string(),
        reason: format!("cannot be read ({e})"),
    })?;
    Ok(CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .collect())
}

/// The public authorities this build carries (Mozilla's list, as the
/// Humanitec client uses): for servers with a publicly signed certificate.
pub fn public_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that checks what `verify` says.
pub fn client_config(verify: &Verify) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match verify {
        Verify::Full(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
        Verify::Chain(roots) => {
            let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider)
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `verify-ca`: the full check, less the host name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the
        // chain passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`/`require`: any certificate, but the handshake's signatures are
/// still checked against it (the session is bound to that key).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a handshake failed, read from rustls' error text anywhere in
/// `chain` (the connection error with its sources): what the operator
/// fixes differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The certificate does not chain to a trusted CA: the CA setting.
    UnknownIssuer,
    /// The certificate does not name the host: the host in the URL.
    WrongName,
    /// Outside its validity period: the server's certificate.
    Expired,
}

impl HandshakeFailure {
    pub fn of(chain: &str) -> Option<HandshakeFailure> {
        if chain.contains("UnknownIssuer") || chain.contains("unknown issuer") {
            Some(HandshakeFailure::UnknownIssuer)
        } else if chain.contains("NotValidForName") || chain.contains("not valid for name") {
            Some(HandshakeFailure::WrongName)
        } else if chain.contains("xpired") || chain.contains("not valid yet") {
            Some(HandshakeFailure::Expired)
        } else {
            None
        }
    }

    pub fn why(self) -> &'static str {
        match self {
            HandshakeFailure::UnknownIssuer => {
                "the server's certificate is not signed by a trusted certificate authority"
            }
            HandshakeFailure::WrongName => {
                "the server's certificate does not name the host connected to"
            }
            HandshakeFailure::Expired => "the server's certificate has expired or is not valid yet",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_names_the_setting() {
        let missing = roots_from_file("AMQP_CA_FILE", Path::new("/nonexistent/ca.pem"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            missing.starts_with("AMQP_CA_FILE `/nonexistent/ca.pem`: cannot be read"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("tls-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).ok();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").ok();
        let text = roots_from_file("sslrootcert", &empty)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            text.contains("sslrootcert") && text.contains("holds no certificate"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn every_mode_builds_a_configuration() {
        let roots = Arc::new(public_roots());
        assert!(!roots.is_empty());
        for verify in [
            Verify::Nothing,
            Verify::Chain(roots.clone()),
            Verify::Full(roots),
        ] {
            assert!(client_config(&verify).is_ok(), "{verify:?}");
        }
    }

    #[test]
    fn handshake_failures_are_told_apart() {
        use HandshakeFailure::*;
        let of = HandshakeFailure::of;
        assert_eq!(
            of("invalid peer certificate: UnknownIssuer"),
            Some(UnknownIssuer)
        );
        assert_eq!(
            of("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
            Some(WrongName)
        );
        assert_eq!(
            of("invalid peer certificate: certificate expired: ..."),
            Some(Expired)
        );
        assert_eq!(of("connection refused"), None);
    }
}
