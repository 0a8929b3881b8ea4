//! Which dispatches (an assignment and the seq of the event that dispatched
//! it: a reassignment dispatches it again) this node has already marked
//! DELIVERED (or found delivered), so that the acknowledgements of a team's other terminals do
//! not each read the assignment again only to be told it is delivered.
//!
//! A bounded memory: the oldest ids are forgotten first, and a forgotten id
//! costs one storage read (the state machine refuses a second DELIVERED).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// An assignment and the seq of the event that dispatched it.
pub type Dispatch = (Uuid, u64);

/// Dispatches remembered at most.
const REMEMBERED_MAX: usize = 8_192;

/// The set of marked assignments. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct DeliveryMarks {
    inner: Arc<Mutex<Marks>>,
}

#[derive(Default)]
struct Marks {
    ids: HashSet<Dispatch>,
    order: VecDeque<Dispatch>,
}

impl DeliveryMarks {
    /// Claims a dispatch for marking: true for the first caller only.
    pub fn claim(&self, id: Dispatch) -> bool {
        let Ok(mut marks) = self.inner.lock() else {
            // A poisoned lock only loses the shortcut: let the state machine decide.
            return true;
        };
        if !marks.ids.insert(id) {
            return false;
        }
        marks.order.push_back(id);
        if marks.order.len() > REMEMBERED_MAX {
            if let Some(oldest) = marks.order.pop_front() {
                marks.ids.remove(&oldest);
            }
        }
        true
    }

    /// Gives a claim back (the marking failed for a reason that may pass).
    pub fn release(&self, id: Dispatch) {
        if let Ok(mut marks) = self.inner.lock() {
            if marks.ids.remove(&id) {
                marks.order.retain(|kept| *kept != id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_claim_wins_until_released_and_memory_is_bounded() {
        let marks = DeliveryMarks::default();
        let id = (Uuid::now_v7(), 7);
        assert!(marks.claim(id));
        assert!(!marks.claim(id));
        // The same assignment dispatched again (reassigned) is a new claim.
        assert!(marks.claim((id.0, 9)));
        marks.release(id);
        assert!(marks.claim(id));
        for seq in 0..REMEMBERED_MAX as u64 {
            assert!(marks.claim((Uuid::now_v7(), seq)));
        }
        // `id` was the oldest: forgotten, so claimable again.
        assert!(marks.claim(id));
        let inner = marks.inner.lock().unwrap();
        assert_eq!(inner.ids.len(), REMEMBERED_MAX);
        assert_eq!(inner.order.len(), REMEMBERED_MAX);
    }
}
