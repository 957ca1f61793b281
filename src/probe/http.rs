//! The shared HTTP(S) client of the probes and the host checks: one GET over a
//! connection fim times itself, so each phase (DNS, TCP connect, TLS handshake, time
//! to first byte) is measured on its own and bounded by what is left of one deadline.
//! An HTTP client crate hides those phases and cannot bound DNS. rustls does the TLS
//! (SNI is the URL's host even when `resolve` sends the connection elsewhere), httparse
//! the response head, x509-parser the peer certificate's expiry. Redirects are not
//! followed: the answer to this one request is what is judged.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;

/// The most body kept (for `contains`); the rest is not read.
pub const MAX_BODY: usize = 1 << 20;
/// The most response head read before the answer is called malformed.
const MAX_HEAD: usize = 64 << 10;

/// Where and how to ask.
#[derive(Clone)]
pub struct Target {
    pub url: url::Url,
    /// Connect here instead of resolving the URL's host (which stays in `Host` and SNI);
    /// without a port, the URL's.
    pub resolve: Option<(IpAddr, Option<u16>)>,
    roots: Arc<RootCertStore>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url.as_str())
            .field("resolve", &self.resolve)
            .finish()
    }
}

/// Each phase's own duration in ms; `None` for a phase not reached (or not needed:
/// no DNS for an address, no TLS for http). `total_ms` runs from the start to the last
/// byte read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub total_ms: Option<f64>,
}

/// The served certificate, as far as the handshake got.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerCert {
    /// Its notAfter, in ms since the epoch.
    pub expires_ms: Option<i64>,
    /// Why it does not verify (expired, wrong name, untrusted), if it does not.
    pub invalid: Option<String>,
}

/// What one GET gave.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    /// Header names in lower case, values lossy.
    pub headers: Vec<(String, String)>,
    /// At most `MAX_BODY` bytes, de-chunked.
    pub body: Vec<u8>,
    pub timings: Timings,
    /// TLS only.
    pub cert: Option<PeerCert>,
    /// Why no complete answer came (no answer, timeout, TLS error, malformed).
    pub error: Option<String>,
}

impl Outcome {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

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

impl Target {
    /// `url` must be http or https with a host.
    pub fn new(
        url: url::Url,
        resolve: Option<(IpAddr, Option<u16>)>,
        ca: Option<&Path>,
    ) -> Result<Target, String> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("url {url}: not an http(s) URL with a host"));
        }
        let roots = Arc::new(load_roots(ca)?);
        Ok(Target {
            url,
            resolve,
            roots,
        })
    }

    /// A fresh configuration per check: no session resumption, so every check times a
    /// full handshake, and the verifier's record is this check's own.
    fn tls(&self) -> Result<(Arc<ClientConfig>, Arc<Recorder>), String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone())
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

    fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }
}

/// One GET of `target`, every phase within `timeout` in all.
pub fn get(target: &Target, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut out = Outcome::default();
    let result = exchange(target, start, deadline, &mut out);
    out.timings.total_ms = Some(ms(start.elapsed()));
    if let Err(e) = result {
        out.error = Some(e);
    }
    out
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn exchange(
    target: &Target,
    start: Instant,
    deadline: Instant,
    out: &mut Outcome,
) -> Result<(), String> {
    let addrs = addresses(target, start, deadline, out)?;
    let stream = connect(&addrs, deadline, out)?;
    let mut sock = Timed { stream, deadline };
    let host = target.url.host_str().unwrap_or_default();
    if target.url.scheme() == "https" {
        let at = Instant::now();
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| format!("TLS: {host}: {e}"))?;
        let (config, recorder) = target.tls()?;
        let mut conn =
            rustls::ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
        let shook = handshake(&mut conn, &mut sock);
        out.cert = Some(peer_cert(&recorder, &conn));
        shook
            .map_err(|e| phase_error("TLS handshake", e, deadline, timeout_of(start, deadline)))?;
        out.timings.tls_ms = Some(ms(at.elapsed()));
        let mut tls = rustls::StreamOwned::new(conn, sock);
        request(target, &mut tls, start, deadline, out)
    } else {
        request(target, &mut sock, start, deadline, out)
    }
}

