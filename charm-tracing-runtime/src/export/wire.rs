//! The connection to the backend on a std socket, without an async runtime: name resolution,
//! TCP connect and the TLS handshake under the run's deadline, the socket as hyper's I/O, and
//! [`Driver::drive`], which runs hyper's futures to their end.
//!
//! hyper does the HTTP. Its futures are polled here in a loop over a non-blocking socket: a
//! read or write that would wait returns `Pending`, and the loop then waits in `poll(2)` for
//! the socket to become readable or writable, never past the deadline. So hyper reads an
//! early answer (a 413 before the whole body is sent) as it would on an async runtime. The
//! connect and the TLS handshake block, each read and write bounded by what is left.

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

/// What hyper's last `Pending` from the socket waits for.
#[derive(Default)]
struct Interest {
    read: AtomicBool,
    write: AtomicBool,
}

/// One connection: the socket (non-blocking once connected), and TLS on it for https.
pub(crate) struct Wire {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
    deadline: Deadline,
    interest: Arc<Interest>,
}

/// `Pending` for an I/O result that would block, noting what it waits for.
fn pending_if_blocked<T>(result: io::Result<T>, flag: &AtomicBool) -> Poll<io::Result<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            flag.store(true, Ordering::Release);
            Poll::Pending
        }
        done => Poll::Ready(done),
    }
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
        let mut tcp = match (tcp, last) {
            (Some(tcp), _) => tcp,
            (None, Some(e)) if is_timeout(&e) || deadline.passed() => return Err(Failure::Timeout),
            (None, Some(e)) => return Err(Failure::Connect(e)),
            (None, None) => return Err(Failure::Setup(format!("{host} has no address"))),
        };
        let _ = tcp.set_nodelay(true);
        let tls = match tls {
            None => None,
            Some(config) => {
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| Failure::Setup(format!("bad server name: {e}")))?;
                let mut connection = ClientConnection::new(config, name)
                    .map_err(|e| Failure::Tls(io::Error::other(e)))?;
                handshake(&mut connection, &mut tcp, deadline).map_err(|e| {
                    if is_timeout(&e) || deadline.passed() {
                        Failure::Timeout
                    } else {
                        Failure::Tls(e)
                    }
                })?;
                Some(Box::new(connection))
            }
        };
        // From here hyper drives the socket: a read or write that would wait is `Pending`,
        // and the driver waits in `poll(2)`.
        tcp.set_nonblocking(true).map_err(Failure::Connect)?;
        Ok(Wire {
            tcp,
            tls,
            deadline,
            interest: Arc::default(),
        })
    }

    /// The socket, for [`Driver`] to wait on once hyper owns this.
    pub(crate) fn driver(&self) -> Driver {
        Driver {
            fd: self.tcp.as_raw_fd(),
            deadline: self.deadline,
            woken: Arc::new(Woken(AtomicBool::new(false))),
            interest: self.interest.clone(),
        }
    }

    /// Reads what is there, or `Pending` if nothing is.
    fn poll_read_into(&mut self, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let wants = &self.interest.read;
        let Some(tls) = self.tls.as_mut() else {
            return pending_if_blocked(self.tcp.read(buf), wants);
        };
        loop {
            match tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
            match tls.read_tls(&mut self.tcp) {
                // The peer closed: rustls says whether cleanly (`Ok(0)`) or not.
                Ok(0) => {
                    let _ = tls.process_new_packets();
                    return Poll::Ready(match tls.reader().read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                        done => done,
                    });
                }
                Ok(_) => {}
                blocked => {
                    return match pending_if_blocked(blocked, wants) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        _ => Poll::Pending,
                    };
                }
            }
            if let Err(e) = tls.process_new_packets() {
                // The alert rustls queued, if the socket takes it now.
                let _ = tls.write_tls(&mut self.tcp);
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        }
    }

    /// Writes some of `bufs`, or `Pending` if the socket takes nothing now.
    fn poll_write_from(&mut self, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let wants = &self.interest.write;
        let Some(tls) = self.tls.as_mut() else {
            return pending_if_blocked(self.tcp.write_vectored(bufs), wants);
        };
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        loop {
            let taken = tls.writer().write_vectored(bufs)?;
            if taken > 0 {
                // Sent as far as the socket takes it now; the rest goes on the next write
                // or flush.
                let _ = flush_tls(tls, &mut self.tcp);
                return Poll::Ready(Ok(taken));
            }
            // rustls' buffer is full: make room.
            match tls.write_tls(&mut self.tcp) {
                Ok(_) => {}
                blocked => {
                    return match pending_if_blocked(blocked, wants) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        _ => Poll::Pending,
                    };
                }
            }
        }
    }

    /// Sends what rustls has queued, or `Pending` until the socket takes it.
    fn poll_flush_tls(&mut self) -> Poll<io::Result<()>> {
        match self.tls.as_mut() {
            Some(tls) => pending_if_blocked(flush_tls(tls, &mut self.tcp), &self.interest.write),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// The TLS handshake on the (still blocking) socket: every read and write waits no longer
/// than what is left of the deadline, so a server that sends a byte at a time cannot hold
/// it past the deadline.
fn handshake(
    tls: &mut ClientConnection,
    tcp: &mut TcpStream,
    deadline: Deadline,
) -> io::Result<()> {
    while tls.is_handshaking() {
        while tls.wants_write() {
            tcp.set_write_timeout(Some(deadline.left()?))?;
            tls.write_tls(tcp)?;
        }
        if !tls.is_handshaking() {
            break;
        }
        if !tls.wants_read() {
            return Err(io::Error::other("the TLS handshake stalled"));
        }
        tcp.set_read_timeout(Some(deadline.left()?))?;
        if tls.read_tls(tcp)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection during the TLS handshake",
            ));
        }
        if let Err(e) = tls.process_new_packets() {
            // The alert, if the socket takes it before the deadline.
            if let Ok(left) = deadline.left() {
                let _ = tcp.set_write_timeout(Some(left));
                let _ = tls.write_tls(tcp);
            }
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
    while tls.wants_write() {
        tcp.set_write_timeout(Some(deadline.left()?))?;
        tls.write_tls(tcp)?;
    }
    Ok(())
}

/// Sends what rustls has queued, as far as the (non-blocking) socket takes it.
fn flush_tls(tls: &mut ClientConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
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
        match self.get_mut().poll_read_into(&mut scratch[..wanted]) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&scratch[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Write for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(&[io::IoSlice::new(buf)])
    }

    /// Vectored: hyper then sends a record from its own buffer after the head, rather than
    /// copying it into its write buffer first.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_tls()
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(tls) = this.tls.as_mut() {
            tls.send_close_notify();
            let _ = flush_tls(tls, &mut this.tcp);
        }
        Poll::Ready(Ok(()))
    }
}

