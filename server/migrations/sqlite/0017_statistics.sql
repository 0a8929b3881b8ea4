-- Statistics (crate::statistics) count inspections by when they began.
CREATE INDEX inspections_started ON inspections(started_at_ms);
