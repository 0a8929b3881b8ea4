//! End-to-end tests: real servers on loopback, real SDK clients, real
//! certificates and a real SQLite file. One test binary (ripgrep's model).

mod api_fuzz;
mod assignments;
mod authorization;
mod bad_input;
mod blob_races;
mod browser;
mod camera_alerts;
mod console;
mod device_capture;
mod evidence_export;
mod faults;
mod framing;
mod grid_reports;
mod handshake;
mod hj212_intake;
mod impairment;
mod incident_loop;
mod inspections;
mod intake_loops;
mod limits;
mod media_kinds;
mod media_queue;
mod multinode;
mod object_store;
mod offline;
mod photos;
mod resend_conflicts;
mod restart;
mod restore;
mod revocation;
mod service_interview;
mod transparency;
mod transport;
mod triage;
mod witness;
