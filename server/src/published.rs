//! A committed assignment event as it is pushed: the event, the officers it
//! is for, and its feed frame, encoded once for every feed that sends it.

use bytes::Bytes;
use fieldlink_protocol::{frame, pb};

/// A committed event and who may see it.
#[derive(Debug)]
pub struct Published {
    /// The event (with its seq).
    pub event: pb::AssignmentEvent,
    /// Officers whose feed it belongs to (supervisors see every event),
    /// sorted and without repeats: every feed asks, and a team may be
    /// thousands.
    audience: Vec<String>,
    /// The feed frame carrying the event (length prefix included), encoded
    /// once and shared by every feed that sends it.
    frame: Bytes,
}

impl Published {
    /// An event for `audience`.
    pub fn new(event: pb::AssignmentEvent, mut audience: Vec<String>) -> Self {
        audience.sort_unstable();
        audience.dedup();
        let frame = Bytes::from(frame::encode(&pb::FeedFrame {
            body: Some(pb::feed_frame::Body::Event(event.clone())),
        }));
        Self {
            event,
            audience,
            frame,
        }
    }

    /// The officers it is for, sorted.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// Its feed frame, as a terminal receives it.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// Whether `officer` is in the audience.
    pub fn is_for(&self, officer: &str) -> bool {
        self.audience
            .binary_search_by(|member| member.as_str().cmp(officer))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_looked_up_whatever_order_it_came_in() {
        let audience = vec![
            "officer-03".to_owned(),
            "officer-01".to_owned(),
            "officer-02".to_owned(),
        ];
        let published = Published::new(pb::AssignmentEvent::default(), audience);
        for officer in ["officer-01", "officer-02", "officer-03"] {
            assert!(published.is_for(officer), "{officer}");
        }
        assert!(!published.is_for("officer-04"));
        assert!(!published.is_for(""));
        assert!(!Published::new(pb::AssignmentEvent::default(), Vec::new()).is_for("officer-01"));
    }

    #[test]
    fn the_frame_is_the_event_as_a_feed_sends_it() {
        let event = pb::AssignmentEvent {
            seq: 42,
            by: "supervisor-01".into(),
            ..Default::default()
        };
        let published = Published::new(event.clone(), vec!["officer-01".into(), "officer-01".into()]);
        let expected = frame::encode(&pb::FeedFrame {
            body: Some(pb::feed_frame::Body::Event(event)),
        });
        assert_eq!(published.frame().as_ref(), expected.as_slice());
        assert_eq!(published.audience(), ["officer-01".to_owned()], "repeats removed");
    }
}
