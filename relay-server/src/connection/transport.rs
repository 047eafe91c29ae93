//! The transport side of a connection: writing WebSocket messages within a time limit, large
//! ones as fragments, and taking and giving back the socket's write side shared with the
//! fan-out (`crate::outlet`).

use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use super::handler::End;
use crate::hub::Mailbox;
use crate::outlet::Stream;

/// Writes one message, giving up on a client that does not take it within `limit` (a slow
/// reader).
pub(super) async fn send<S>(
    sink: &mut S,
    msg: Message,
    limit: std::time::Duration,
) -> Result<(), End>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    send_all(sink, std::iter::once(msg), limit).await
}

/// The largest frame the relay writes. tungstenite copies each outgoing frame into a
/// per-connection buffer that keeps its largest size for the life of the connection (and offers
/// no way to shrink it): one 40 KB history page would cost every connection that received one
/// 40 KB for good. Larger messages are sent in fragments of this size instead.
const MAX_FRAME_OUT: usize = 4 * 1024;

/// `msg` as frames of at most [`MAX_FRAME_OUT`] bytes of payload: a longer text message becomes
/// a fragmented one (RFC 6455 §5.4: a text frame, then continuation frames, the last marked
/// final), which every WebSocket client reassembles. Split on character boundaries.
fn fragments(msg: Message) -> Vec<Message> {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let text = match msg {
        Message::Text(text) if text.len() > MAX_FRAME_OUT => text,
        other => return vec![other],
    };
    let mut cuts = vec![0];
    let mut at = 0;
    while text.len() - at > MAX_FRAME_OUT {
        let mut end = at + MAX_FRAME_OUT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        cuts.push(end);
        at = end;
    }
    cuts.push(text.len());
    let bytes = tokio_tungstenite::tungstenite::Bytes::from(text);
    cuts.windows(2)
        .enumerate()
        .map(|(i, w)| {
            let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
            let last = w[1] == bytes.len();
            Message::Frame(Frame::message(bytes.slice(w[0]..w[1]), opcode, last))
        })
        .collect()
}

/// Writes several messages with one flush, within `limit` in all.
pub(super) async fn send_all<S>(
    sink: &mut S,
    msgs: impl Iterator<Item = Message>,
    limit: std::time::Duration,
) -> Result<(), End>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let write = async {
        for m in msgs {
            match m {
                Message::Text(text) if text.len() > MAX_FRAME_OUT => {
                    for frame in fragments(Message::Text(text)) {
                        sink.feed(frame).await?;
                    }
                }
                small => sink.feed(small).await?,
            }
        }
        sink.flush().await
    };
    // Most writes finish at once: only a write that has to wait gets a timer.
    let mut write = std::pin::pin!(write);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx))).await;
    let done = match first {
        std::task::Poll::Ready(done) => Ok(done),
        std::task::Poll::Pending => tokio::time::timeout(limit, write).await,
    };
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::Io(e.to_string())),
        Err(_) => Err(End::SlowReader),
    }
}

/// The connection's task takes the socket's write side (`outlet`), writing first what the
/// fan-out queued for it — perhaps the rest of a frame it began — so that its own frames
/// follow whole frames.
pub(super) async fn take(
    mailbox: &Mailbox,
    queue: &mut mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
) -> Result<(), End> {
    mailbox.acquire();
    match queue.try_recv() {
        Ok(first) => write_queued(mailbox, first, queue, limit).await,
        Err(_) => Ok(()),
    }
}

/// Writes `first` and what else is queued (up to a batch), with one system call where it fits.
pub(super) async fn write_queued(
    mailbox: &Mailbox,
    first: Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
) -> Result<(), End> {
    let batch: Vec<Bytes> = std::iter::once(first)
        .chain(std::iter::from_fn(|| queue.try_recv().ok()).take(63))
        .collect();
    match mailbox.write(&batch, limit).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(End::SlowReader),
        Err(e) => Err(End::Io(e.to_string())),
    }
}

/// Flushes what tungstenite holds (a pong it owes), then gives the write side back to the
/// fan-out — after writing whatever was queued meanwhile.
pub(super) async fn give_back(
    ws: &mut WebSocketStream<Stream>,
    mailbox: &Mailbox,
    queue: &mut mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
) -> Result<(), End> {
    send_all(ws, std::iter::empty(), limit).await?;
    while let Some(first) = mailbox.release(queue) {
        write_queued(mailbox, first, queue, limit).await?;
    }
    Ok(())
}
