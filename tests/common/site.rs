//! A web site on loopback for the probe tests, over HTTP or HTTPS (rustls, with
//! certificates from a test CA that `openssl` makes at test time), whose behaviour the
//! test switches: healthy, 500, hanging, slow, wrong body, refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Healthy,
    Error500,
    /// Accept and never answer.
    Hang,
    /// Answer healthy after this long.
    Slow(Duration),
    /// 200 with a maintenance page.
    WrongBody,
    /// Nothing listening on the port.
    Refused,
}

/// (SNI, Host header) of the requests answered.
pub type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

pub const HEALTHY_BODY: &str = "<html>welcome to the shop</html>";

pub struct Site {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    /// (SNI, Host header) of each request answered.
    pub seen: Seen,
    /// Connections accepted.
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Site {
    /// On `ip` ("127.0.0.1", "::1"), HTTPS when `tls` is (cert, key) PEM files.
    pub fn start(ip: &str, tls: Option<(&Path, &Path)>) -> Site {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = tls.map(|(cert, key)| Arc::new(server_config(cert, key)));
        let site = Site {
            addr,
            mode: Arc::new(Mutex::new(Mode::Healthy)),
            seen: Arc::default(),
            hits: Arc::default(),
            stop: Arc::default(),
        };
        let (mode, seen, hits, stop) = (
            site.mode.clone(),
            site.seen.clone(),
            site.hits.clone(),
            site.stop.clone(),
        );
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !stop.load(Ordering::SeqCst) {
                if *mode.lock().unwrap() == Mode::Refused {
                    listener = None;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                if listener.is_none() {
                    listener = TcpListener::bind(addr).ok();
                }
                let Some(l) = &listener else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                l.set_nonblocking(true).unwrap();
                match l.accept() {
                    Ok((conn, _)) => {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let current = *mode.lock().unwrap();
                        let (tls, seen, stop) = (tls.clone(), seen.clone(), stop.clone());
                        std::thread::spawn(move || serve(conn, current, tls, &seen, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        site
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://IP:PORT/` (brackets for IPv6).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}/", self.addr)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn server_config(cert: &Path, key: &Path) -> rustls::ServerConfig {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

fn serve(
    conn: TcpStream,
    mode: Mode,
    tls: Option<Arc<rustls::ServerConfig>>,
    seen: &Mutex<Vec<(Option<String>, String)>>,
    stop: &AtomicBool,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tls {
        Some(config) => {
            let mut server = rustls::ServerConnection::new(config).unwrap();
            let mut sock = conn;
            while server.is_handshaking() {
                if server.complete_io(&mut sock).is_err() {
                    return; // the client refused the certificate
                }
            }
            let sni = server.server_name().map(str::to_owned);
            let mut stream = rustls::StreamOwned::new(server, sock);
            answer(&mut stream, mode, sni, seen, stop);
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
        None => {
            let mut stream = conn;
            answer(&mut stream, mode, None, seen, stop);
        }
    }
}

fn answer<S: Read + Write>(
    stream: &mut S,
    mode: Mode,
    sni: Option<String>,
    seen: &Mutex<Vec<(Option<String>, String)>>,
    stop: &AtomicBool,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("Host: "))
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap().push((sni, host));
    let (status, body) = match mode {
        Mode::Hang => {
            for _ in 0..600 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        Mode::Slow(d) => {
            std::thread::sleep(d);
            ("200 OK", HEALTHY_BODY)
        }
        Mode::Healthy | Mode::Refused => ("200 OK", HEALTHY_BODY),
        Mode::Error500 => ("500 Internal Server Error", "oops"),
        Mode::WrongBody => ("200 OK", "<html>down for maintenance</html>"),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// A new P-256 key, unencrypted.
const EC_KEY: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// A test CA and certificates it signed, made by the `openssl` CLI.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// `None` (a skip, or a failure under FIM_REQUIRE_OPENSSL) without openssl.
    pub fn make(dir: &Path) -> Option<Certs> {
        if crate::common::tool("openssl").is_none() {
            crate::common::skip("openssl is not installed", Some("FIM_REQUIRE_OPENSSL"));
            return None;
        }
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
             default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n",
        )
        .unwrap();
        let certs = Certs { dir };
        let ca: &[&str] = &["-keyout", "ca.key", "-out", "ca.pem", "-days", "30"];
        certs.openssl(&[&["req", "-x509"], EC_KEY, ca, &["-subj", "/CN=fim test CA"]].concat());
        let leaf: &[&str] = &["-keyout", "leaf.key", "-out", "leaf.csr"];
        certs.openssl(&[&["req"], EC_KEY, leaf, &["-subj", "/CN=shop.test"]].concat());
        Some(certs)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A certificate for `names` (SAN entries such as "DNS:shop.test"), valid for
    /// `validity` (["-days", "30"], or ["-startdate", ..., "-enddate", ...]); returns
    /// (cert, key) paths.
    pub fn leaf(&self, file: &str, names: &str, validity: &[&str]) -> (PathBuf, PathBuf) {
        let ext = format!("{file}.ext");
        std::fs::write(
            self.dir.join(&ext),
            format!("subjectAltName={names}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        let out = format!("{file}.pem");
        let mut args = vec![
            "ca", "-config", "ca.cnf", "-batch", "-notext", "-cert", "ca.pem", "-keyfile",
            "ca.key", "-in", "leaf.csr", "-out", &out, "-extfile", &ext,
        ];
        args.extend_from_slice(validity);
        self.openssl(&args);
        (self.dir.join(out), self.dir.join("leaf.key"))
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}
