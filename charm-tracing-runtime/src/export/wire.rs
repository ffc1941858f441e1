//! The connection to the backend on plain blocking sockets, without an async runtime: name
//! resolution, TCP connect and the TLS handshake under the run's deadline, the socket as
//! hyper's I/O, and [`Wire::drive`], which runs hyper's futures to their end.
//!
//! hyper does the HTTP. Its futures are polled here in a loop: a read that would wait
//! returns `Pending`, and the loop then waits in `poll(2)` for the socket to become readable,
//! never past the deadline; writes block, bounded by a send timeout set to what is left.

use hyper::rt::{Read, ReadBufCursor, Write};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// The end of a run, and its length (for the message when it passes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub end: Instant,
    pub length: Duration,
}

impl Deadline {
    /// What is left of it; zero once it has passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    fn passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// What is left, as an error once nothing is.
    fn left(&self) -> io::Result<Duration> {
        let left = self.remaining();
        if left.is_zero() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the deadline passed",
            ))
        } else {
            Ok(left)
        }
    }
}

/// Why a connection could not be made, or why a run on it stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    Connect(io::Error),
    Tls(io::Error),
    Http(hyper::Error),
    /// The deadline passed.
    Timeout,
    Setup(String),
}

/// Whether `error` is a wait that ran out (a socket timeout).
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Resolves `host` (an IP address as is; a name on a thread of its own, waited for no longer
/// than the deadline: `getaddrinfo` has no timeout, and a stuck resolver is left behind).
fn resolve(host: &str, port: u16, deadline: Deadline) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (answer, answered) = mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("charm-tracing-resolve".to_owned())
        .spawn(move || {
            let addrs = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = answer.send(addrs);
        })
        .map_err(|e| Failure::Setup(format!("cannot start the resolver thread: {e}")))?;
    match answered.recv_timeout(deadline.remaining()) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(Failure::Connect(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ))),
        Ok(Err(e)) => Err(Failure::Connect(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// One connection: the socket, and TLS on it for https.
pub(crate) struct Wire {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
    deadline: Deadline,
    /// Set when a read returned `Pending`: hyper waits for the socket to become readable.
    waits_to_read: Arc<AtomicBool>,
}

impl Wire {
    /// Resolves, connects (each address in turn) and, with `tls`, completes the handshake,
    /// all before the deadline.
    pub(crate) fn connect(
        host: &str,
        port: u16,
        tls: Option<Arc<ClientConfig>>,
        deadline: Deadline,
    ) -> Result<Wire, Failure> {
        let mut last = None;
        let mut tcp = None;
        for addr in resolve(host, port, deadline)? {
            let left = deadline.left().map_err(|_| Failure::Timeout)?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match (tcp, last) {
            (Some(tcp), _) => tcp,
            (None, Some(e)) if is_timeout(&e) || deadline.passed() => return Err(Failure::Timeout),
            (None, Some(e)) => return Err(Failure::Connect(e)),
            (None, None) => return Err(Failure::Setup(format!("{host} has no address"))),
        };
        let _ = tcp.set_nodelay(true);
        let mut wire = Wire {
            tcp,
            tls: None,
            deadline,
            waits_to_read: Arc::new(AtomicBool::new(false)),
        };
        if let Some(config) = tls {
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| Failure::Setup(format!("bad server name: {e}")))?;
            let connection = ClientConnection::new(config, name)
                .map_err(|e| Failure::Tls(io::Error::other(e)))?;
            wire.tls = Some(Box::new(connection));
            wire.handshake().map_err(|e| {
                if is_timeout(&e) || deadline.passed() {
                    Failure::Timeout
                } else {
                    Failure::Tls(e)
                }
            })?;
        }
        Ok(wire)
    }

    fn handshake(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        while tls.is_handshaking() {
            let left = self.deadline.left()?;
            self.tcp.set_read_timeout(Some(left))?;
            self.tcp.set_write_timeout(Some(left))?;
            tls.complete_io(&mut self.tcp)?;
        }
        Ok(())
    }

    /// The socket, for [`Driver`] to wait on once hyper owns this.
    pub(crate) fn driver(&self) -> Driver {
        Driver {
            fd: self.tcp.as_raw_fd(),
            deadline: self.deadline,
            woken: Arc::new(Woken(AtomicBool::new(false))),
            waits_to_read: self.waits_to_read.clone(),
        }
    }

    /// Reads what is there now, or `None` if a read would wait.
    fn read_now(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let fd = self.tcp.as_raw_fd();
        let Some(tls) = self.tls.as_mut() else {
            if !readable(fd, Duration::ZERO) {
                return None;
            }
            return Some(self.tcp.read(buf));
        };
        loop {
            match tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Some(done),
            }
            if !readable(fd, Duration::ZERO) {
                return None;
            }
            // One read of what the socket has (it is readable: this does not wait), then
            // whatever rustls has to answer (alerts, key updates).
            match tls.read_tls(&mut self.tcp) {
                Ok(0) => return Some(Ok(0)),
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(&mut self.tcp);
                return Some(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
            if let Err(e) = flush_tls(tls, &mut self.tcp, self.deadline) {
                return Some(Err(e));
            }
        }
    }

    /// Writes `buf` (blocking, bounded by the deadline).
    fn write_bounded(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.deadline.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        match self.tls.as_mut() {
            None => self.tcp.write(buf),
            Some(tls) => {
                let n = tls.writer().write(buf)?;
                flush_tls(tls, &mut self.tcp, self.deadline)?;
                Ok(n)
            }
        }
    }

    /// [`Wire::write_bounded`] of several buffers in one call.
    fn write_vectored_bounded(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let left = self.deadline.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        match self.tls.as_mut() {
            None => self.tcp.write_vectored(bufs),
            Some(tls) => {
                let n = tls.writer().write_vectored(bufs)?;
                flush_tls(tls, &mut self.tcp, self.deadline)?;
                Ok(n)
            }
        }
    }

    /// Sends what rustls has queued.
    fn flush(&mut self) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => flush_tls(tls, &mut self.tcp, self.deadline),
            None => Ok(()),
        }
    }
}

/// Sends what rustls has queued (blocking, bounded by the deadline).
fn flush_tls(
    tls: &mut ClientConnection,
    tcp: &mut TcpStream,
    deadline: Deadline,
) -> io::Result<()> {
    while tls.wants_write() {
        tcp.set_write_timeout(Some(deadline.left()?))?;
        tls.write_tls(tcp)?;
    }
    Ok(())
}

impl Read for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 8192];
        let wanted = buf.remaining().min(scratch.len());
        let this = self.get_mut();
        match this.read_now(&mut scratch[..wanted]) {
            Some(Ok(n)) => {
                buf.put_slice(&scratch[..n]);
                Poll::Ready(Ok(()))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            // The driver waits for the socket to become readable, then polls again.
            None => {
                this.waits_to_read.store(true, Ordering::Release);
                Poll::Pending
            }
        }
    }
}

