//! Limits per device: connections, concurrent uploads, and a request rate
//! (token bucket). A misbehaving or compromised terminal gets
//! RESOURCE_EXHAUSTED with a retry-after, and everyone else keeps working.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::token_bucket::TokenBucket;

/// The settings.
#[derive(Debug, Clone, Copy)]
pub struct DeviceLimitSettings {
    /// Connections one device may hold at once.
    pub connections_max: usize,
    /// Uploads one device may run at once.
    pub uploads_max: usize,
    /// Uploads the whole server may run at once.
    pub uploads_total_max: usize,
    /// Sustained requests per second per device.
    pub requests_per_second: f64,
    /// Requests a device may make in a burst.
    pub request_burst: f64,
}

#[derive(Debug)]
struct DeviceState {
    connections: usize,
    uploads: usize,
    requests: TokenBucket,
}

/// The shared counters.
#[derive(Clone)]
pub struct DeviceLimits {
    settings: DeviceLimitSettings,
    devices: Arc<Mutex<HashMap<String, DeviceState>>>,
    uploads_total: Arc<std::sync::atomic::AtomicUsize>,
}

/// Why an upload may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRefusal {
    /// The device runs as many as it may.
    Device(usize),
    /// The server runs as many as it may.
    Server(usize),
}

/// Holds a connection or upload slot; releases it when dropped.
pub struct Slot {
    limits: DeviceLimits,
    device: String,
    kind: SlotKind,
}

#[derive(Clone, Copy)]
enum SlotKind {
    Connection,
    Upload,
}

impl DeviceLimits {
    /// New counters.
    pub fn new(settings: DeviceLimitSettings) -> Self {
        Self {
            settings,
            devices: Arc::new(Mutex::new(HashMap::new())),
            uploads_total: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// A connection slot, or `None` when the device holds its maximum.
    pub fn connection(&self, device: &str) -> Option<Slot> {
        self.take(device, SlotKind::Connection)
    }

    /// An upload slot, or why not: the device, or the whole server, runs
    /// its maximum.
    pub fn upload(&self, device: &str) -> Result<Slot, UploadRefusal> {
        use std::sync::atomic::Ordering;
        let max = self.settings.uploads_total_max;
        if self
            .uploads_total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(UploadRefusal::Server(max));
        }
        self.take(device, SlotKind::Upload).ok_or_else(|| {
            self.uploads_total.fetch_sub(1, Ordering::AcqRel);
            UploadRefusal::Device(self.settings.uploads_max)
        })
    }

    /// Uploads a device is running now.
    pub fn uploads(&self, device: &str) -> usize {
        self.lock().get(device).map(|state| state.uploads).unwrap_or(0)
    }

    /// Takes one request token; `Err(ms)` says how long until one is free.
    pub fn request(&self, device: &str) -> Result<(), u64> {
        let mut devices = self.lock();
        self.state(&mut devices, device).requests.take()
    }

    fn take(&self, device: &str, kind: SlotKind) -> Option<Slot> {
        let mut devices = self.lock();
        let (connections_max, uploads_max) = (self.settings.connections_max, self.settings.uploads_max);
        let state = self.state(&mut devices, device);
        let (count, max) = match kind {
            SlotKind::Connection => (&mut state.connections, connections_max),
            SlotKind::Upload => (&mut state.uploads, uploads_max),
        };
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            limits: self.clone(),
            device: device.to_owned(),
            kind,
        })
    }

    fn state<'a>(&self, devices: &'a mut HashMap<String, DeviceState>, device: &str) -> &'a mut DeviceState {
        devices.entry(device.to_owned()).or_insert_with(|| DeviceState {
            connections: 0,
            uploads: 0,
            requests: TokenBucket::new(self.settings.requests_per_second, self.settings.request_burst),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DeviceState>> {
        // Poisoning follows a panic elsewhere; the counters stay usable.
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut devices = self.limits.lock();
        if let Some(state) = devices.get_mut(&self.device) {
            match self.kind {
                SlotKind::Connection => state.connections = state.connections.saturating_sub(1),
                SlotKind::Upload => {
                    state.uploads = state.uploads.saturating_sub(1);
                    self.limits
                        .uploads_total
                        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DeviceLimits {
        DeviceLimits::new(DeviceLimitSettings {
            connections_max: 2,
            uploads_max: 1,
            uploads_total_max: 2,
            requests_per_second: 10.0,
            request_burst: 3.0,
        })
    }

    #[test]
    fn slots_are_counted_per_device_and_released() {
        let limits = limits();
        let a = limits.connection("d1").unwrap();
        let _b = limits.connection("d1").unwrap();
        assert!(limits.connection("d1").is_none());
        assert!(
            limits.connection("d2").is_some(),
            "another device is not affected"
        );
        drop(a);
        assert!(limits.connection("d1").is_some());
        let upload = limits.upload("d1").unwrap();
        assert_eq!(limits.upload("d1").err(), Some(UploadRefusal::Device(1)));
        drop(upload);
        assert!(limits.upload("d1").is_ok());
    }

    #[test]
    fn uploads_are_counted_for_the_whole_server_too() {
        let limits = limits();
        // Two devices fill the server's two upload slots.
        let first = limits.upload("d1").unwrap();
        let second = limits.upload("d2").unwrap();
        assert_eq!(limits.upload("d3").err(), Some(UploadRefusal::Server(2)));
        // A refusal for the device does not use a server slot.
        assert_eq!(limits.upload("d1").err(), Some(UploadRefusal::Server(2)));
        drop(second);
        assert_eq!(limits.upload("d1").err(), Some(UploadRefusal::Device(1)));
        let third = limits.upload("d3").unwrap();
        drop((first, third));
        assert!(limits.upload("d4").is_ok());
    }

    #[test]
    fn the_bucket_allows_a_burst_then_says_when() {
        let limits = limits();
        for _ in 0..3 {
            assert!(limits.request("d1").is_ok());
        }
        let wait_ms = limits.request("d1").unwrap_err();
        assert!((1..=100).contains(&wait_ms), "{wait_ms}");
        assert!(limits.request("d2").is_ok());
    }
}
