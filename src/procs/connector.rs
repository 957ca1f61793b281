//! Exec events from the kernel's netlink process connector (`CONFIG_PROC_EVENTS`, root
//! or CAP_NET_ADMIN): a thread waits on the socket and reads `/proc/PID` the moment a
//! program starts, so a shell that lives 20 ms is still seen. No crate speaks the
//! connector, so the few structs are written here (linux/cn_proc.h, linux/connector.h).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use super::judge::Interest;
use super::read::{Proc, RootParents};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;
/// Exec events buffered between two polls before the newest are dropped (counted).
const QUEUE: usize = 16_384;

#[derive(Debug, thiserror::Error)]
#[error("process connector: {0}")]
pub struct ConnectorError(std::io::Error);

pub struct Connector {
    events: Receiver<Proc>,
    stop: Arc<AtomicBool>,
    pub dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Connector {
    /// Subscribe and start the reading thread.
    pub fn start(proc_root: PathBuf, interest: Interest) -> Result<Connector, ConnectorError> {
        let fd = subscribe().map_err(ConnectorError)?;
        let (tx, rx) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (stop2, dropped2) = (stop.clone(), dropped.clone());
        std::thread::Builder::new()
            .name("proc-connector".into())
            .spawn(move || run(fd, &proc_root, &interest, &tx, &stop2, &dropped2))
            .map_err(ConnectorError)?;
        Ok(Connector {
            events: rx,
            stop,
            dropped,
        })
    }

    /// The processes started since the last call, as read at their exec.
    pub fn drain(&self) -> impl Iterator<Item = Proc> + '_ {
        self.events.try_iter()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // The thread sees it within its receive timeout and closes the socket.
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn subscribe() -> std::io::Result<Fd> {
    // SAFETY: plain socket calls on a descriptor owned by `Fd`; every struct passed is
    // initialised and its size given.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_CONNECTOR,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = Fd(fd);
        // A busy server starts thousands of programs a second: room for bursts.
        let size: libc::c_int = 8 << 20;
        let set = |opt, val: *const libc::c_void, len| {
            libc::setsockopt(fd.0, libc::SOL_SOCKET, opt, val, len as libc::socklen_t)
        };
        if set(libc::SO_RCVBUFFORCE, (&size as *const i32).cast(), 4) < 0 {
            set(libc::SO_RCVBUF, (&size as *const i32).cast(), 4);
        }
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 500_000,
        };
        set(
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>(),
        );
        // Only exec events of a process (not of a thread) wake the reading thread: a
        // build server's forks, exits and the like stay in the kernel.
        let mut filter = exec_filter();
        let program = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_mut_ptr(),
        };
        if set(
            libc::SO_ATTACH_FILTER,
            (&program as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>(),
        ) < 0
        {
            // Without the filter every event comes up and `exec_pid` sorts them.
            tracing::debug!(
                "process connector filter: {}",
                std::io::Error::last_os_error()
            );
        }
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        if libc::bind(fd.0, (&addr as *const libc::sockaddr_nl).cast(), len) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let msg = listen_message();
        if libc::send(fd.0, msg.as_ptr().cast(), msg.len(), 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// A classic BPF program keeping the datagrams `exec_pid` accepts: `what` is
/// PROC_EVENT_EXEC and process_pid equals process_tgid. BPF loads words big-endian;
/// the message is in native order, hence the constant's bytes are reread.
fn exec_filter() -> [libc::sock_filter; 8] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let event = (NLMSG_HDR + CN_MSG) as u32;
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ;
    [
        op(load, 0, 0, event),
        op(
            jeq | libc::BPF_K,
            0,
            5,
            u32::from_be_bytes(PROC_EVENT_EXEC.to_ne_bytes()),
        ),
        op(load, 0, 0, event + 16),
        op(libc::BPF_MISC | libc::BPF_TAX, 0, 0, 0),
        op(load, 0, 0, event + 20),
        op(jeq | libc::BPF_X, 0, 1, 0),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
    ]
}

/// nlmsghdr + cn_msg + PROC_CN_MCAST_LISTEN, in native byte order.
fn listen_message() -> Vec<u8> {
    let total = (NLMSG_HDR + CN_MSG + 4) as u32;
    let mut m = Vec::with_capacity(total as usize);
    m.extend(total.to_ne_bytes());
    m.extend((libc::NLMSG_DONE as u16).to_ne_bytes());
    m.extend(0u16.to_ne_bytes()); // flags
    m.extend(0u32.to_ne_bytes()); // seq
    m.extend(std::process::id().to_ne_bytes());
    m.extend(CN_IDX_PROC.to_ne_bytes());
    m.extend(CN_VAL_PROC.to_ne_bytes());
    m.extend(0u32.to_ne_bytes()); // seq
    m.extend(0u32.to_ne_bytes()); // ack
    m.extend(4u16.to_ne_bytes()); // len
    m.extend(0u16.to_ne_bytes()); // flags
    m.extend(PROC_CN_MCAST_LISTEN.to_ne_bytes());
    m
}

/// The pid of an exec event in one datagram, if it is one.
fn exec_pid(msg: &[u8]) -> Option<i32> {
    let event = msg.get(NLMSG_HDR + CN_MSG..)?;
    let word = |at: usize| Some(u32::from_ne_bytes(event.get(at..at + 4)?.try_into().ok()?));
    if word(0)? != PROC_EVENT_EXEC {
        return None;
    }
    // what, cpu, timestamp_ns, then process_pid and process_tgid.
    let (pid, tgid) = (word(16)?, word(20)?);
    (pid == tgid).then_some(tgid as i32)
}

fn run(
    fd: Fd,
    proc_root: &std::path::Path,
    interest: &Interest,
    tx: &SyncSender<Proc>,
    stop: &AtomicBool,
    dropped: &std::sync::atomic::AtomicU64,
) {
    let mut buf = vec![0u8; 4096];
    let mut root_parents = RootParents::default();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                // Events were lost in a burst; the next scan still sees what lives.
                Some(libc::ENOBUFS) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                _ => {
                    tracing::warn!("process connector stopped: {err}; relying on the scans");
                    return;
                }
            }
        }
        let Some(pid) = exec_pid(&buf[..n as usize]) else {
            continue;
        };
        let read = Proc::read_if(
            proc_root,
            pid,
            |p| interest.detail(p),
            |ppid| root_parents.is_root(proc_root, ppid),
        );
        let Some(proc) = read else {
            continue;
        };
        match tx.try_send(proc) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_events_are_told_from_others() {
        let mut msg = vec![0u8; NLMSG_HDR + CN_MSG];
        let mut event = Vec::new();
        event.extend(PROC_EVENT_EXEC.to_ne_bytes());
        event.extend(0u32.to_ne_bytes());
        event.extend(0u64.to_ne_bytes());
        event.extend(42u32.to_ne_bytes());
        event.extend(42u32.to_ne_bytes());
        msg.extend(&event);
        assert_eq!(exec_pid(&msg), Some(42));
        // A thread's exec (pid != tgid) and a fork are not programs starting.
        let mut thread = msg.clone();
        thread[NLMSG_HDR + CN_MSG + 16] = 43;
        assert_eq!(exec_pid(&thread), None);
        msg[NLMSG_HDR + CN_MSG] = 1;
        assert_eq!(exec_pid(&msg), None);
        assert_eq!(exec_pid(&[0; 10]), None);
        assert_eq!(listen_message().len(), 40);
    }
}