impl Write for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().write_bounded(buf))
    }

    /// Vectored: hyper then sends a record from its own buffer after the head, rather than
    /// copying it into its write buffer first.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().write_vectored_bounded(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(tls) = this.tls.as_mut() {
            tls.send_close_notify();
        }
        let _ = this.flush();
        Poll::Ready(Ok(()))
    }
}

/// Whether `fd` can be read without waiting, waiting up to `wait` for it.
fn readable(fd: RawFd, wait: Duration) -> bool {
    let mut poll_fd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // Round up, so that a wait of less than a millisecond is not a busy loop.
    let millis = wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, and its count.
    let ready = unsafe { libc::poll(&mut poll_fd, 1, millis) };
    ready > 0
        && poll_fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Set when one of hyper's futures is woken (by another: its channels between the request
/// and the connection).
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs hyper's futures on the calling thread, on one connection.
pub(crate) struct Driver {
    fd: RawFd,
    deadline: Deadline,
    woken: Arc<Woken>,
    waits_to_read: Arc<AtomicBool>,
}

impl Driver {
    /// Polls `work` (a request, or waiting for the connection to be ready) to its end,
    /// polling `connection` alongside, which does the connection's reads and writes.
    /// `connection` is `None` once it has ended. When neither can go on, waits for the socket
    /// to become readable, never past the deadline; if neither waits for anything, they are
    /// stuck, and that is an error rather than a busy loop.
    pub(crate) fn drive<C, W>(
        &self,
        connection: &mut Option<Pin<Box<C>>>,
        work: W,
    ) -> Result<W::Output, Failure>
    where
        C: Future<Output = hyper::Result<()>>,
        W: Future,
    {
        self.drive_until(connection, work, self.deadline.end)
    }

    /// [`Driver::drive`], giving up at `until` (at the latest, the deadline).
    pub(crate) fn drive_until<C, W>(
        &self,
        connection: &mut Option<Pin<Box<C>>>,
        work: W,
        until: Instant,
    ) -> Result<W::Output, Failure>
    where
        C: Future<Output = hyper::Result<()>>,
        W: Future,
    {
        let until = until.min(self.deadline.end);
        let waker = Waker::from(self.woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut work = std::pin::pin!(work);
        let mut failed = None;
        loop {
            self.woken.0.store(false, Ordering::Release);
            self.waits_to_read.store(false, Ordering::Release);
            if let Poll::Ready(out) = work.as_mut().poll(&mut cx) {
                return Ok(out);
            }
            if let Some(running) = connection.as_mut() {
                if let Poll::Ready(ended) = running.as_mut().poll(&mut cx) {
                    *connection = None;
                    failed = ended.err();
                    // The request learns of the end through its channel: poll it again.
                    continue;
                }
            } else {
                // The connection is gone and the request did not finish with it.
                return Err(match failed.take() {
                    Some(e) => self.failure(e),
                    None => Failure::Setup("the connection closed".to_owned()),
                });
            }
            if self.woken.0.load(Ordering::Acquire) {
                continue;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            if !self.waits_to_read.load(Ordering::Acquire) {
                return Err(Failure::Setup(
                    "the HTTP connection stalled (nothing to read or write)".to_owned(),
                ));
            }
            readable(self.fd, left);
        }
    }

    /// Polls `work` once: its output, if it is done.
    pub(crate) fn poll_once<W: Future>(&self, work: W) -> Option<W::Output> {
        let waker = Waker::from(self.woken.clone());
        match std::pin::pin!(work).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }

    /// What a hyper error means: the deadline, if it has passed or a socket timeout caused it.
    pub(crate) fn failure(&self, error: hyper::Error) -> Failure {
        let timed_out = self.deadline.passed()
            || std::error::Error::source(&error)
                .and_then(|source| source.downcast_ref::<io::Error>())
                .is_some_and(is_timeout);
        if timed_out {
            Failure::Timeout
        } else {
            Failure::Http(error)
        }
    }
}
