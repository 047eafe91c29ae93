//! A listening client that reads WebSocket frames itself (RFC 6455 §5.2), for the tens of
//! thousands of connections that only receive. The generator shares the machine's two cores with
//! the relay it measures, and tungstenite's per-frame work (buffer management, UTF-8 checks, a
//! task and a lock per split stream) was most of the generator's own CPU at 100,000 frames a
//! second. The WebSocket handshake and `hello` are still tungstenite's; after `welcome` (when
//! the relay has nothing more to say until asked) the socket is taken over here.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One complete message read by [`Listener::next`].
pub enum Frame<'a> {
    /// A text message (reassembled when it came in fragments).
    Text(&'a [u8]),
    /// A ping, answered already, or a pong: nothing for the caller.
    Control,
}

/// A raw WebSocket client connection that only listens.
pub struct Listener {
    stream: TcpStream,
    /// Bytes read and not yet parsed: `buf[start..filled]`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// A fragmented message being put together.
    message: Vec<u8>,
    /// The payload of the message last returned, when it was not fragmented.
    last: (usize, usize),
    mask: u32,
}

impl Listener {
    pub fn new(stream: TcpStream, seed: u32) -> Self {
        Listener {
            stream,
            buf: vec![0; 4096],
            start: 0,
            filled: 0,
            message: Vec::new(),
            last: (0, 0),
            mask: seed | 1,
        }
    }

    /// Sends a text message as one masked frame (a client must mask what it sends).
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        // xorshift32: masking keys only have to differ from frame to frame here.
        self.mask ^= self.mask << 13;
        self.mask ^= self.mask >> 17;
        self.mask ^= self.mask << 5;
        let key = self.mask.to_be_bytes();
        let mut out = Vec::with_capacity(payload.len() + 14);
        out.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.stream.write_all(&out).await
    }

    /// The next complete message, `None` when the relay closed the connection.
    pub async fn next(&mut self) -> io::Result<Option<Frame<'_>>> {
        loop {
            match self.parse()? {
                Parsed::Need => {
                    if self.start > 0 {
                        self.buf.copy_within(self.start..self.filled, 0);
                        self.filled -= self.start;
                        self.start = 0;
                    }
                    if self.filled == self.buf.len() {
                        // A frame larger than the buffer: grow it (zeroed once, not per read).
                        self.buf.resize(self.buf.len() * 2, 0);
                    }
                    let n = self.stream.read(&mut self.buf[self.filled..]).await?;
                    if n == 0 {
                        return Ok(None);
                    }
                    self.filled += n;
                }
                Parsed::Close => return Ok(None),
                Parsed::Ping(at, end) => {
                    let payload = self.buf[at..end].to_vec();
                    self.send_frame(0xA, &payload).await?;
                    return Ok(Some(Frame::Control));
                }
                Parsed::Pong => return Ok(Some(Frame::Control)),
                Parsed::Whole => {
                    let (at, end) = self.last;
                    return Ok(Some(Frame::Text(&self.buf[at..end])));
                }
                Parsed::Assembled => return Ok(Some(Frame::Text(&self.message))),
                Parsed::Fragment => {}
            }
        }
    }

    /// Parses one frame from the buffer.
    fn parse(&mut self) -> io::Result<Parsed> {
        let b = &self.buf[self.start..self.filled];
        if b.len() < 2 {
            return Ok(Parsed::Need);
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0F);
        if b[1] & 0x80 != 0 {
            return Err(io::Error::other("the relay sent a masked frame"));
        }
        let (len, header) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => {
                let n = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
                (usize::try_from(n).map_err(io::Error::other)?, 10)
            }
            126 | 127 => return Ok(Parsed::Need),
            n => (n as usize, 2),
        };
        if b.len() < header + len {
            return Ok(Parsed::Need);
        }
        let at = self.start + header;
        let end = at + len;
        self.start = end;
        Ok(match opcode {
            0x8 => Parsed::Close,
            0x9 => Parsed::Ping(at, end),
            0xA => Parsed::Pong,
            0x1 | 0x2 if fin => {
                self.last = (at, end);
                Parsed::Whole
            }
            0x1 | 0x2 => {
                self.message.clear();
                self.message.extend_from_slice(&self.buf[at..end]);
                Parsed::Fragment
            }
            0x0 => {
                self.message.extend_from_slice(&self.buf[at..end]);
                if fin {
                    Parsed::Assembled
                } else {
                    Parsed::Fragment
                }
            }
            other => return Err(io::Error::other(format!("unknown opcode {other}"))),
        })
    }
}

enum Parsed {
    Need,
    Close,
    Ping(usize, usize),
    Pong,
    /// A whole message in one frame, at `last`.
    Whole,
    /// The last fragment of a message, in `message`.
    Assembled,
    Fragment,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback pair: a raw listener, and the server end to write frames into.
    async fn pair() -> (Listener, TcpStream) {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = server.accept().await.unwrap();
        (Listener::new(client, 7), accepted)
    }

    #[tokio::test]
    async fn reads_small_long_and_fragmented_messages_and_answers_pings() {
        let (mut l, mut server) = pair().await;
        let long = "x".repeat(300);
        let mut bytes = vec![0x81, 5];
        bytes.extend_from_slice(b"hello");
        bytes.extend_from_slice(&[0x81, 126, 1, 44]); // 300 bytes, 16-bit length
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(&[0x89, 2, b'p', b'1']); // ping
        bytes.extend_from_slice(&[0x01, 3, b'a', b'b', b'c', 0x80, 2, b'd', b'e']); // fragments
        let big = "y".repeat(5000); // more than the buffer holds
        bytes.extend_from_slice(&[0x81, 126, 0x13, 0x88]);
        bytes.extend_from_slice(big.as_bytes());
        bytes.extend_from_slice(&[0x88, 0]); // close
        // Written in two pieces, cut inside a frame header.
        server.write_all(&bytes[..8]).await.unwrap();
        server.flush().await.unwrap();
        let got = |f: Option<Frame<'_>>| match f {
            Some(Frame::Text(t)) => String::from_utf8(t.to_vec()).unwrap(),
            Some(Frame::Control) => "<control>".into(),
            None => "<closed>".into(),
        };
        assert_eq!(got(l.next().await.unwrap()), "hello");
        server.write_all(&bytes[8..]).await.unwrap();
        assert_eq!(got(l.next().await.unwrap()), long);
        assert_eq!(got(l.next().await.unwrap()), "<control>");
        assert_eq!(got(l.next().await.unwrap()), "abcde");
        assert_eq!(got(l.next().await.unwrap()), big);
        assert_eq!(got(l.next().await.unwrap()), "<closed>");
        // The ping was answered with a masked pong carrying its payload.
        let mut pong = [0u8; 8];
        server.read_exact(&mut pong).await.unwrap();
        assert_eq!(pong[0], 0x8A);
        assert_eq!(pong[1], 0x80 | 2);
        let key = &pong[2..6];
        assert_eq!([pong[6] ^ key[0], pong[7] ^ key[1]], *b"p1");
    }
}
