//! Live positions (实时位置): where the officer is, as QUIC datagrams
//! (docs/protocol.md §10e) — never retransmitted, never queued behind
//! evidence on the same connection. Over TCP, frames on one position
//! stream, dropped when the connection has no room for them.

use fieldlink_protocol::pb;
use fieldlink_protocol::position;

use crate::{Client, Error};

impl Client {
    /// Sends a position fix. Returns once the datagram is handed to the
    /// connection (connecting and signing in if needed), not when the server
    /// has it: a lost datagram is not sent again, the next fix replaces it.
    /// Send at most one per `Welcome.limits.position_interval_ms_min`; the
    /// server drops faster ones, and ones out of range, more than ten
    /// minutes old or from the future, and counts them.
    ///
    /// A fix out of range is refused here ([`Error::Rejected`] with reason
    /// `INVALID_FIELD`), before anything is sent.
    pub async fn send_position(&self, ping: &pb::PositionPing) -> Result<(), Error> {
        // The ranges only: the server judges the time by its own clock.
        if position::check_values(ping).is_err() {
            let error = fieldlink_protocol::FieldError::new("position", "a value is out of range");
            return Err(Error::Rejected(Box::new(
                fieldlink_protocol::status::invalid_field(&error),
            )));
        }
        let connection = self.connection().await?;
        connection
            .send_datagram(position::encode_datagram(ping).into())
            .await
    }
}
