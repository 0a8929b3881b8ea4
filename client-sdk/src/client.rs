//! [`Client`]: one terminal's connection to the server, re-established on demand.

use std::sync::Arc;
use std::time::Duration;

use fieldlink_protocol::frame;
use fieldlink_protocol::io::read_frame;
use fieldlink_protocol::pb::{self, request::Body, response};
use prost::Message;
use tokio::sync::Mutex;

use crate::capture::{captured_of, Captured, DeviceSigner};
use crate::config::{ClientConfig, Credentials, Transport};
use crate::connection::{self, read_error, stream_error, Connector, Plan, Session, RESPONSE_FRAME_BYTES_MAX};
use crate::link::Link;
use crate::photo::{PhotoUpload, UploadProgress};
use crate::Error;

/// The send priority of photo upload streams (quinn's default, for every
/// other stream, is 0; higher goes first): a terminal uploading photos still
/// gets its small requests through promptly.
const UPLOAD_STREAM_PRIORITY: i32 = -1;

/// A terminal's client.
///
/// Each request travels on its own stream (QUIC, or HTTP/2 on TCP where
/// the network drops UDP; see [`Transport`]); many may be in flight at once
/// (`Client` is `Sync`, share it behind an `Arc`). When the connection drops,
/// the next request reconnects (signing in with the session token), and a
/// request whose answer was lost is resent with exactly the same bytes: the
/// server answers a resend with the original receipt.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct Client {
    pub(crate) config: ClientConfig,
    quic: quinn::ClientConfig,
    tcp_tls: Arc<rustls::ClientConfig>,
    endpoint: quinn::Endpoint,
    state: Arc<Mutex<State>>,
    /// The newest log checkpoint this client verified (see `log.rs`).
    pub(crate) log_head: Arc<Mutex<Option<fieldlink_protocol::log::Checkpoint>>>,
    /// Signs capture statements with the device key (see `capture.rs`).
    signer: Option<DeviceSigner>,
    /// The last feed event the app took, and its database epoch: where the
    /// next feed of this client starts (see `assignments.rs`).
    pub(crate) feed_taken: crate::assignments::Taken,
    /// Counts [`Client::network_changed`] hints; waiting retries watch it.
    network: Arc<tokio::sync::watch::Sender<u64>>,
}

struct State {
    credentials: Credentials,
    session: Option<Session>,
    /// Index into the server addresses of the one that worked last.
    preferred_addr: usize,
    /// Networks (by the local address that reaches the server) where QUIC
    /// failed and TCP worked, and since when: they go straight to TCP
    /// until QUIC is due to be tried again.
    tcp_networks: std::collections::HashMap<std::net::IpAddr, std::time::Instant>,
    /// The network the current session was made from (auto only).
    network: Option<std::net::IpAddr>,
    /// A QUIC attempt is under way beside the TCP session.
    probing_quic: bool,
}

/// How long a connection replaced by a better one stays open for what is
/// in flight on it (requests resend on the new one if cut).
const SWITCH_GRACE: Duration = Duration::from_secs(5);

