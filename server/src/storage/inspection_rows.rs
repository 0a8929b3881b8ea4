//! The index rows of a batch's inspection records, column by column: both
//! backends insert them with a few statements for the whole batch (SQLite
//! as multi-row VALUES, PostgreSQL as UNNEST over these columns).

use super::{ItemIndex, NewItem};

/// `inspections`, `inspection_officers` and `inspection_photos` rows.
#[derive(Debug, Default)]
pub(crate) struct InspectionRows<'a> {
    /// `inspections`: one entry per record in every column below.
    pub item_ids: Vec<String>,
    pub matter_codes: Vec<&'a str>,
    pub outcomes: Vec<i32>,
    pub started_at_ms: Vec<i64>,
    pub latitudes: Vec<f64>,
    pub longitudes: Vec<f64>,
    pub assignment_ids: Vec<Option<&'a str>>,
    /// The signed-in officer who sent each record (for statistics).
    pub senders: Vec<&'a str>,
    /// `inspection_officers`: (item id, officer id) pairs.
    pub officers: (Vec<String>, Vec<&'a str>),
    /// `inspection_photos`: (item id, photo id) pairs.
    pub photos: (Vec<String>, Vec<&'a str>),
}

impl<'a> InspectionRows<'a> {
    /// The rows of every inspection record among `items`; other kinds are
    /// skipped (they are indexed one by one).
    pub fn of(items: &[&'a NewItem]) -> Self {
        let mut rows = Self::default();
        for item in items {
            let ItemIndex::Inspection {
                matter_code,
                outcome,
                started_at_ms,
                latitude,
                longitude,
                assignment_id,
                officer_ids,
                photo_ids,
            } = &item.index
            else {
                continue;
            };
            let id = item.item_id.to_string();
            for officer in officer_ids {
                rows.officers.0.push(id.clone());
                rows.officers.1.push(officer);
            }
            for photo in photo_ids {
                rows.photos.0.push(id.clone());
                rows.photos.1.push(photo);
            }
            rows.item_ids.push(id);
            rows.matter_codes.push(matter_code);
            rows.outcomes.push(*outcome);
            rows.started_at_ms.push(*started_at_ms);
            rows.latitudes.push(*latitude);
            rows.longitudes.push(*longitude);
            rows.assignment_ids.push(assignment_id.as_deref());
            rows.senders.push(&item.officer_id);
        }
        rows
    }
}
