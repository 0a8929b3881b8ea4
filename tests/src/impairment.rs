//! A UDP impairment proxy for tests on loopback: it sits between terminals
//! and the server and, per direction, drops, duplicates, delays (reorders)
//! and corrupts datagrams, can black-hole everything for a while, and can
//! rebind its server-facing sockets (what a NAT rebinding looks like to the
//! server). Seeded, so a run's impairments are reproducible.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;

/// What happens to datagrams, in each direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions {
    /// Share dropped.
    pub loss: f64,
    /// Share sent twice.
    pub duplicate: f64,
    /// Share held back by `reorder_delay` (so later ones overtake them).
    pub reorder: f64,
    /// How long a reordered datagram is held.
    pub reorder_delay: Duration,
    /// Share with one byte flipped.
    pub corrupt: f64,
    /// Drop everything while set.
    pub blackhole: bool,
    /// Drop everything from the server while set (one-way: the server hears
    /// the client, the client never hears back — a stalled handshake).
    pub server_silenced: bool,
}

struct Shared {
    conditions: Conditions,
    rng: StdRng,
    /// Client address → the socket that talks to the server for it.
    upstreams: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Datagrams dropped, duplicated, reordered, corrupted.
    pub counts: [u64; 4],
}

/// A running proxy. Dropping it stops it.
pub struct ImpairmentProxy {
    addr: SocketAddr,
    server: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    front: Arc<UdpSocket>,
    task: tokio::task::JoinHandle<()>,
}

impl ImpairmentProxy {
    /// Listens on a free loopback port and forwards to `server`.
    pub async fn start(server: SocketAddr, conditions: Conditions, seed: u64) -> Self {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind the proxy"));
        let shared = Arc::new(Mutex::new(Shared {
            conditions,
            rng: StdRng::seed_from_u64(seed),
            upstreams: HashMap::new(),
            counts: [0; 4],
        }));
        let task = tokio::spawn(forward_from_clients(front.clone(), server, shared.clone()));
        Self {
            addr: front.local_addr().expect("proxy address"),
            server,
            shared,
            front,
            task,
        }
    }

    /// Where terminals should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the conditions (e.g. lifts the impairment).
    pub fn set(&self, conditions: Conditions) {
        self.shared.lock().expect("proxy state").conditions = conditions;
    }

    /// Dropped, duplicated, reordered, corrupted datagrams so far.
    pub fn counts(&self) -> [u64; 4] {
        self.shared.lock().expect("proxy state").counts
    }

    /// New server-facing sockets for every client: the server sees each
    /// terminal come from a new port, as after a NAT rebinding.
    pub async fn rebind(&self) {
        let clients: Vec<SocketAddr> = self
            .shared
            .lock()
            .expect("proxy state")
            .upstreams
            .keys()
            .copied()
            .collect();
        for client in clients {
            let upstream = new_upstream(self.server, client, self.front.clone(), self.shared.clone()).await;
            self.shared
                .lock()
                .expect("proxy state")
                .upstreams
                .insert(client, upstream);
        }
    }
}

impl Drop for ImpairmentProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward_from_clients(front: Arc<UdpSocket>, server: SocketAddr, shared: Arc<Mutex<Shared>>) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let Ok((length, client)) = front.recv_from(&mut buffer).await else {
            return;
        };
        let known = shared
            .lock()
            .expect("proxy state")
            .upstreams
            .get(&client)
            .cloned();
        let upstream = match known {
            Some(upstream) => upstream,
            None => {
                let upstream = new_upstream(server, client, front.clone(), shared.clone()).await;
                shared
                    .lock()
                    .expect("proxy state")
                    .upstreams
                    .insert(client, upstream.clone());
                upstream
            }
        };
        impair_and_send(&shared, false, buffer[..length].to_vec(), move |datagram| {
            let upstream = upstream.clone();
            async move {
                let _ = upstream.send(&datagram).await;
            }
        });
    }
}

/// A socket to the server for one client, with its server→client forwarder.
async fn new_upstream(
    server: SocketAddr,
    client: SocketAddr,
    front: Arc<UdpSocket>,
    shared: Arc<Mutex<Shared>>,
) -> Arc<UdpSocket> {
    let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind upstream"));
    upstream.connect(server).await.expect("connect upstream");
    let reader = upstream.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 65_536];
        // Ends when the proxy stops using this socket and the server goes quiet.
        while let Ok(Ok(length)) =
            tokio::time::timeout(Duration::from_secs(120), reader.recv(&mut buffer)).await
        {
            let front = front.clone();
            impair_and_send(&shared, true, buffer[..length].to_vec(), move |datagram| {
                let front = front.clone();
                async move {
                    let _ = front.send_to(&datagram, client).await;
                }
            });
        }
    });
    upstream
}

fn impair_and_send<F, Fut>(shared: &Arc<Mutex<Shared>>, from_server: bool, mut datagram: Vec<u8>, send: F)
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (drop_it, duplicate, delay) = {
        let mut state = shared.lock().expect("proxy state");
        let c = state.conditions;
        if c.blackhole || (from_server && c.server_silenced) || state.rng.gen::<f64>() < c.loss {
            state.counts[0] += 1;
            (true, false, None)
        } else {
            let duplicate = state.rng.gen::<f64>() < c.duplicate;
            let delay = (state.rng.gen::<f64>() < c.reorder).then_some(c.reorder_delay);
            if state.rng.gen::<f64>() < c.corrupt && !datagram.is_empty() {
                let index = state.rng.gen_range(0..datagram.len());
                datagram[index] ^= 0x5a;
                state.counts[3] += 1;
            }
            state.counts[1] += u64::from(duplicate);
            state.counts[2] += u64::from(delay.is_some());
            (false, duplicate, delay)
        }
    };
    if drop_it {
        return;
    }
    tokio::spawn(async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if duplicate {
            send(datagram.clone()).await;
        }
        send(datagram).await;
    });
}
