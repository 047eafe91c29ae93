//! How frames reach a connection's socket.
//!
//! A chat message fanned out to a room is written to each member's socket by the thread that
//! fans it out, at once, when nothing else is being written to that socket: no queue, no task
//! woken, no second copy. Under fan-out load that is most deliveries, and each had cost a
//! queue push, a wake through the runtime and a turn of the connection's event loop before
//! its one `send()`.
//!
//! The connection's own task writes too (replies, pings, the close frame, through tungstenite),
//! so the write side has one owner at a time, kept in the [`Mailbox`]'s lock:
//! - while the task owns it (from the moment it starts answering a frame until the answer is
//!   flushed), deliveries wait in the connection's bounded queue, and the task writes them when
//!   it is done;
//! - when a direct write would block, or wrote only part of a frame, the rest goes to the queue
//!   and the write side passes to the task, which waits for the socket and finishes it; a
//!   delivery never writes while anything is queued, so frames go out whole and in order.
//!
//! A full queue still ends the connection (a slow reader never makes the relay buffer without
//! bound).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Bytes;
use tokio_util::sync::CancellationToken;

/// A complete, unmasked WebSocket text frame (RFC 6455 §5.2, server to client) holding `text`:
/// encoded once, then written as is to every member of a room.
pub fn text_frame(text: &str) -> Bytes {
    let len = text.len();
    let mut frame = Vec::with_capacity(len + 10);
    frame.push(0x81); // FIN, text
    if len < 126 {
        frame.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        frame.push(126);
        frame.extend_from_slice(&len.to_be_bytes());
    } else {
        frame.push(127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(text.as_bytes());
    Bytes::from(frame)
}

/// Identifies one connection inside the relay (the hub's rooms, the live sessions).
pub type ConnId = u64;

#[derive(Debug)]
struct Outlet {
    /// `None` only in tests of the hub: then every delivery is queued.
    socket: Option<TcpStream>,
    /// True while the connection's task owns the write side, and whenever anything is queued
    /// for it to write; deliveries then queue instead of writing.
    owned: Mutex<bool>,
    /// Encoded frames waiting for the connection's task. Pushed only under `owned`'s lock.
    frames: mpsc::Sender<Bytes>,
    /// Ends the connection: cancelled when the queue overflowed, and by the relay's shutdown.
    /// One token for both, so the connection's event loop waits on one future for them.
    ends: CancellationToken,
    /// Set before `ends` is cancelled for an overflow, so the connection knows why it ends.
    overflowed: AtomicBool,
    /// Set before `ends` is cancelled because the session the connection acts for ended
    /// elsewhere (logged out, revoked, …): why, for the close frame.
    session_ended: std::sync::OnceLock<&'static str>,
}

/// How the hub reaches a member connection (cheap to clone: all clones are the same outlet).
#[derive(Debug, Clone)]
pub struct Mailbox(Arc<Outlet>);

impl Mailbox {
    /// The mailbox of a connection on `socket`, with a queue of `queue` frames, ended by `ends`;
    /// and the queue's receiving end for the connection's task. The task owns the write side
    /// until it first calls [`Mailbox::release`].
    pub fn new(
        socket: Option<TcpStream>,
        queue: usize,
        ends: CancellationToken,
    ) -> (Mailbox, mpsc::Receiver<Bytes>) {
        let (frames, rx) = mpsc::channel(queue);
        let outlet = Outlet {
            socket,
            owned: Mutex::new(true),
            frames,
            ends,
            overflowed: AtomicBool::new(false),
            session_ended: std::sync::OnceLock::new(),
        };
        (Mailbox(Arc::new(outlet)), rx)
    }

    /// Cancelled when the connection must end (overflow or shutdown).
    pub fn ends(&self) -> &CancellationToken {
        &self.0.ends
    }

    /// Whether the connection ends because its queue overflowed.
    pub fn overflowed(&self) -> bool {
        self.0.overflowed.load(Ordering::Relaxed)
    }

    /// Ends the connection because the session it acts for ended (`why` goes in the close
    /// frame): no request it sends from now on is answered as that account.
    pub fn end_session(&self, why: &'static str) {
        let _ = self.0.session_ended.set(why);
        self.0.ends.cancel();
    }

    /// Why the connection's session ended, if that is why the connection ends.
    pub fn session_ended(&self) -> Option<&'static str> {
        self.0.session_ended.get().copied()
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        // The guarded flag stays meaningful after a panic elsewhere.
        self.0.owned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` for the connection's task (the lock is held); when the queue is full the
    /// connection must close instead.
    fn push(&self, frame: Bytes) {
        if self.0.frames.try_send(frame).is_err() {
            self.0.overflowed.store(true, Ordering::Relaxed);
            self.0.ends.cancel();
        }
    }

    /// Sends `frames` (encoded with [`text_frame`]), in order: written to the socket at once if
    /// its write side is free, else queued for the connection's task. Never blocks on the
    /// socket; one system call for all of them.
    pub fn deliver(&self, frames: &[Bytes]) {
        let mut owned = self.lock();
        let Some(socket) = self.0.socket.as_ref().filter(|_| !*owned) else {
            for f in frames {
                self.push(f.clone());
            }
            return;
        };
        let total: usize = frames.iter().map(Bytes::len).sum();
        let tried = match frames {
            [one] => socket.try_write(one),
            many => {
                let slices: Vec<IoSlice<'_>> = many.iter().map(|f| IoSlice::new(f)).collect();
                socket.try_write_vectored(&slices)
            }
        };
        // Would block, or failed (0 written): the task waits for the socket, or meets the error
        // itself.
        let mut written = tried.unwrap_or_default();
        if written == total {
            return;
        }
        // The rest, the unwritten end of a frame first, goes to the task.
        *owned = true;
        for f in frames {
            if written >= f.len() {
                written -= f.len();
                continue;
            }
            self.push(f.slice(written..));
            written = 0;
        }
    }

    /// Queues `frame` for the connection's task without writing it here: for deliveries made
    /// under the hub's lock, which must not wait for system calls. The write side passes to the
    /// task with it: a later delivery must not write before it (nor, stopping inside a frame,
    /// have the rest of that frame queued behind it).
    pub fn enqueue(&self, frame: &Bytes) {
        let mut owned = self.lock();
        *owned = true;
        self.push(frame.clone());
    }

    /// The connection's task takes the write side: from now on deliveries queue. Frames already
    /// queued must be written (by [`Mailbox::write`]) before anything else.
    pub fn acquire(&self) {
        *self.lock() = true;
    }

    /// The connection's task gives the write side back, unless frames are queued: then it gets
    /// the first of them to write, and calls again.
    pub fn release(&self, queue: &mut mpsc::Receiver<Bytes>) -> Option<Bytes> {
        let mut owned = self.lock();
        match queue.try_recv() {
            Ok(frame) => Some(frame),
            Err(_) => {
                *owned = false;
                None
            }
        }
    }

    /// Writes `frames` to the socket (the task owns the write side), waiting at most `limit` if
    /// the socket is full; `Ok(false)` when the time ran out (a slow reader).
    pub async fn write(&self, frames: &[Bytes], limit: Duration) -> io::Result<bool> {
        let Some(socket) = self.0.socket.as_ref() else {
            return Ok(true);
        };
        let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
        let mut rest = &mut slices[..];
        // Most writes finish at once: only one that has to wait gets a timer.
        match socket.try_write_vectored(rest) {
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if rest.is_empty() {
            return Ok(true);
        }
        let finish = async {
            while !rest.is_empty() {
                socket.writable().await?;
                match socket.try_write_vectored(rest) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut rest, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        match tokio::time::timeout(limit, finish).await {
            Ok(done) => done.map(|()| true),
            Err(_) => Ok(false),
        }
    }
}

/// The connection's socket as tungstenite sees it: reads, and the task's own writes, through
/// the same socket the fan-out writes to (all of tokio's socket calls used here take `&self`).
/// Only the connection's task uses it, and writes through it only while it owns the write side.
#[derive(Debug)]
pub struct Stream(pub Mailbox);

impl Stream {
    fn socket(&self) -> io::Result<&TcpStream> {
        (self.0)
            .0
            .socket
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no socket"))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let socket = self.socket()?;
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket = self.socket()?;
        loop {
            ready!(socket.poll_write_ready(cx))?;
            match socket.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The socket closes when the last handle to it goes (the task's and the rooms').
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};

    /// A mailbox on one end of a real loopback connection, and the other end (blocking).
    async fn pair(queue: usize) -> (Mailbox, mpsc::Receiver<Bytes>, std::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr));
        let (server, _) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        let (m, rx) = Mailbox::new(Some(server), queue, CancellationToken::new());
        (m, rx, client)
    }

    /// Reads `n` text frames off `client` with tungstenite.
    fn read_texts(client: std::net::TcpStream, n: usize) -> Vec<String> {
        let mut ws = WebSocket::from_raw_socket(client, Role::Client, None);
        (0..n)
            .map(|_| match ws.read().unwrap() {
                Message::Text(t) => t.to_string(),
                other => panic!("a text frame, got {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_free_socket_is_written_at_once_and_an_owned_one_queues() {
        let (m, mut rx, client) = pair(8).await;
        m.deliver(&[text_frame("queued: the task owns the socket at first")]);
        assert!(
            rx.try_recv().is_ok(),
            "a new connection's task owns the write side"
        );
        assert!(m.release(&mut rx).is_none());
        m.deliver(&[text_frame("one"), text_frame("two")]);
        assert!(rx.try_recv().is_err(), "written at once, nothing queued");
        m.acquire();
        m.deliver(&[text_frame("three")]);
        let queued = rx.try_recv().expect("queued while the task writes");
        assert!(m.write(&[queued], Duration::from_secs(5)).await.unwrap());
        assert!(m.release(&mut rx).is_none());
        // A frame queued under the hub's lock goes first: the delivery after it queues too.
        m.enqueue(&text_frame("four"));
        m.deliver(&[text_frame("five")]);
        let four = rx.try_recv().unwrap();
        let five = rx.try_recv().expect("queued behind the enqueued frame");
        assert!(
            m.write(&[four, five], Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert!(m.release(&mut rx).is_none());
        let got = tokio::task::spawn_blocking(move || read_texts(client, 5))
            .await
            .unwrap();
        assert_eq!(got, ["one", "two", "three", "four", "five"]);
    }

    #[tokio::test]
    async fn a_full_socket_passes_the_rest_to_the_task_and_frames_arrive_whole_in_order() {
        // More than loopback buffers hold while nobody reads; sizes that do not divide a
        // buffer, so a write stops inside a frame.
        let frames: Vec<String> = (0..400)
            .map(|i| format!("{i:04}:{}", "m".repeat(64 * 1024 + i % 7)))
            .collect();
        let (m, mut rx, client) = pair(frames.len()).await;
        assert!(m.release(&mut rx).is_none());
        for f in &frames {
            m.deliver(&[text_frame(f)]);
        }
        assert!(!m.ends().is_cancelled(), "the queue held the rest");
        let first_queued = rx
            .try_recv()
            .expect("the socket filled up and frames queued");
        let reader = tokio::task::spawn_blocking(move || read_texts(client, 400));
        // The connection's task: write what was queued, then give the write side back.
        assert!(
            m.write(&[first_queued], Duration::from_secs(30))
                .await
                .unwrap()
        );
        while let Some(f) = m.release(&mut rx) {
            assert!(m.write(&[f], Duration::from_secs(30)).await.unwrap());
        }
        let got = reader.await.unwrap();
        assert!(got == frames, "every frame whole, in order");
    }

    #[tokio::test]
    async fn a_full_queue_ends_the_connection() {
        let (m, _rx, _client) = pair(2).await;
        for _ in 0..3 {
            m.deliver(&[text_frame("x")]);
        }
        assert!(m.ends().is_cancelled() && m.overflowed());
    }
}
