//! The HTTP/2 side of the stream types, over an in-memory pipe: flow
//! control under a small window, the server's early answer with the rest
//! of the request refused (RFC 9113 §8.1), and the end of a stream.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{RecvStream, SendStream, WriteError, STREAM_PATH};

/// A client and a server HTTP/2 connection joined by a pipe, the server
/// with a 1 KiB stream window; both connections driven in the background.
async fn pair() -> (
    h2::client::SendRequest<Bytes>,
    h2::server::Connection<tokio::io::DuplexStream, Bytes>,
) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        h2::server::Builder::new()
            .initial_window_size(1024)
            .handshake::<_, Bytes>(server_io)
            .await
            .unwrap()
    });
    let (requests, connection) = h2::client::handshake(client_io).await.unwrap();
    tokio::spawn(connection);
    (requests, server.await.unwrap())
}

/// Opens a stream as the SDK does.
async fn open(requests: &h2::client::SendRequest<Bytes>) -> (SendStream, RecvStream) {
    let mut requests = requests.clone().ready().await.unwrap();
    let request = http::Request::post(format!("https://localhost{STREAM_PATH}"))
        .body(())
        .unwrap();
    let (response, send) = requests.send_request(request, false).unwrap();
    (SendStream::H2(send), RecvStream::h2_response(response))
}

/// Accepts a stream as the server does: 200 at once, both halves.
async fn accept(
    connection: &mut h2::server::Connection<tokio::io::DuplexStream, Bytes>,
) -> (SendStream, RecvStream) {
    let (request, mut respond) = connection.accept().await.unwrap().unwrap();
    let send = respond.send_response(http::Response::new(()), false).unwrap();
    (SendStream::H2(send), RecvStream::h2_request(request.into_body()))
}

#[tokio::test]
async fn a_body_far_past_the_window_arrives_whole_and_in_order() {
    let (requests, mut connection) = pair().await;
    let (mut send, mut answer) = open(&requests).await;
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sending = tokio::spawn({
        let body = body.clone();
        async move {
            send.write_chunk(Bytes::from(body)).await.unwrap();
            send.finish().unwrap();
            send
        }
    });
    let (mut reply, mut recv) = accept(&mut connection).await;
    tokio::spawn(async move { while connection.accept().await.is_some() {} });
    let mut received = Vec::new();
    recv.read_to_end(&mut received).await.unwrap();
    assert_eq!(received, body);
    let _send = sending.await.unwrap();

    // And the answer, through AsyncWrite and AsyncRead.
    reply.write_all(b"receipt").await.unwrap();
    reply.finish().unwrap();
    let mut text = Vec::new();
    answer.read_to_end(&mut text).await.unwrap();
    assert_eq!(text, b"receipt");
}

#[tokio::test]
async fn an_early_answer_stops_the_sender_who_still_reads_it() {
    let (requests, mut connection) = pair().await;
    let (mut send, mut answer) = open(&requests).await;
    // The terminal sends far more than the window; the server reads a
    // little, refuses the rest and answers.
    let sending = tokio::spawn(async move {
        let mut outcome = Ok(());
        for _ in 0..64 {
            outcome = send.write_chunk(Bytes::from(vec![7u8; 16 * 1024])).await;
            if outcome.is_err() {
                break;
            }
        }
        outcome
    });
    let (mut reply, mut recv) = accept(&mut connection).await;
    tokio::spawn(async move { while connection.accept().await.is_some() {} });
    let mut first = [0u8; 100];
    recv.read_exact(&mut first).await.unwrap();
    recv.stop(1);
    reply.write_all(b"refused: too large").await.unwrap();
    reply.finish().unwrap();
    drop((reply, recv));
    let outcome = sending.await.unwrap();
    assert!(matches!(outcome, Err(WriteError::Stopped(_))), "{outcome:?}");
    let mut text = Vec::new();
    answer.read_to_end(&mut text).await.unwrap();
    assert_eq!(text, b"refused: too large");
}

#[tokio::test]
async fn read_chunks_hands_over_pieces_then_the_end() {
    let (requests, mut connection) = pair().await;
    let (mut send, _answer) = open(&requests).await;
    send.write_chunk(Bytes::from_static(b"abc")).await.unwrap();
    send.finish().unwrap();
    let (_reply, mut recv) = accept(&mut connection).await;
    tokio::spawn(async move { while connection.accept().await.is_some() {} });
    let mut chunks = vec![Bytes::new(); 4];
    let mut got = Vec::new();
    while let Some(count) = recv.read_chunks(&mut chunks).await.unwrap() {
        for chunk in &chunks[..count] {
            got.extend_from_slice(chunk);
        }
    }
    assert_eq!(got, b"abc");
    assert_eq!(recv.read_chunks(&mut chunks).await.unwrap(), None);
}