impl Client {
    /// Connects and signs in. Fails without retrying when the handshake or
    /// the sign-in is refused.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), fieldlink_client::Error> {
    /// use fieldlink_client::{Client, ClientConfig, Credentials};
    /// use std::path::Path;
    ///
    /// let config = ClientConfig::from_files(
    ///     "127.0.0.1:4433".parse().unwrap(),
    ///     "localhost",
    ///     Path::new("certs-dev/ca.pem"),
    ///     Path::new("certs-dev/device-001.pem"),
    ///     Path::new("certs-dev/device-001.key"),
    ///     Credentials::Password { officer_id: "officer-01".into(), password: "demo-password".into() },
    /// )?;
    /// let client = Client::connect(config).await?;
    /// let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    /// let receipt = client.submit_inspection(&record).await?;
    /// println!("stored as #{}", receipt.server_seq);
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let client = Self::new(config)?;
        client.connection().await?;
        Ok(client)
    }

    /// A client that connects on first use (or never, while offline): for
    /// apps that start without a network, such as the outbox's sync.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let quic = connection::quic_client_config(&config)?;
        let tcp_tls = connection::tcp_client_config(&config)?;
        let signer = match config.sign_captures {
            true => Some(DeviceSigner::from_pem(&config.key_pem)?),
            false => None,
        };
        let endpoint = connection::lossy_client_endpoint(
            config.server_addr,
            config.udp_buffer_bytes,
            config.simulated_send_loss,
        )?;
        Ok(Self {
            state: Arc::new(Mutex::new(State {
                credentials: config.credentials.clone(),
                session: None,
                preferred_addr: 0,
                tcp_networks: std::collections::HashMap::new(),
                network: None,
                probing_quic: false,
            })),
            log_head: Arc::new(Mutex::new(None)),
            feed_taken: Arc::default(),
            network: Arc::new(tokio::sync::watch::channel(0).0),
            signer,
            config,
            quic,
            tcp_tls,
            endpoint,
        })
    }

    /// The server's welcome on the current (or last) session: officer profile and limits.
    pub async fn welcome(&self) -> Option<pb::Welcome> {
        self.state
            .lock()
            .await
            .session
            .as_ref()
            .map(|s| s.welcome.clone())
    }

    /// Tells the SDK the network changed (the app saw Wi-Fi or mobile data
    /// come back, or switch): whatever waits in a retry backoff — the
    /// outbox's items, a reconnecting assignment feed — tries again now
    /// instead of after its backoff (which reaches minutes offline). Cheap;
    /// call it on every connectivity event the platform reports.
    pub fn network_changed(&self) {
        self.network
            .send_modify(|changes| *changes = changes.wrapping_add(1));
    }

    /// A watch that changes with every [`Client::network_changed`].
    pub(crate) fn network_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.network.subscribe()
    }

    /// The database epoch of the current (or last) session's server
    /// (`Welcome.database_epoch`): it changes when the server's database is
    /// restored from a backup. Seqs and cursors belong to one epoch; the
    /// outbox and the assignment feed resynchronise when it changes.
    pub async fn database_epoch(&self) -> Option<String> {
        self.state
            .lock()
            .await
            .session
            .as_ref()
            .map(|s| s.welcome.database_epoch.clone())
            .filter(|epoch| !epoch.is_empty())
    }

    /// Stores an inspection record; returns its receipt once it is durably stored.
    ///
    /// The record is encoded once; retries after a lost connection resend the
    /// same bytes, so the receipt (and its SHA-256) is that of the first
    /// stored copy (`replayed` is then true).
    ///
    /// It is sent as given, so that a record stored under older rules can
    /// always be resent for its receipt; build new ones with
    /// [`crate::items::InspectionBuilder`] (or check them with
    /// [`crate::items::check_inspection`]) to catch a broken rule before
    /// sending. A refusal is [`Error::Rejected`] with the server's status:
    /// `INVALID_ARGUMENT` naming the field, `ALREADY_EXISTS` for this id with
    /// other bytes (`conflicting_seq`), `PERMISSION_DENIED` for a case or
    /// assignment that is not the officer's.
    pub async fn submit_inspection(&self, record: &pb::InspectionRecord) -> Result<pb::Receipt, Error> {
        self.submit(Body::SubmitInspection(record.clone())).await
    }

    /// Stores an electronic-service confirmation (电子送达); returns its receipt.
    pub async fn submit_service(&self, service: &pb::ServiceConfirmation) -> Result<pb::Receipt, Error> {
        self.submit(Body::SubmitService(service.clone())).await
    }

    /// Appends an event (delivered, confirmed) to a stored service; returns its receipt.
    pub async fn submit_service_event(&self, event: &pb::ServiceEvent) -> Result<pb::Receipt, Error> {
        self.submit(Body::SubmitServiceEvent(event.clone())).await
    }

    /// Stores remote-interview metadata (远程询问); returns its receipt.
    pub async fn submit_interview(&self, interview: &pb::InterviewRecord) -> Result<pb::Receipt, Error> {
        self.submit(Body::SubmitInterview(interview.clone())).await
    }

    /// Grid workers (网格员): reports what they saw; returns its receipt. The
    /// report has then opened or joined an incident for the command room.
    /// Its photos are uploaded with [`Client::upload_photo`], linked to the
    /// report's id.
    pub async fn submit_grid_report(&self, report: &pb::GridReport) -> Result<pb::Receipt, Error> {
        self.submit(Body::SubmitGridReport(report.clone())).await
    }

    /// Every item of a case the signed-in officer may see, in time order.
    pub async fn case_items(&self, case_id: &str) -> Result<pb::CaseItems, Error> {
        let mut all = pb::CaseItems {
            case_id: case_id.to_owned(),
            ..Default::default()
        };
        let mut query = pb::CaseItemsQuery {
            case_id: case_id.to_owned(),
            ..Default::default()
        };
        loop {
            let page = self.case_items_page(&query).await?;
            all.items.extend(page.items);
            if page.next_after.is_empty() {
                return Ok(all);
            }
            query.after = page.next_after;
        }
    }

    /// One page of a case's items (`query.limit` 0: 500, at most 1,000;
    /// `query.after`: the previous page's `next_after`).
    pub async fn case_items_page(&self, query: &pb::CaseItemsQuery) -> Result<pb::CaseItems, Error> {
        let request = pb::Request {
            body: Some(Body::CaseItems(query.clone())),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::CaseItems(items) => Ok(items),
            other => Err(unexpected(other)),
        }
    }

    /// Uploads a photo; returns its receipt once the server has verified and
    /// durably stored it.
    ///
    /// Before the first byte and after a lost connection or a stalled
    /// stream, the upload continues from the offset the server holds durably
    /// (asked with [`Client::upload_status`]), so bytes already stored are not
    /// sent again — also across app restarts, given the same evidence id
    /// ([`PhotoUpload::with_id`]). `progress` is called as bytes go out.
    ///
    /// ```no_run
    /// # async fn demo(client: &fieldlink_client::Client, jpeg: Vec<u8>, record_id: &str) -> Result<(), fieldlink_client::Error> {
    /// use fieldlink_client::PhotoUpload;
    /// let photo = PhotoUpload::new(record_id, "image/jpeg", fieldlink_client::now_ms(), jpeg).at(29.868, 121.544, 8.0);
    /// let receipt = client
    ///     .upload_photo(&photo, |p| eprintln!("{}/{} bytes", p.sent_bytes, p.total_bytes))
    ///     .await?;
    /// println!("stored, SM3 {:02x?}, flags {:?}", receipt.sm3, receipt.flags);
    /// # Ok(()) }
    /// ```
    pub async fn upload_photo(
        &self,
        photo: &PhotoUpload,
        progress: impl FnMut(UploadProgress),
    ) -> Result<pb::Receipt, Error> {
        self.upload_photo_captured(photo, None, progress).await
    }

    /// [`Client::upload_photo`] with a capture signature made earlier (the
    /// outbox signs at enqueue time); without one, it is signed now.
    pub(crate) async fn upload_photo_captured(
        &self,
        photo: &PhotoUpload,
        capture: Option<pb::CaptureSignature>,
        mut progress: impl FnMut(UploadProgress),
    ) -> Result<pb::Receipt, Error> {
        let policy = self.config.retry;
        let mut backoff = policy.backoff_initial;
        // The server may hold part (or all) of this photo already, from an
        // earlier attempt or before an app restart: continue from there.
        let mut offset = match self.upload_status(photo.evidence_id()).await {
            Ok(status) if status.complete => match status.receipt {
                Some(receipt) => return check_photo_receipt(photo, receipt),
                None => 0,
            },
            Ok(status) if status.durable_offset < photo.size_bytes() => status.durable_offset,
            Ok(_) => 0,
            Err(error) if error.is_retryable() => 0,
            Err(error) => return Err(error),
        };
        let captured = Captured {
            kind: fieldlink_protocol::log::LeafKind::Photo,
            item_id: photo.evidence_id(),
            bytes: photo.bytes().map_or(&[][..], |bytes| bytes.as_ref()),
            digests: photo.digests(),
            captured_at_ms: photo.captured_at_ms(),
            place: photo.place(),
        };
        let capture = match capture {
            Some(capture) => Some(capture),
            None => self.capture_signature(&captured).await?,
        };
        let mut attempt = 1;
        loop {
            let error = match self
                .upload_once(photo, capture.as_ref(), offset, attempt, &mut progress)
                .await
            {
                Ok(receipt) => return check_photo_receipt(photo, receipt),
                Err(error) => error,
            };
            let offset_mismatch = error
                .status()
                .filter(|s| s.reason == fieldlink_protocol::status::reason::OFFSET_MISMATCH)
                .map(|s| s.durable_offset);
            if (!error.is_retryable() && offset_mismatch.is_none()) || attempt >= policy.attempts_max {
                return Err(error);
            }
            if offset_mismatch.is_none() {
                let jitter =
                    Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
                tokio::time::sleep(error.retry_after().unwrap_or(backoff).max(backoff / 2) + jitter).await;
                backoff = (backoff * 2).min(policy.backoff_max);
            }
            attempt += 1;
            // Where to continue: what the server holds.
            offset = match offset_mismatch {
                Some(durable) => durable,
                None => match self.upload_status(photo.evidence_id()).await {
                    Ok(status) if status.complete => {
                        if let Some(receipt) = status.receipt {
                            return check_photo_receipt(photo, receipt);
                        }
                        0
                    }
                    Ok(status) => status.durable_offset,
                    Err(error) if error.is_retryable() => 0,
                    Err(error) => return Err(error),
                },
            };
            tracing::debug!(attempt, offset, "resuming photo upload");
        }
    }

    /// How much of an upload the server holds durably.
    pub async fn upload_status(&self, evidence_id: &str) -> Result<pb::UploadStatus, Error> {
        let request = pb::Request {
            body: Some(Body::UploadStatus(pb::UploadStatusQuery {
                evidence_id: evidence_id.to_owned(),
            })),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::UploadStatus(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }

    /// Which photos a record has, and which it lists that are still missing.
    pub async fn record_photos(&self, record_id: &str) -> Result<pb::RecordPhotos, Error> {
        let request = pb::Request {
            body: Some(Body::RecordPhotos(pb::RecordPhotosQuery {
                record_id: record_id.to_owned(),
            })),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::RecordPhotos(photos) => Ok(photos),
            other => Err(unexpected(other)),
        }
    }

    /// One stream: header, bytes from `offset`, FIN, answer.
    async fn upload_once(
        &self,
        photo: &PhotoUpload,
        capture: Option<&pb::CaptureSignature>,
        offset: u64,
        attempt: u32,
        progress: &mut impl FnMut(UploadProgress),
    ) -> Result<pb::Receipt, Error> {
        const WRITE_CHUNK_BYTES: usize = 64 * 1024;
        let connection = self.connection().await?;
        let header = frame::encode(&pb::Request {
            body: Some(Body::UploadPhoto(photo.header(offset))),
            capture: capture.cloned(),
        });
        let total = photo.size_bytes();
        let exchange = async {
            let (mut send, mut recv) = connection
                .open_bi()
                .await
                .map_err(|e| stream_error(&connection, e))?;
            // Bulk bytes yield to everything else on the connection: records,
            // assignment updates and feed acknowledgements go out first.
            send.set_priority(UPLOAD_STREAM_PRIORITY);
            let mut sent = offset;
            progress(UploadProgress {
                sent_bytes: sent,
                total_bytes: total,
                attempt,
            });
            // The server may answer before all bytes are sent (a replay, a
            // refusal) and stop the stream: then read its answer.
            let mut stopped = tokio::io::AsyncWriteExt::write_all(&mut send, &header)
                .await
                .is_err();
            let mut pieces = Pieces::open(photo.source(), offset, WRITE_CHUNK_BYTES)
                .await
                .map_err(|e| Error::Config(format!("reading the upload's file: {e}")))?;
            while !stopped {
                let Some(chunk) = pieces
                    .next()
                    .await
                    .map_err(|e| Error::Config(format!("reading the upload's file: {e}")))?
                else {
                    break;
                };
                if let Err(error) = send.write_chunk(chunk.clone()).await {
                    if matches!(error, fieldlink_link::WriteError::Stopped(_)) {
                        stopped = true;
                        break;
                    }
                    return Err(stream_error(&connection, error));
                }
                sent += chunk.len() as u64;
                progress(UploadProgress {
                    sent_bytes: sent,
                    total_bytes: total,
                    attempt,
                });
            }
            if !stopped {
                let _ = send.finish();
            }
            let body = read_frame(&mut recv, RESPONSE_FRAME_BYTES_MAX)
                .await
                .map_err(|e| read_error(&connection, e))?;
            decode_response(&body)
        };
        let result = match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout("no answer within the request timeout")),
        };
        if matches!(result, Err(Error::Connection(_) | Error::Timeout(_))) {
            self.forget(&connection).await;
        }
        match result? {
            response::Result::Receipt(receipt) => Ok(receipt),
            other => Err(unexpected(other)),
        }
    }

    /// Closes the current connection (e.g. the app knows its network went
    /// away). The next request connects again.
    pub async fn disconnect(&self) {
        if let Some(session) = self.state.lock().await.session.take() {
            session
                .connection
                .close(fieldlink_protocol::close_code::NORMAL, b"client disconnect");
        }
    }

    /// The server addresses: the configured one first, then the fallbacks.
    fn addresses(&self) -> Vec<std::net::SocketAddr> {
        std::iter::once(self.config.server_addr)
            .chain(self.config.fallback_addrs.iter().copied())
            .collect()
    }

    /// The address of the current session, if connected.
    pub async fn connected_addr(&self) -> Option<std::net::SocketAddr> {
        let state = self.state.lock().await;
        state
            .session
            .as_ref()
            .filter(|s| s.connection.close_reason().is_none())
            .map(|s| s.connection.remote_address())
    }

    /// Moves to a new local UDP socket, as when the terminal's network
    /// changes (Wi-Fi ↔ mobile data). The QUIC connection continues on the
    /// new path (connection migration): uploads in flight go on. (A TCP
    /// session cannot migrate: it is lost with its network and reconnects.)
    pub fn rebind(&self) -> Result<(), Error> {
        connection::rebind(
            &self.endpoint,
            self.config.server_addr,
            self.config.udp_buffer_bytes,
            self.config.simulated_send_loss,
        )
    }

    /// The transport of the current session, if connected.
    pub async fn transport(&self) -> Option<Transport> {
        let state = self.state.lock().await;
        state
            .session
            .as_ref()
            .filter(|s| s.connection.close_reason().is_none())
            .map(|s| s.connection.transport())
    }

    /// The local UDP address in use.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// The stable id of the current QUIC connection (it changes on a
    /// reconnect, not on migration).
    pub async fn connection_id(&self) -> Option<usize> {
        self.state
            .lock()
            .await
            .session
            .as_ref()
            .map(|s| s.connection.stable_id())
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> crate::RetryPolicy {
        self.config.retry
    }

    /// Closes the connection and waits until the server has been told.
    pub async fn close(self) {
        self.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }

    /// Sends an item request (encoded once, so retries send the same bytes)
    /// and expects a receipt.
    async fn submit(&self, body: Body) -> Result<pb::Receipt, Error> {
        let capture = match captured_of(&body) {
            Some(captured) => self.capture_signature(&captured.captured()).await?,
            None => None,
        };
        let request = pb::Request {
            body: Some(body),
            capture,
        };
        self.send_with_retry(&frame::encode(&request)).await
    }

    /// `request_frame` with a capture signature made now if it carries none
    /// and its body is an item (the outbox's items queued unsigned).
    pub(crate) async fn with_capture(&self, request_frame: &[u8]) -> Result<Vec<u8>, Error> {
        let body =
            frame::decode_whole(request_frame, u32::MAX).map_err(|e| Error::Protocol(e.to_string()))?;
        let request = pb::Request::decode(body).map_err(|e| Error::Protocol(e.to_string()))?;
        let captured = match (&request.capture, &request.body) {
            (None, Some(body)) => captured_of(body),
            _ => None,
        };
        let Some(captured) = captured else {
            return Ok(request_frame.to_vec());
        };
        let capture = self.capture_signature(&captured.captured()).await?;
        Ok(frame::encode(&pb::Request { capture, ..request }))
    }

    /// The device's signature of `captured`, by the signed-in officer
    /// (connecting first if needed: the statement names the session's
    /// officer and device). None when signing is off or the item id is not
    /// a UUID (the server refuses such an item anyway).
    async fn capture_signature(
        &self,
        captured: &Captured<'_>,
    ) -> Result<Option<pb::CaptureSignature>, Error> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        if uuid::Uuid::parse_str(captured.item_id).is_err() {
            return Ok(None);
        }
        // The statement names the session's officer and device: connect
        // first, retrying like any request (a lossy network may refuse the
        // first hellos).
        self.with_retry(|| self.connection()).await?;
        let Some(welcome) = self.welcome().await else {
            return Ok(None);
        };
        let officer = welcome
            .officer
            .map(|officer| officer.officer_id)
            .unwrap_or_default();
        signer.sign(captured, &officer, &welcome.device_id).map(Some)
    }

    async fn send_with_retry(&self, request_frame: &[u8]) -> Result<pb::Receipt, Error> {
        match self.request_with_retry(request_frame).await? {
            response::Result::Receipt(receipt) => Ok(receipt),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) async fn request_with_retry(&self, request_frame: &[u8]) -> Result<response::Result, Error> {
        self.with_retry(|| self.send_once(request_frame)).await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry policy
    /// runs out; waits with jittered exponential backoff (or the server's
    /// `retry_after`) in between.
    async fn with_retry<T, F, Fut>(&self, mut op: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let policy = self.config.retry;
        let mut backoff = policy.backoff_initial;
        let mut attempt = 1;
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= policy.attempts_max {
                return Err(error);
            }
            let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
            let wait = error.retry_after().unwrap_or(backoff).max(backoff / 2) + jitter;
            tracing::debug!(%error, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(policy.backoff_max);
            attempt += 1;
        }
    }

    /// One attempt at a request already encoded as a frame (the outbox keeps
    /// the exact bytes and does its own retrying).
    pub(crate) async fn send_once(&self, request_frame: &[u8]) -> Result<response::Result, Error> {
        let connection = self.connection().await?;
        let exchange = async {
            let (mut send, mut recv) = connection
                .open_bi()
                .await
                .map_err(|e| stream_error(&connection, e))?;
            tokio::io::AsyncWriteExt::write_all(&mut send, request_frame)
                .await
                .map_err(|e| stream_error(&connection, e))?;
            // The server may answer (and stop the rest of the stream) before
            // the end is sent: the answer decides, not the failed finish.
            let _ = send.finish();
            let body = read_frame(&mut recv, RESPONSE_FRAME_BYTES_MAX)
                .await
                .map_err(|e| read_error(&connection, e))?;
            decode_response(&body)
        };
        let result = match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout("no response within the request timeout")),
        };
        if matches!(result, Err(Error::Connection(_) | Error::Timeout(_))) {
            self.forget(&connection).await;
        }
        result
    }

    /// The live connection, connecting (and signing in) if there is none.
    pub(crate) async fn connection(&self) -> Result<Link, Error> {
        let mut state = self.state.lock().await;
        if let Some(session) = &state.session {
            if session.connection.close_reason().is_none() {
                let connection = session.connection.clone();
                self.maybe_probe_quic(&mut state, &connection);
                return Ok(connection);
            }
        }
        state.session = None;
        // Try the address that worked last, then the others in order.
        let addresses = self.addresses();
        let mut last_error = None;
        let mut opened = None;
        for step in 0..addresses.len() {
            let index = (state.preferred_addr + step) % addresses.len();
            let addr = addresses[index];
            // Only auto remembers networks (a socket call, once per connect).
            let network = match self.config.transport {
                Transport::Auto => network_of(addr),
                _ => None,
            };
            let plan = self.plan(&state, network);
            let attempt = tokio::time::timeout(
                self.config.connect_timeout,
                self.connector()
                    .open_session(plan, addr, self.tcp_addr(index, addr), &state.credentials),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Error::Unreachable(format!(
                    "{addr} did not answer within {:?}",
                    self.config.connect_timeout
                )))
            });
            match attempt {
                Ok(session) => {
                    state.preferred_addr = index;
                    state.network = network;
                    if let (Some(network), Plan::Race { .. }) = (network, plan) {
                        match session.connection.transport() {
                            Transport::Tcp => {
                                tracing::info!(%addr, "QUIC did not get through: using TCP on this network");
                                state.tcp_networks.insert(network, std::time::Instant::now());
                            }
                            _ => {
                                state.tcp_networks.remove(&network);
                            }
                        }
                    }
                    opened = Some(session);
                    break;
                }
                // Refusals are the same on every node: do not go on.
                Err(error) if !error.is_retryable() => return Err(error),
                Err(error) => {
                    tracing::debug!(%addr, %error, "server address unreachable");
                    last_error = Some(error);
                }
            }
        }
        let session = match opened {
            Some(session) => session,
            None => return Err(last_error.unwrap_or(Error::Connection("no server address".into()))),
        };
        let connection = self.adopt(&mut state, session);
        Ok(connection)
    }

    /// Makes `session` the current one.
    fn adopt(&self, state: &mut State, session: Session) -> Link {
        if !session.welcome.session_token.is_empty() {
            // From now on reconnect with the token; the password is dropped.
            state.credentials = Credentials::Token(session.welcome.session_token.clone());
        }
        let connection = session.connection.clone();
        state.session = Some(session);
        connection
    }

    fn connector(&self) -> Connector<'_> {
        Connector {
            endpoint: &self.endpoint,
            quic: &self.quic,
            tcp_tls: &self.tcp_tls,
            config: &self.config,
        }
    }

    /// The TCP address that goes with server address number `index`.
    fn tcp_addr(&self, index: usize, addr: std::net::SocketAddr) -> std::net::SocketAddr {
        match (index, self.config.tcp_addr) {
            (0, Some(tcp)) => tcp,
            _ => addr,
        }
    }

    /// How to reach a server from `network`: as configured, or (auto) TCP
    /// straight away where QUIC failed lately, else QUIC first.
    fn plan(&self, state: &State, network: Option<std::net::IpAddr>) -> Plan {
        match self.config.transport {
            Transport::Quic => Plan::Quic,
            Transport::Tcp => Plan::Tcp,
            Transport::Auto => {
                let tcp_lately = network
                    .and_then(|network| state.tcp_networks.get(&network))
                    .is_some_and(|since| since.elapsed() < self.config.quic_retry_after);
                match tcp_lately {
                    true => Plan::Tcp,
                    false => Plan::Race {
                        after: self.config.tcp_fallback_after,
                    },
                }
            }
        }
    }

    /// On a TCP session (auto), once QUIC is due to be tried again: tries it
    /// beside the session, and moves to it if it works.
    fn maybe_probe_quic(&self, state: &mut State, connection: &Link) {
        if self.config.transport != Transport::Auto
            || connection.transport() != Transport::Tcp
            || state.probing_quic
        {
            return;
        }
        let Some(network) = state.network else {
            return;
        };
        let due = state
            .tcp_networks
            .get(&network)
            .is_none_or(|since| since.elapsed() >= self.config.quic_retry_after);
        if !due {
            return;
        }
        state.probing_quic = true;
        // Whatever the outcome, the next try is one interval away.
        state.tcp_networks.insert(network, std::time::Instant::now());
        let Some(quic_addr) = self.addresses().get(state.preferred_addr).copied() else {
            return;
        };
        let client = self.clone();
        tokio::spawn(async move { client.probe_quic(quic_addr, network).await });
    }

    async fn probe_quic(&self, addr: std::net::SocketAddr, network: std::net::IpAddr) {
        let credentials = self.state.lock().await.credentials.clone();
        let attempt = tokio::time::timeout(
            self.config.connect_timeout,
            self.connector()
                .open_session(Plan::Quic, addr, addr, &credentials),
        )
        .await;
        let mut state = self.state.lock().await;
        state.probing_quic = false;
        let Ok(Ok(session)) = attempt else {
            tracing::debug!(%addr, "QUIC still does not get through: staying on TCP");
            return;
        };
        tracing::info!(%addr, "QUIC gets through again: moving from TCP");
        state.tcp_networks.remove(&network);
        if let Some(old) = state.session.take() {
            // What is in flight on the old connection may finish there.
            tokio::spawn(async move {
                tokio::time::sleep(SWITCH_GRACE).await;
                old.connection
                    .close(fieldlink_protocol::close_code::NORMAL, b"moved to QUIC");
            });
        }
        self.adopt(&mut state, session);
    }

    pub(crate) async fn forget(&self, connection: &Link) {
        let mut state = self.state.lock().await;
        if state
            .session
            .as_ref()
            .is_some_and(|s| s.connection.stable_id() == connection.stable_id())
        {
            state.session = None;
        }
    }
}

