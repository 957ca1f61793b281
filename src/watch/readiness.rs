//! The systemd notify protocol: `READY=1`, `STATUS=`, `STOPPING=1` as datagrams on
//! `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket); nothing without it.
//! Sent without blocking: a service manager that does not read its socket must never
//! stall detection (a status that does not fit is dropped).

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// Status updates are advisory: at most this often.
const STATUS_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Notifier {
    last_status: Option<Instant>,
}

impl Notifier {
    pub fn ready(&mut self, status: &str) {
        self.last_status = Some(Instant::now());
        send(&format!("READY=1\nSTATUS={status}\n"));
    }

    /// `STATUS=`, unless one was sent less than a second ago (`force` sends anyway).
    pub fn status(&mut self, status: &str, force: bool) {
        let now = Instant::now();
        if force || self.last_status.is_none_or(|t| now >= t + STATUS_EVERY) {
            self.last_status = Some(now);
            send(&format!("STATUS={status}\n"));
        }
    }

    /// `WATCHDOG=1`: the event loop is alive.
    pub fn watchdog(&mut self) {
        send("WATCHDOG=1\n");
    }

    pub fn stopping(&mut self) {
        send("STOPPING=1\n");
    }
}

fn send(message: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|t| !t.is_empty()) else {
        return;
    };
    if let Err(e) = send_to(&target, message) {
        let first = !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed);
        if e.kind() != io::ErrorKind::WouldBlock && first {
            tracing::warn!(
                "cannot notify the service manager at {}: {e}",
                target.to_string_lossy()
            );
        }
    }
}

fn send_to(target: &std::ffi::OsStr, message: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    let bytes = target.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(std::path::Path::new(target))?,
    };
    socket.send_to_addr(message.as_bytes(), &addr)?;
    Ok(())
}
