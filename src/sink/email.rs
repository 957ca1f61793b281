//! The `email` sink: digests over SMTP. `smtp://` upgrades with STARTTLS when the server
//! offers it; `smtps://` is TLS from the first byte. Certificates are checked.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::deliver::Digests;
use super::digest::Digest;

pub struct Email {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    pub fn new(
        smtp: &str,
        from: &str,
        to: &[String],
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<Email, String> {
        let (implicit_tls, rest) = if let Some(rest) = smtp.strip_prefix("smtps://") {
            (true, rest)
        } else if let Some(rest) = smtp.strip_prefix("smtp://") {
            (false, rest)
        } else {
            return Err(format!("smtp {smtp:?} must start with smtp:// or smtps://"));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("smtp {smtp:?}: bad port {port:?}"))?,
            ),
            None => (rest, if implicit_tls { 465 } else { 587 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let tls_parameters =
            TlsParameters::new(host.to_owned()).map_err(|e| format!("smtp {smtp:?}: {e}"))?;
        let tls = if implicit_tls {
            Tls::Wrapper(tls_parameters)
        } else {
            Tls::Opportunistic(tls_parameters)
        };
        let mut builder = SmtpTransport::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("e-mail address {a:?}: {e}"))
        };
        Ok(Email {
            transport: builder.build(),
            from: mailbox(from)?,
            to: to.iter().map(|a| mailbox(a)).collect::<Result<_, _>>()?,
        })
    }
}

impl Digests for Email {
    fn send(&mut self, digest: &Digest) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(&digest.subject)
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .body(digest.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(&message)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
