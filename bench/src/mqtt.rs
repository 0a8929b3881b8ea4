//! A minimal MQTT 3.1.1 client for the push scenario's peer baseline: just
//! what QoS 1 fan-out needs (CONNECT, SUBSCRIBE, PUBLISH, PUBACK), on tokio
//! TCP with one buffered reader per connection — the same runtime and the
//! same kind of task per receiver as our terminals, so the broker is driven
//! by a client as efficient as ours.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Largest packet this client accepts.
const PACKET_BYTES_MAX: usize = 1 << 20;

/// What went wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The socket failed.
    #[error("mqtt i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The broker sent something this client does not expect.
    #[error("mqtt protocol: {0}")]
    Protocol(String),
}

/// One packet as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNACK with its return code.
    ConnAck(u8),
    /// SUBACK for a packet id with the granted QoS.
    SubAck(u16, u8),
    /// PUBLISH: topic, packet id (QoS 1), payload.
    Publish(String, Option<u16>, Vec<u8>),
    /// PUBACK for a packet id.
    PubAck(u16),
    /// Anything else: the first byte of its fixed header.
    Other(u8),
}

/// Encodes MQTT's variable-length "remaining length".
fn put_remaining_length(out: &mut Vec<u8>, mut length: usize) {
    loop {
        let mut byte = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if length == 0 {
            return;
        }
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn packet(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    put_remaining_length(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// CONNECT with a clean session.
pub fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    put_string(&mut body, "MQTT");
    body.push(4); // protocol level 3.1.1
    body.push(0x02); // clean session
    body.extend_from_slice(&600u16.to_be_bytes()); // keep-alive, s
    put_string(&mut body, client_id);
    packet(0x10, &body)
}

/// SUBSCRIBE to one topic at QoS 1.
pub fn subscribe_packet(packet_id: u16, topic: &str) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    put_string(&mut body, topic);
    body.push(1);
    packet(0x82, &body)
}

/// PUBLISH at QoS 1.
pub fn publish_packet(packet_id: u16, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
    put_string(&mut body, topic);
    body.extend_from_slice(&packet_id.to_be_bytes());
    body.extend_from_slice(payload);
    packet(0x32, &body)
}

/// PUBACK.
pub fn puback_packet(packet_id: u16) -> Vec<u8> {
    packet(0x40, &packet_id.to_be_bytes())
}

/// Parses one packet's fixed-header byte and body.
pub fn parse(first_byte: u8, body: &[u8]) -> Result<Packet, MqttError> {
    let short = || MqttError::Protocol(format!("packet 0x{first_byte:02x} too short"));
    let u16_at = |at: usize| -> Result<u16, MqttError> {
        body.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(short)
    };
    Ok(match first_byte >> 4 {
        2 => Packet::ConnAck(*body.get(1).ok_or_else(short)?),
        9 => Packet::SubAck(u16_at(0)?, *body.get(2).ok_or_else(short)?),
        4 => Packet::PubAck(u16_at(0)?),
        3 => {
            let qos = (first_byte >> 1) & 0x03;
            let topic_len = usize::from(u16_at(0)?);
            let topic = body.get(2..2 + topic_len).ok_or_else(short)?;
            let topic = String::from_utf8(topic.to_vec())
                .map_err(|_| MqttError::Protocol("topic is not UTF-8".into()))?;
            let mut at = 2 + topic_len;
            let packet_id = if qos > 0 {
                let id = u16_at(at)?;
                at += 2;
                Some(id)
            } else {
                None
            };
            Packet::Publish(topic, packet_id, body.get(at..).ok_or_else(short)?.to_vec())
        }
        _ => Packet::Other(first_byte),
    })
}

/// One connection to the broker.
pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Connection {
    /// Connects and waits for CONNACK.
    pub async fn open(broker: SocketAddr, client_id: &str) -> Result<Self, MqttError> {
        let stream = TcpStream::connect(broker).await?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        let mut connection = Self {
            reader: BufReader::new(read),
            writer,
        };
        connection.send(&connect_packet(client_id)).await?;
        match connection.next().await? {
            Packet::ConnAck(0) => Ok(connection),
            other => Err(MqttError::Protocol(format!("connect refused: {other:?}"))),
        }
    }

    /// Subscribes to `topic` at QoS 1 and waits for SUBACK.
    pub async fn subscribe(&mut self, topic: &str) -> Result<(), MqttError> {
        self.send(&subscribe_packet(1, topic)).await?;
        match self.next().await? {
            Packet::SubAck(1, 1) => Ok(()),
            other => Err(MqttError::Protocol(format!("subscribe refused: {other:?}"))),
        }
    }

    /// Writes raw packet bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), MqttError> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// Reads the next packet.
    pub async fn next(&mut self) -> Result<Packet, MqttError> {
        let first_byte = self.reader.read_u8().await?;
        let mut length = 0usize;
        let mut shift = 0;
        loop {
            let byte = self.reader.read_u8().await?;
            length |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 21 {
                return Err(MqttError::Protocol("remaining length over 4 bytes".into()));
            }
        }
        if length > PACKET_BYTES_MAX {
            return Err(MqttError::Protocol(format!("packet of {length} bytes")));
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).await?;
        parse(first_byte, &body)
    }

    /// Waits for the next PUBLISH, acknowledging it (QoS 1).
    pub async fn next_publish(&mut self) -> Result<(String, Vec<u8>), MqttError> {
        loop {
            if let Packet::Publish(topic, packet_id, payload) = self.next().await? {
                if let Some(id) = packet_id {
                    self.send(&puback_packet(id)).await?;
                }
                return Ok((topic, payload));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_uses_seven_bits_a_byte() {
        let mut out = Vec::new();
        put_remaining_length(&mut out, 0);
        put_remaining_length(&mut out, 127);
        put_remaining_length(&mut out, 128);
        put_remaining_length(&mut out, 16_383);
        put_remaining_length(&mut out, 2_097_152);
        assert_eq!(out, [0x00, 0x7f, 0x80, 0x01, 0xff, 0x7f, 0x80, 0x80, 0x80, 0x01]);
    }

    #[test]
    fn a_qos1_publish_parses_back() {
        let bytes = publish_packet(7, "fieldlink/officer-01", b"payload");
        assert_eq!(bytes[0], 0x32);
        assert_eq!(usize::from(bytes[1]), bytes.len() - 2);
        assert_eq!(
            parse(bytes[0], &bytes[2..]).unwrap(),
            Packet::Publish("fieldlink/officer-01".into(), Some(7), b"payload".to_vec())
        );
    }

    #[test]
    fn acks_parse_and_short_packets_are_errors() {
        assert_eq!(parse(0x20, &[0, 0]).unwrap(), Packet::ConnAck(0));
        assert_eq!(parse(0x90, &[0, 1, 1]).unwrap(), Packet::SubAck(1, 1));
        let puback = puback_packet(513);
        assert_eq!(parse(puback[0], &puback[2..]).unwrap(), Packet::PubAck(513));
        assert!(parse(0x90, &[0]).is_err());
        assert!(parse(0x32, &[0, 9, b'a']).is_err());
    }

    #[test]
    fn connect_and_subscribe_are_well_formed() {
        let connect = connect_packet("bench-1");
        assert_eq!(connect[0], 0x10);
        assert_eq!(&connect[2..8], b"\x00\x04MQTT");
        assert_eq!(connect[8], 4);
        let subscribe = subscribe_packet(1, "t");
        assert_eq!(subscribe, [0x82, 6, 0, 1, 0, 1, b't', 1]);
    }

    /// The client against the real broker (the push baseline depends on
    /// it): skipped, saying so, where no broker listens.
    #[tokio::test]
    async fn a_qos1_message_reaches_a_subscriber_through_the_broker() {
        let broker: SocketAddr = crate::push::MOSQUITTO.parse().unwrap();
        if TcpStream::connect(broker).await.is_err() {
            println!("SKIPPED: no MQTT broker at {broker}");
            return;
        }
        let run = uuid::Uuid::now_v7().simple().to_string();
        let topic = format!("fieldlink-bench-test/{run}");
        let mut subscriber = Connection::open(broker, &format!("{run}-s")).await.unwrap();
        subscriber.subscribe(&topic).await.unwrap();
        let mut publisher = Connection::open(broker, &format!("{run}-p")).await.unwrap();
        publisher
            .send(&publish_packet(42, &topic, b"hello"))
            .await
            .unwrap();
        let received = tokio::time::timeout(std::time::Duration::from_secs(30), subscriber.next_publish())
            .await
            .expect("delivered in time")
            .unwrap();
        assert_eq!(received, (topic, b"hello".to_vec()));
        let acked = tokio::time::timeout(std::time::Duration::from_secs(30), publisher.next())
            .await
            .expect("acknowledged in time")
            .unwrap();
        assert_eq!(acked, Packet::PubAck(42));
    }
}
