//! The receiving half of a stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};

/// The receiving half of a fieldlink stream.
#[derive(Debug)]
pub enum RecvStream {
    /// A QUIC stream.
    Quic(quinn::RecvStream),
    /// An HTTP/2 stream's body.
    H2(H2Recv),
}

/// An HTTP/2 body, with the piece of the last DATA frame not yet read.
#[derive(Debug)]
pub struct H2Recv {
    state: H2State,
    /// Bytes already taken from h2 (their flow-control credit given back):
    /// at most one DATA frame.
    pending: Bytes,
}

#[derive(Debug)]
enum H2State {
    /// A terminal's stream, before the server's response headers arrive.
    Response(h2::client::ResponseFuture),
    Body(h2::RecvStream),
    /// Ended, or stopped by us.
    Done,
}

impl RecvStream {
    /// A server's view of a request body.
    pub fn h2_request(body: h2::RecvStream) -> Self {
        RecvStream::H2(H2Recv {
            state: H2State::Body(body),
            pending: Bytes::new(),
        })
    }

    /// A terminal's view of the response to a request it just sent.
    pub fn h2_response(response: h2::client::ResponseFuture) -> Self {
        RecvStream::H2(H2Recv {
            state: H2State::Response(response),
            pending: Bytes::new(),
        })
    }

    /// Reads what the stream holds now into `chunks` (waiting for at least
    /// one piece); the number of pieces, or `None` at the end of the stream.
    /// Cancel-safe: a piece is never half taken.
    pub async fn read_chunks(&mut self, chunks: &mut [Bytes]) -> io::Result<Option<usize>> {
        match self {
            RecvStream::Quic(stream) => stream.read_chunks(chunks).await.map_err(io::Error::other),
            RecvStream::H2(body) => {
                if chunks.is_empty() {
                    return Ok(Some(0));
                }
                match std::future::poll_fn(|cx| body.poll_piece(cx)).await? {
                    Some(piece) => {
                        chunks[0] = piece;
                        Ok(Some(1))
                    }
                    None => Ok(None),
                }
            }
        }
    }

    /// Tells the peer to stop sending: QUIC's STOP_SENDING with `code`.
    /// Over HTTP/2 the body is dropped here; once our side is done too, h2
    /// resets the stream (NO_ERROR after a complete answer, RFC 9113 §8.1),
    /// and bytes still arriving for it give their credit straight back.
    pub fn stop(&mut self, code: u32) {
        match self {
            RecvStream::Quic(stream) => {
                let _ = stream.stop(code.into());
            }
            RecvStream::H2(body) => {
                body.state = H2State::Done;
                body.pending = Bytes::new();
            }
        }
    }
}

impl H2Recv {
    /// The next piece of the body: the rest of the last frame, or a new one.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        if !self.pending.is_empty() {
            return Poll::Ready(Ok(Some(std::mem::take(&mut self.pending))));
        }
        loop {
            match &mut self.state {
                H2State::Done => return Poll::Ready(Ok(None)),
                H2State::Response(response) => {
                    let response = ready!(Pin::new(response).poll(cx)).map_err(stream_error)?;
                    if response.status() != http::StatusCode::OK {
                        self.state = H2State::Done;
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            format!("the server refused the stream: HTTP {}", response.status()),
                        )));
                    }
                    self.state = H2State::Body(response.into_body());
                }
                H2State::Body(body) => match ready!(body.poll_data(cx)) {
                    None => {
                        self.state = H2State::Done;
                        return Poll::Ready(Ok(None));
                    }
                    Some(Err(error)) => return Poll::Ready(Err(stream_error(error))),
                    Some(Ok(data)) => {
                        // The credit goes back as soon as the bytes are ours:
                        // at most one frame is held here.
                        let _ = body.flow_control().release_capacity(data.len());
                        if !data.is_empty() {
                            return Poll::Ready(Ok(Some(data)));
                        }
                    }
                },
            }
        }
    }
}

use std::future::Future as _;

fn stream_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        if let Some(io) = error.into_io() {
            return io;
        }
        return io::Error::new(io::ErrorKind::ConnectionAborted, "connection lost");
    }
    io::Error::new(io::ErrorKind::ConnectionReset, error.to_string())
}

impl AsyncRead for RecvStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RecvStream::Quic(stream) => AsyncRead::poll_read(Pin::new(stream), cx, buf),
            RecvStream::H2(body) => {
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                let Some(mut piece) = ready!(body.poll_piece(cx))? else {
                    return Poll::Ready(Ok(()));
                };
                let take = piece.len().min(buf.remaining());
                buf.put_slice(&piece.split_to(take));
                body.pending = piece;
                Poll::Ready(Ok(()))
            }
        }
    }
}