fn timeout_of(start: Instant, deadline: Instant) -> Duration {
    deadline.duration_since(start)
}

/// The addresses to try: `resolve`, an address in the URL, or DNS on a helper thread
/// (getaddrinfo cannot be bounded; the answer is abandoned at the deadline).
fn addresses(
    target: &Target,
    start: Instant,
    deadline: Instant,
    out: &mut Outcome,
) -> Result<Vec<SocketAddr>, String> {
    let port = target.port();
    if let Some((ip, p)) = target.resolve {
        return Ok(vec![SocketAddr::new(ip, p.unwrap_or(port))]);
    }
    match target.url.host() {
        Some(url::Host::Ipv4(ip)) => return Ok(vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Ipv6(ip)) => return Ok(vec![SocketAddr::new(ip.into(), port)]),
        _ => {}
    }
    let host = target.url.host_str().unwrap_or_default().to_owned();
    let at = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let lookup = host.clone();
    std::thread::Builder::new()
        .name("fim-dns".into())
        .spawn(move || {
            let _ = tx.send(
                (lookup.as_str(), port)
                    .to_socket_addrs()
                    .map(Vec::from_iter),
            );
        })
        .map_err(|e| format!("DNS: cannot start a lookup: {e}"))?;
    let left = deadline.saturating_duration_since(Instant::now());
    let found = rx.recv_timeout(left);
    let elapsed = at.elapsed();
    match found {
        Ok(Ok(addrs)) if !addrs.is_empty() => {
            out.timings.dns_ms = Some(ms(elapsed));
            Ok(addrs)
        }
        Ok(Ok(_)) => Err(format!("DNS: {host}: no address")),
        Ok(Err(e)) => Err(format!("DNS: {host}: {e}")),
        Err(_) => Err(format!(
            "timeout after {} (DNS)",
            humantime::format_duration(timeout_of(start, deadline))
        )),
    }
}

fn connect(
    addrs: &[SocketAddr],
    deadline: Instant,
    out: &mut Outcome,
) -> Result<TcpStream, String> {
    let at = Instant::now();
    let mut last = String::from("no address to connect to");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = "timeout (connect)".into();
            break;
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(stream) => {
                out.timings.connect_ms = Some(ms(at.elapsed()));
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                last = format!("timeout connecting to {addr}");
            }
            Err(e) => last = format!("connect {addr}: {}", plain(&e)),
        }
    }
    Err(last)
}

/// An io error without the "(os error N)" tail.
fn plain(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

fn phase_error(phase: &str, e: io::Error, deadline: Instant, timeout: Duration) -> String {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || Instant::now() >= deadline
    {
        format!(
            "timeout after {} ({phase})",
            humantime::format_duration(timeout)
        )
    } else if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        format!("TLS: {}", tls_reason(tls))
    } else {
        format!("{phase}: {}", plain(&e))
    }
}

fn handshake(conn: &mut rustls::ClientConnection, sock: &mut Timed) -> io::Result<()> {
    while conn.is_handshaking() {
        conn.complete_io(sock)?;
    }
    Ok(())
}

