//! Pages of a list, newest first (assignments, incidents): a page size of
//! 1 to 500 (0: 100) and the `after` cursor — the last id of the previous
//! page (UUIDv7 ids sort by creation time).

use fieldlink_protocol::{validate, FieldError};

/// Largest page.
pub const PAGE_MAX: u32 = 500;
/// The page size when none is asked.
pub const PAGE_DEFAULT: u32 = 100;

/// A checked page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Items on the page.
    pub limit: u32,
    /// Only ids below this one.
    pub before_id: Option<String>,
}

impl Page {
    /// Checks `limit` and `after` as a request sent them.
    pub fn parse(limit: u32, after: &str) -> Result<Self, FieldError> {
        let limit = match limit {
            0 => PAGE_DEFAULT,
            limit @ 1..=PAGE_MAX => limit,
            _ => return Err(FieldError::new("limit", format!("must be 1 to {PAGE_MAX}"))),
        };
        let before_id = match after {
            "" => None,
            text => Some(validate::any_uuid("after", text)?.to_string()),
        };
        Ok(Self { limit, before_id })
    }

    /// The `next_after` of a page of `count` items whose last id is
    /// `last_id`: empty when the page was not full (nothing more).
    pub fn next_after(&self, count: usize, last_id: Option<&str>) -> String {
        if count == self.limit as usize {
            last_id.unwrap_or_default().to_owned()
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_checked_and_continued() {
        let page = Page::parse(0, "").unwrap();
        assert_eq!((page.limit, page.before_id.as_deref()), (PAGE_DEFAULT, None));
        assert_eq!(Page::parse(501, "").unwrap_err().field, "limit");
        assert_eq!(Page::parse(10, "nope").unwrap_err().field, "after");
        let page = Page::parse(2, "").unwrap();
        assert_eq!(page.next_after(2, Some("b")), "b");
        assert_eq!(page.next_after(1, Some("a")), "");
    }
}
