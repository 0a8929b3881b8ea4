//! One active upload stream per (device, evidence id).
//!
//! A terminal whose connection died may resume on a new one before the
//! server notices the old stream is gone. The newer stream wins: it cancels
//! the older one, which makes its bytes durable and steps aside, so the two
//! never write the same partial file at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Default)]
struct Slot {
    lock: Arc<tokio::sync::Mutex<()>>,
    current: Mutex<CancellationToken>,
}

/// The table of active uploads.
#[derive(Default)]
pub struct UploadSlots {
    slots: Mutex<HashMap<(String, Uuid), Arc<Slot>>>,
}

/// Exclusive use of one upload; `cancelled` fires when a newer stream takes over.
pub struct UploadSlot {
    _guard: OwnedMutexGuard<()>,
    /// Fires when a newer stream for the same upload arrives.
    pub cancelled: CancellationToken,
}

impl UploadSlots {
    /// Takes the slot for (device, evidence id), cancelling any older holder
    /// and waiting until it has let go.
    pub async fn acquire(&self, device_id: &str, evidence_id: Uuid) -> UploadSlot {
        let slot = {
            // Poisoning only follows a panic elsewhere; the map is still usable.
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry((device_id.to_owned(), evidence_id))
                .or_default()
                .clone()
        };
        let token = {
            let mut current = slot.current.lock().unwrap_or_else(|e| e.into_inner());
            current.cancel();
            *current = CancellationToken::new();
            current.clone()
        };
        let guard = slot.lock.clone().lock_owned().await;
        UploadSlot {
            _guard: guard,
            cancelled: token,
        }
    }

    /// Takes the slot only if no stream holds it (the janitor never cancels
    /// an upload in progress).
    pub fn acquire_if_idle(&self, device_id: &str, evidence_id: Uuid) -> Option<UploadSlot> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry((device_id.to_owned(), evidence_id))
                .or_default()
                .clone()
        };
        let guard = slot.lock.clone().try_lock_owned().ok()?;
        let token = slot.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(UploadSlot {
            _guard: guard,
            cancelled: token,
        })
    }

    /// Forgets a finished upload's slot.
    pub fn release(&self, device_id: &str, evidence_id: Uuid) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&(device_id.to_owned(), evidence_id));
    }
}
