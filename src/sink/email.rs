//! The `email` sink: digests over SMTP. `smtp://` upgrades with STARTTLS when the server
//! offers it; `smtps://` is TLS from the first byte. Certificates are checked.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::deliver::Digests;
use super::digest::Digest;
use crate::policy::sink::SmtpServer;

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
        let SmtpServer {
            implicit_tls,
            host,
            port,
        } = SmtpServer::parse(smtp)?;
        let tls_parameters =
            TlsParameters::new(host.clone()).map_err(|e| format!("smtp {smtp:?}: {e}"))?;
        let tls = if implicit_tls {
            Tls::Wrapper(tls_parameters)
        } else {
            Tls::Opportunistic(tls_parameters)
        };
        let mut builder = SmtpTransport::builder_dangerous(&host)
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