/// Waits up to `wait` for `fd` to become ready for `events`; whether it did.
fn wait_for(fd: RawFd, events: libc::c_short, wait: Duration) -> bool {
    let mut poll_fd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // Round up, so that a wait of less than a millisecond is not a busy loop.
    let millis = wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, and its count.
    let ready = unsafe { libc::poll(&mut poll_fd, 1, millis) };
    ready > 0 && poll_fd.revents != 0
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
    interest: Arc<Interest>,
}

impl Driver {
    /// Polls `work` (a request, or waiting for the connection to be ready) to its end,
    /// polling `connection` alongside, which does the connection's reads and writes.
    /// `connection` is `None` once it has ended. When neither can go on, waits for the socket
    /// to become ready for what they wait for, never past the deadline; if they wait for
    /// nothing, they are stuck, and that is an error rather than a busy loop.
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
            self.interest.read.store(false, Ordering::Release);
            self.interest.write.store(false, Ordering::Release);
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
            let mut events = 0;
            if self.interest.read.load(Ordering::Acquire) {
                events |= libc::POLLIN;
            }
            if self.interest.write.load(Ordering::Acquire) {
                events |= libc::POLLOUT;
            }
            if events == 0 {
                return Err(Failure::Setup(
                    "the HTTP connection stalled (nothing to read or write)".to_owned(),
                ));
            }
            wait_for(self.fd, events, left);
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

    /// What a hyper error means: the deadline, if it has passed or a timeout caused it.
    pub(crate) fn failure(&self, error: hyper::Error) -> Failure {
        let mut sources = std::iter::successors(std::error::Error::source(&error), |e| e.source());
        let timed_out = self.deadline.passed()
            || sources.any(|e| e.downcast_ref::<io::Error>().is_some_and(is_timeout));
        if timed_out {
            Failure::Timeout
        } else {
            Failure::Http(error)
        }
    }
}
