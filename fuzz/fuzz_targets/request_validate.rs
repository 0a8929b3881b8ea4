//! A request frame body through the envelope and every item's validation,
//! as the server does it: typed errors only.
#![no_main]

use fieldlink_protocol::pb::request::Body;
use fieldlink_protocol::validate::ValidationContext;
use fieldlink_protocol::{assignment, envelope, inspection, interview, photo, service};
use libfuzzer_sys::fuzz_target;

const CONTEXT: ValidationContext = ValidationContext {
    now_ms: 1_800_000_000_000,
    clock_skew_ms_max: 300_000,
};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = envelope::parse_request(data) else {
        return;
    };
    assert!(request.body_bytes.len() <= data.len());
    match request.body {
        Body::SubmitInspection(record) => {
            let _ = inspection::Inspection::parse(record, &CONTEXT);
        }
        Body::UploadPhoto(header) => {
            let _ = photo::PhotoHeader::parse(header, &CONTEXT, 25 << 20);
        }
        Body::SubmitService(s) => {
            let _ = service::Service::parse(s, &CONTEXT);
        }
        Body::SubmitServiceEvent(e) => {
            let _ = service::ServiceEvent::parse(e, &CONTEXT);
        }
        Body::SubmitInterview(i) => {
            let _ = interview::Interview::parse(i, &CONTEXT);
        }
        Body::CreateAssignment(c) => {
            if let Some(a) = c.assignment {
                let _ = assignment::parse_new(a);
            }
        }
        Body::UpdateAssignment(u) => {
            let _ = assignment::Update::parse(u);
        }
        _ => {}
    }
});
