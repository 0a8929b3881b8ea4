//! Reference data the server swaps while it serves (the directory and the
//! catalogue, reloaded without a restart): readers take the version in
//! force as an `Arc` and keep it for as long as they work with it; a reload
//! puts a whole new one in place, never a half-changed one.

use std::sync::{Arc, RwLock};

/// A value replaced whole, read as an `Arc` of the version in force.
#[derive(Debug)]
pub struct Swappable<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Swappable<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Swappable<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// The version in force.
    pub fn get(&self) -> Arc<T> {
        // A poisoned lock still holds a whole value (the write is one swap).
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `value` in force; returns the one it replaces.
    pub fn replace(&self, value: T) -> Arc<T> {
        let mut slot = self.0.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *slot, Arc::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_the_version_they_took() {
        let value = Swappable::new(1);
        let before = value.get();
        let old = value.replace(2);
        assert_eq!((*before, *old, *value.get()), (1, 1, 2));
        assert_eq!(*value.clone().get(), 2);
    }
}