fn request<S: Read + Write>(
    target: &Target,
    stream: &mut S,
    start: Instant,
    deadline: Instant,
    out: &mut Outcome,
) -> Result<(), String> {
    let timeout = timeout_of(start, deadline);
    let url = &target.url;
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fim-probe/{}\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let sent = Instant::now();
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| phase_error("sending the request", e, deadline, timeout))?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16 * 1024];
    let head_len = loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err("connection closed without an answer".into()),
            Ok(0) => return Err("connection closed in the response head".into()),
            Ok(n) => n,
            Err(e) => return Err(phase_error("waiting for the answer", e, deadline, timeout)),
        };
        if buf.is_empty() {
            out.timings.ttfb_ms = Some(ms(sent.elapsed()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                out.status = response.code;
                out.headers = response
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break len;
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("response head too large".into()),
            Err(e) => return Err(format!("malformed answer: {e}")),
        }
    };
    let mut body = buf.split_off(head_len);
    let length: Option<usize> = out
        .header("content-length")
        .and_then(|v| v.trim().parse().ok());
    let chunked = out
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let no_body = matches!(out.status, Some(204 | 304) | Some(100..=199));
    let wanted = if no_body { Some(0) } else { length };
    while !complete(&body, wanted, chunked) && body.len() < MAX_BODY {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            // A TLS peer closing without close_notify ends the body like EOF.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(phase_error("reading the body", e, deadline, timeout)),
        }
    }
    out.body = if chunked { dechunk(&body) } else { body };
    out.body.truncate(wanted.unwrap_or(MAX_BODY).min(MAX_BODY));
    Ok(())
}

fn complete(body: &[u8], wanted: Option<usize>, chunked: bool) -> bool {
    match wanted {
        Some(n) => body.len() >= n,
        None => {
            chunked
                && (body.starts_with(b"0\r\n")
                    || memchr::memmem::find(body, b"\r\n0\r\n\r\n").is_some())
        }
    }
}

/// The data of a chunked body, as far as it is well formed.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    while let Some(eol) = memchr::memmem::find(raw, b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else {
            break;
        };
        raw = &raw[eol + 2..];
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if take < size || raw.len() < size + 2 {
            break;
        }
        raw = &raw[size + 2..];
    }
    out
}

/// A socket whose every read and write waits at most until the deadline.
struct Timed {
    stream: TcpStream,
    deadline: Instant,
}

impl Timed {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            Ok(left)
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Verifies as webpki does, remembering the end-entity certificate and the verdict, so
/// an expired or misnamed certificate still tells when it expires.
#[derive(Debug)]
struct Recorder {
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
fn peer_cert(recorder: &Recorder, conn: &rustls::ClientConnection) -> PeerCert {
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

fn tls_reason(e: &rustls::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server answering each connection with `answer` after reading the request.
    fn serve(answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(answer);
            }
        });
        port
    }

    fn target(url: &str) -> Target {
        Target::new(url::Url::parse(url).unwrap(), None, None).unwrap()
    }

    #[test]
    fn a_chunked_answer_is_read_and_timed() {
        let port = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        );
        let out = get(
            &target(&format!("http://127.0.0.1:{port}/x?y=1")),
            Duration::from_secs(5),
        );
        assert_eq!(out.error, None);
        assert_eq!(out.status, Some(200));
        assert_eq!(out.body, b"hello world");
        let t = out.timings;
        assert!(t.dns_ms.is_none() && t.tls_ms.is_none());
        assert!(t.connect_ms.is_some() && t.ttfb_ms.is_some());
        assert!(t.total_ms.unwrap() >= t.ttfb_ms.unwrap());
    }

    #[test]
    fn a_silent_server_times_out_within_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let out = get(
            &target(&format!("http://127.0.0.1:{port}/")),
            Duration::from_millis(300),
        );
        assert!(started.elapsed() < Duration::from_millis(800));
        assert_eq!(out.status, None);
        assert!(
            out.error.unwrap().contains("timeout"),
            "waiting for the answer"
        );
        drop(listener);
    }

    #[test]
    fn content_length_bounds_the_body() {
        let port = serve(b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nfailEXTRA");
        let out = get(
            &target(&format!("http://localhost:{port}/")),
            Duration::from_secs(5),
        );
        assert_eq!(out.status, Some(500));
        assert_eq!(out.body, b"fail");
        assert!(out.timings.dns_ms.is_some());
    }
}
