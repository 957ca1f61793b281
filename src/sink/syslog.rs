//! The `syslog` sink: one RFC 5424 message per event, the event (in the sink's format)
//! as the message body, over the local socket, UDP, or TCP with RFC 6587 octet counting.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::deliver::{Lines, Record};
use crate::policy::sink::{self, SyslogAddress, DEFAULT_FACILITY};

enum Conn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

pub struct Syslog {
    address: SyslogAddress,
    facility: u8,
    app_name: String,
    timeout: Duration,
    conn: Option<Conn>,
}

impl Syslog {
    pub fn new(
        address: &str,
        facility: Option<&str>,
        app_name: Option<&str>,
        timeout: Duration,
    ) -> Result<Syslog, String> {
        let address = SyslogAddress::parse(address)?;
        let facility = facility.map_or(Ok(DEFAULT_FACILITY), sink::facility)?;
        // APP-NAME is 1 to 48 printable ASCII characters without spaces.
        let app_name: String = app_name
            .unwrap_or("fim")
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(48)
            .collect();
        Ok(Syslog {
            address,
            facility,
            app_name: if app_name.is_empty() {
                "fim".into()
            } else {
                app_name
            },
            timeout,
            conn: None,
        })
    }

    fn connect(&self) -> std::io::Result<Conn> {
        Ok(match &self.address {
            SyslogAddress::Unix(path) => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(path)?;
                socket.set_write_timeout(Some(self.timeout))?;
                Conn::Unix(socket)
            }
            SyslogAddress::Udp(host) => {
                let target = resolve(host)?;
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(target)?;
                Conn::Udp(socket)
            }
            SyslogAddress::Tcp(host) => {
                let stream = TcpStream::connect_timeout(&resolve(host)?, self.timeout)?;
                stream.set_write_timeout(Some(self.timeout))?;
                stream.set_nodelay(true)?;
                Conn::Tcp(stream)
            }
        })
    }

    /// The RFC 5424 message for one record.
    pub fn message(&self, record: &Record) -> String {
        let field = |key: &str| record.event.get(key).and_then(|v| v.as_str()).unwrap_or("");
        let severity = match field("severity") {
            "critical" => 2,
            "high" => 3,
            "medium" => 4,
            "low" => 5,
            _ => 6,
        };
        let host: String = field("host")
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        let msgid = match field("kind") {
            "" => "-",
            kind => kind,
        };
        format!(
            "<{}>1 {} {} {} {} {msgid} [fim@32473 id=\"{}\" severity=\"{}\"] {}",
            u32::from(self.facility) * 8 + severity,
            field("ts"),
            if host.is_empty() { "-" } else { &host },
            self.app_name,
            std::process::id(),
            sd_escape(field("id")),
            sd_escape(field("severity")),
            record.text
        )
    }
}

/// PARAM-VALUE escaping of RFC 5424: `"`, `\` and `]`.
fn sd_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

fn resolve(host: &str) -> std::io::Result<std::net::SocketAddr> {
    host.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: no address"))
    })
}

impl Lines for Syslog {
    fn send(&mut self, records: &[Record]) -> Result<(), String> {
        let messages: Vec<String> = records.iter().map(|r| self.message(r)).collect();
        if let Some(Conn::Tcp(stream)) = &self.conn {
            if peer_closed(stream) {
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().map_err(|e| e.to_string())?);
        }
        let result = match self.conn.as_mut().expect("connected above") {
            Conn::Unix(socket) => messages
                .iter()
                .try_for_each(|m| socket.send(datagram(m)).map(drop)),
            Conn::Udp(socket) => messages
                .iter()
                .try_for_each(|m| socket.send(datagram(m)).map(drop)),
            Conn::Tcp(stream) => {
                // RFC 6587 octet counting: "LEN SP MSG", the batch in one write.
                let mut framed = Vec::new();
                for message in &messages {
                    framed.extend_from_slice(format!("{} ", message.len()).as_bytes());
                    framed.extend_from_slice(message.as_bytes());
                }
                stream.write_all(&framed).and_then(|()| stream.flush())
            }
        };
        result.map_err(|e| {
            self.conn = None;
            e.to_string()
        })
    }
}

/// The largest message sent as one datagram (UDP over IPv4 carries 65,507 bytes).
const MAX_DATAGRAM: usize = 65_000;

/// A message as one datagram: one too big for any datagram would fail forever and hold
/// up every later event, so it is cut (RFC 5424 allows truncation; TCP sends it whole).
fn datagram(message: &str) -> &[u8] {
    if message.len() <= MAX_DATAGRAM {
        return message.as_bytes();
    }
    let mut end = MAX_DATAGRAM;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    tracing::warn!(
        "syslog: a {} byte message was cut to {end} bytes to fit a datagram",
        message.len()
    );
    &message.as_bytes()[..end]
}

/// Has the collector closed the connection? A write into a closed connection still
/// succeeds once (into the kernel's buffer) and would be lost.
fn peer_closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    closed || stream.set_nonblocking(false).is_err()
}