/// The network a server is reached from: the local address the system
/// routes to it from (no packet is sent).
fn network_of(server: std::net::SocketAddr) -> Option<std::net::IpAddr> {
    let bind: std::net::SocketAddr = match server {
        std::net::SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        std::net::SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(server).ok()?;
    socket.local_addr().ok().map(|local| local.ip())
}

/// A response frame: a result, or the server's refusal as an error.
fn decode_response(body: &[u8]) -> Result<response::Result, Error> {
    let response = pb::Response::decode(body).map_err(|e| Error::Protocol(e.to_string()))?;
    match response.result {
        Some(response::Result::Error(status)) => Err(Error::Rejected(Box::new(status))),
        Some(result) => Ok(result),
        None => Err(Error::Protocol("empty response".into())),
    }
}

pub(crate) fn unexpected(result: response::Result) -> Error {
    Error::Protocol(format!("unexpected answer: {result:?}"))
}

/// The server's digest must be the one computed here: the bytes arrived intact.
fn check_photo_receipt(photo: &PhotoUpload, receipt: pb::Receipt) -> Result<pb::Receipt, Error> {
    if photo.sha256() != receipt.sha256 || receipt.item_id != photo.evidence_id().to_lowercase() {
        return Err(Error::Protocol(
            "the receipt does not match the photo sent".into(),
        ));
    }
    Ok(receipt)
}

/// An upload's bytes from `offset`, a piece at a time: slices of the bytes
/// in memory, or reads of the file (never held whole).
enum Pieces {
    Memory(bytes::Bytes, usize),
    File(tokio::fs::File, usize),
}

impl Pieces {
    async fn open(source: &crate::photo::Source, offset: u64, piece: usize) -> std::io::Result<Self> {
        match source {
            crate::photo::Source::Memory(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                Ok(Pieces::Memory(bytes.slice(start..), piece))
            }
            crate::photo::Source::File { path, .. } => {
                use tokio::io::AsyncSeekExt;
                let mut file = tokio::fs::File::open(path).await?;
                file.seek(std::io::SeekFrom::Start(offset)).await?;
                Ok(Pieces::File(file, piece))
            }
        }
    }

    async fn next(&mut self) -> std::io::Result<Option<bytes::Bytes>> {
        match self {
            Pieces::Memory(rest, piece) => {
                if rest.is_empty() {
                    return Ok(None);
                }
                let take = (*piece).min(rest.len());
                Ok(Some(rest.split_to(take)))
            }
            Pieces::File(file, piece) => {
                use tokio::io::AsyncReadExt;
                let mut buffer = bytes::BytesMut::zeroed(*piece);
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(None);
                }
                buffer.truncate(read);
                Ok(Some(buffer.freeze()))
            }
        }
    }
}
