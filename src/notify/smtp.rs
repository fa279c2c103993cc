//! Sends an email channel's message: lettre over rustls (ring), STARTTLS
//! required or implicit TLS, so credentials never cross in clear.
//!
//! The server's name is resolved once by the channels' [`PinnedResolver`]
//! (internal addresses refused unless `NOTIFY_ALLOW_PRIVATE_TARGETS`), and
//! lettre connects to an address that passed; the certificate must still
//! name the host the channel gave. Trusted: the public CAs, plus those of
//! `NOTIFY_SMTP_CA_FILE`. What fails is reported as an
//! [`SmtpFailure`](super::email::SmtpFailure), never the server's own text
//! or an address.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::email::{EmailSettings, Security, SmtpFailure};
use super::target::PinnedResolver;

/// Why a message was not sent.
#[derive(Debug)]
pub enum SendError {
    /// The target was refused before any connection (its text says why;
    /// no address).
    Refused(String),
    /// The settings cannot make a message (a stored address no longer
    /// parses): not worth another try.
    Settings(&'static str),
    /// The server or the network.
    Smtp(SmtpFailure),
}

/// Sends email channels' messages.
#[derive(Clone)]
pub struct SmtpSender {
    resolver: PinnedResolver,
    send_timeout: Duration,
    /// DER certificates of `NOTIFY_SMTP_CA_FILE`.
    extra_roots: Arc<Vec<Vec<u8>>>,
}

impl SmtpSender {
    pub fn new(
        resolver: PinnedResolver,
        send_timeout: Duration,
        extra_roots: Arc<Vec<Vec<u8>>>,
    ) -> SmtpSender {
        SmtpSender {
            resolver,
            send_timeout,
            extra_roots,
        }
    }

    /// Sends `subject` and `body` to the channel's recipients; the server's
    /// final reply code. `message_id` is the delivery's id (the same on
    /// every retry: receivers may deduplicate on it).
    pub async fn send(
        &self,
        settings: &EmailSettings,
        password: Option<&SecretString>,
        message_id: uuid::Uuid,
        subject: String,
        body: String,
    ) -> Result<u16, SendError> {
        let message = build(settings, message_id, subject, body)?;
        let tls = self.tls(&settings.host)?;
        let ips = self
            .resolver
            .resolve_host(&settings.host, false)
            .await
            .map_err(|e| SendError::Refused(format!("refused to connect: {e}")))?;
        let mut last = SmtpFailure::Connect;
        // Addresses in turn, but only while none answered: once a server
        // spoke, its answer stands (no second copy through another address).
        for ip in ips {
            let mut transport =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
                    .port(settings.port)
                    .timeout(Some(self.send_timeout))
                    .tls(match settings.security {
                        Security::Starttls => Tls::Required(tls.clone()),
                        Security::Tls => Tls::Wrapper(tls.clone()),
                    });
            if let (Some(user), Some(password)) = (&settings.username, password) {
                transport = transport.credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_string(),
                ));
            }
            let transport = transport.build();
            let sent =
                tokio::time::timeout(self.send_timeout, transport.send(message.clone())).await;
            match sent {
                Ok(Ok(response)) => return Ok(u16::from(response.code())),
                Ok(Err(e)) => match classify(&e) {
                    SmtpFailure::Connect => last = SmtpFailure::Connect,
                    other => return Err(SendError::Smtp(other)),
                },
                Err(_) => return Err(SendError::Smtp(SmtpFailure::Timeout)),
            }
        }
        Err(SendError::Smtp(last))
    }

    /// TLS for `host`: its certificate must name it and chain to a public
    /// CA or one of `NOTIFY_SMTP_CA_FILE`.
    fn tls(&self, host: &str) -> Result<TlsParameters, SendError> {
        let mut builder = TlsParameters::builder(host.to_string())
            .certificate_store(CertificateStore::WebpkiRoots);
        for der in self.extra_roots.iter() {
            let cert = Certificate::from_der(der.clone()).map_err(|_| {
                SendError::Settings("a certificate of NOTIFY_SMTP_CA_FILE is unusable")
            })?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build_rustls()
            .map_err(|_| SendError::Settings("TLS could not be set up for the host"))
    }
}

/// The message: from, to, subject, plain text; every address was checked
/// when the channel was created and is parsed again here.
fn build(
    settings: &EmailSettings,
    message_id: uuid::Uuid,
    subject: String,
    body: String,
) -> Result<Message, SendError> {
    let address = |a: &str| a.parse::<Address>();
    let from = address(&settings.from)
        .map_err(|_| SendError::Settings("the from address does not parse"))?;
    let mut builder = Message::builder()
        .from(Mailbox::new(Some("secret-sync".to_string()), from))
        .subject(subject)
        .message_id(Some(format!("<{message_id}@secret-sync>")))
        .header(ContentType::TEXT_PLAIN);
    for to in &settings.to {
        let to = address(to).map_err(|_| SendError::Settings("a recipient does not parse"))?;
        builder = builder.to(Mailbox::new(None, to));
    }
    builder
        .body(body)
        .map_err(|_| SendError::Settings("the message could not be built"))
}

/// The class of a lettre error (never its text: it may carry the server's
/// words or an address).
fn classify(e: &lettre::transport::smtp::Error) -> SmtpFailure {
    if let Some(code) = e.status() {
        SmtpFailure::Reply(u16::from(code))
    } else if e.is_tls() {
        SmtpFailure::Tls
    } else if e.is_timeout() {
        SmtpFailure::Timeout
    } else if e.is_client() || e.is_response() {
        SmtpFailure::Protocol
    } else {
        SmtpFailure::Connect
    }
}
