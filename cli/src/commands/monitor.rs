//! `fieldlink monitor send`: plays an online monitor speaking HJ 212-2017
//! over TCP (docs/intake.md) — real-time readings, one packet each, with an
//! answer asked for — and prints how many the server answered. For trying
//! the intake and for vendors checking their own packets against ours.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Subcommand;
use fieldlink_hj212::{real_time_packet, split_frame, DataSegment, Framed, MonitorIdentity, SEGMENT_LEN_MAX};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::CliError;
use super::output::print_line;

/// Longest wait for an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do.
#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Send real-time readings (CN=2011), one packet per value, a minute
    /// apart ending now; print {"sent":…,"answered":…,"refused":[…]}.
    Send {
        /// The server's HJ 212 address.
        #[arg(long, default_value = "127.0.0.1:9212")]
        hj212: SocketAddr,
        /// The monitor's MN.
        #[arg(long)]
        mn: String,
        /// Its password (PW) [--dev: the demo monitors' 123456].
        #[arg(long)]
        password: Option<String>,
        /// Its system code (ST).
        #[arg(long, default_value = "31")]
        st: String,
        /// The pollutant code.
        #[arg(long, default_value = "a34041")]
        code: String,
        /// The values, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        values: Vec<f64>,
        /// The data flag of every value (N, F, M, S, D, C, T, B).
        #[arg(long, default_value = "N")]
        flag: char,
    },
}

/// Runs a monitor command.
pub async fn run(dev: bool, command: MonitorCommand) -> Result<(), CliError> {
    let MonitorCommand::Send {
        hj212,
        mn,
        password,
        st,
        code,
        values,
        flag,
    } = command;
    let pw = match (password, dev) {
        (Some(password), _) => password,
        (None, true) => "123456".to_owned(),
        (None, false) => return Err(CliError::Usage("--password is required (or --dev)".into())),
    };
    if !"NFMSDCTB".contains(flag) {
        return Err(CliError::Usage(format!("--flag {flag}: one of N F M S D C T B")));
    }
    let monitor = MonitorIdentity { st, mn, pw };
    let mut stream = TcpStream::connect(hj212)
        .await
        .map_err(|e| CliError::Incomplete(format!("cannot reach {hj212}: {e}")))?;
    let now = fieldlink_client::now_ms();
    let mut buffer = Vec::new();
    let (mut answered, mut refused) = (0u32, Vec::new());
    for (index, value) in values.iter().enumerate() {
        let back = (values.len() - 1 - index) as i64 * 60_000;
        let packet = real_time_packet(
            &monitor,
            now - back,
            now - back,
            &[(code.as_str(), *value, flag)],
            true,
        );
        stream
            .write_all(&packet)
            .await
            .map_err(|e| CliError::Incomplete(format!("send: {e}")))?;
        match answer(&mut stream, &mut buffer).await? {
            Some(segment) if segment.cn == fieldlink_hj212::cn::DATA_ANSWER => answered += 1,
            Some(segment) => refused.push(segment.cp),
            None => return Err(CliError::Incomplete("the server closed the connection".into())),
        }
    }
    print_line(&json!({"sent": values.len(), "answered": answered, "refused": refused}))?;
    if refused.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete(format!(
            "{} packet(s) refused",
            refused.len()
        )))
    }
}

/// The server's next answer, or None when it closed the connection.
async fn answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<Option<DataSegment>, CliError> {
    loop {
        match split_frame(buffer, SEGMENT_LEN_MAX) {
            Ok(Framed::Packet(packet)) => {
                let segment = fieldlink_hj212::decode(&packet)
                    .map_err(|e| CliError::Incomplete(format!("the server's answer: {e}")))?;
                let length = packet.bytes.len();
                buffer.drain(..length);
                return Ok(Some(segment));
            }
            Ok(Framed::Incomplete) => {}
            Err(e) => return Err(CliError::Incomplete(format!("the server's answer: {e}"))),
        }
        let mut chunk = [0u8; 1024];
        let read = tokio::time::timeout(ANSWER_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| CliError::Incomplete("no answer in time".into()))?
            .map_err(|e| CliError::Incomplete(format!("read: {e}")))?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}
