//! Electronic service (电子送达): the checked confirmation and event types.
//!
//! Administrative Penalty Law art. 61: electronic service needs the party's
//! prior consent and a signed confirmation; the service date is when the
//! message reaches the recipient's system.

use uuid::Uuid;

use crate::limits;
use crate::pb::{self, ConfirmationMethod, DocumentType, RecipientRole, ServiceChannel, ServiceEventKind};
use crate::validate::{self, FieldError, ValidationContext};

/// Longest document number, consent reference or confirmation reference.
pub const REFERENCE_BYTES_MAX: usize = 128;

/// A checked service confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Case.
    pub case_id: String,
    /// Document type.
    pub document_type: DocumentType,
    /// Document number.
    pub document_number: String,
    /// SHA-256 of the served document.
    pub document_sha256: [u8; 32],
    /// Channel.
    pub channel: ServiceChannel,
    /// When sent.
    pub sent_at_ms: i64,
    /// When delivered, if known.
    pub delivered_at_ms: Option<i64>,
    /// When confirmed, if known.
    pub confirmed_at_ms: Option<i64>,
    /// Serving officers.
    pub officer_ids: Vec<String>,
}

/// A checked service event.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEvent {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The service it is about.
    pub service_id: Uuid,
    /// What happened.
    pub kind: ServiceEventKind,
    /// When.
    pub at_ms: i64,
}

impl Service {
    /// Checks every rule of a service confirmation.
    pub fn parse(service: pb::ServiceConfirmation, context: &ValidationContext) -> Result<Self, FieldError> {
        let id = validate::item_id("id", &service.id)?;
        let case_id = validate::case_id("case_id", &service.case_id)?;
        let document = service
            .document
            .ok_or_else(|| FieldError::new("document", "is required"))?;
        let document_type = validate::known_enum::<DocumentType>("document.type", document.r#type)?;
        validate::required_text("document.number", &document.number, REFERENCE_BYTES_MAX)?;
        let document_sha256 = validate::digest("document.sha256", &document.sha256)?;
        validate::optional_text("document.title", &document.title, limits::SUBJECT_NAME_BYTES_MAX)?;
        let recipient = service
            .recipient
            .ok_or_else(|| FieldError::new("recipient", "is required"))?;
        validate::required_text("recipient.name", &recipient.name, limits::SUBJECT_NAME_BYTES_MAX)?;
        validate::known_enum::<RecipientRole>("recipient.role", recipient.role)?;
        validate::required_text(
            "recipient.contact",
            &recipient.contact,
            limits::SUBJECT_CONTACT_BYTES_MAX,
        )?;
        let channel = validate::known_enum::<ServiceChannel>("channel", service.channel)?;
        let consent = service.consent.ok_or_else(|| {
            FieldError::new(
                "consent",
                "is required: electronic service needs the party's consent",
            )
        })?;
        validate::required_text("consent.reference", &consent.reference, REFERENCE_BYTES_MAX)?;
        let consent_at_ms = validate::timestamp_ms("consent.signed_at_ms", consent.signed_at_ms, context)?;
        validate::optional_item_id("consent.evidence_id", &consent.evidence_id)?;
        let sent_at_ms = validate::timestamp_ms("sent_at_ms", service.sent_at_ms, context)?;
        if consent_at_ms > sent_at_ms {
            return Err(FieldError::new(
                "consent.signed_at_ms",
                "the consent must be signed before the document is sent (Administrative Penalty Law art. 61)",
            ));
        }
        let delivered_at_ms = optional_time("delivered_at_ms", service.delivered_at_ms, context)?;
        if delivered_at_ms.is_some_and(|delivered| delivered < sent_at_ms) {
            return Err(FieldError::new("delivered_at_ms", "is before sent_at_ms"));
        }
        let confirmed_at_ms = optional_time("confirmed_at_ms", service.confirmed_at_ms, context)?;
        if let Some(confirmed) = confirmed_at_ms {
            match delivered_at_ms {
                None => return Err(FieldError::new("confirmed_at_ms", "needs delivered_at_ms")),
                Some(delivered) if confirmed < delivered => {
                    return Err(FieldError::new("confirmed_at_ms", "is before delivered_at_ms"))
                }
                Some(_) => {}
            }
            confirmation(
                service.confirmation_method,
                &service.confirmation_reference,
                &service.signature_evidence_id,
            )?;
        } else if service.confirmation_method != 0 {
            return Err(FieldError::new("confirmation_method", "needs confirmed_at_ms"));
        }
        let officer_ids = validate::officer_ids("officer_ids", &service.officer_ids, 1)?;
        Ok(Self {
            id,
            case_id,
            document_type,
            document_number: document.number,
            document_sha256,
            channel,
            sent_at_ms,
            delivered_at_ms,
            confirmed_at_ms,
            officer_ids,
        })
    }
}

impl ServiceEvent {
    /// Checks the event on its own; its order against the service's history
    /// is the server's business (it needs the stored history).
    pub fn parse(event: pb::ServiceEvent, context: &ValidationContext) -> Result<Self, FieldError> {
        let id = validate::item_id("id", &event.id)?;
        let service_id = validate::item_id("service_id", &event.service_id)?;
        let kind = validate::known_enum::<ServiceEventKind>("kind", event.kind)?;
        let at_ms = validate::timestamp_ms("at_ms", event.at_ms, context)?;
        match kind {
            ServiceEventKind::Confirmed => confirmation(
                event.confirmation_method,
                &event.confirmation_reference,
                &event.signature_evidence_id,
            )?,
            _ if event.confirmation_method != 0 => {
                return Err(FieldError::new(
                    "confirmation_method",
                    "only a CONFIRMED event has one",
                ))
            }
            _ => {}
        }
        Ok(Self {
            id,
            service_id,
            kind,
            at_ms,
        })
    }
}

/// How receipt was confirmed: a known method, with what it needs.
fn confirmation(method: i32, reference: &str, signature_evidence_id: &str) -> Result<(), FieldError> {
    let method = validate::known_enum::<ConfirmationMethod>("confirmation_method", method)?;
    validate::optional_text("confirmation_reference", reference, REFERENCE_BYTES_MAX)?;
    let signature = validate::optional_item_id("signature_evidence_id", signature_evidence_id)?;
    match method {
        ConfirmationMethod::Signature if signature.is_none() => Err(FieldError::new(
            "signature_evidence_id",
            "a SIGNATURE confirmation needs the signature image's evidence id",
        )),
        ConfirmationMethod::ReadReceipt | ConfirmationMethod::ReplyCode if reference.trim().is_empty() => {
            Err(FieldError::new(
                "confirmation_reference",
                "is required for this confirmation method",
            ))
        }
        _ => Ok(()),
    }
}

fn optional_time(field: &str, value: i64, context: &ValidationContext) -> Result<Option<i64>, FieldError> {
    match value {
        0 => Ok(None),
        value => validate::timestamp_ms(field, value, context).map(Some),
    }
}

/// A valid example: an order to rectify served by SMS an hour after consent, delivered.
pub fn example_service(officer_id: &str, case_id: &str, now_ms: i64) -> pb::ServiceConfirmation {
    pb::ServiceConfirmation {
        id: Uuid::now_v7().to_string(),
        case_id: case_id.to_owned(),
        document: Some(pb::ServedDocument {
            r#type: DocumentType::OrderToRectify as i32,
            number: "甬综执责改字〔2026〕第0118号".into(),
            sha256: vec![0x5a; 32],
            title: "责令改正通知书 Order to rectify".into(),
        }),
        recipient: Some(pb::Recipient {
            name: "陈小明".into(),
            role: RecipientRole::Party as i32,
            contact: "+86 138 0000 0000".into(),
        }),
        channel: ServiceChannel::Sms as i32,
        consent: Some(pb::Consent {
            reference: "送达地址确认书 2026-0118".into(),
            signed_at_ms: now_ms - 2 * 60 * 60 * 1000,
            evidence_id: String::new(),
        }),
        sent_at_ms: now_ms - 60 * 60 * 1000,
        delivered_at_ms: now_ms - 59 * 60 * 1000,
        confirmed_at_ms: 0,
        confirmation_method: 0,
        confirmation_reference: String::new(),
        signature_evidence_id: String::new(),
        officer_ids: vec![officer_id.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;
    const CONTEXT: ValidationContext = ValidationContext {
        now_ms: NOW_MS,
        clock_skew_ms_max: 300_000,
    };

    fn valid() -> pb::ServiceConfirmation {
        example_service("officer-01", "CASE-1", NOW_MS)
    }

    fn refused(service: pb::ServiceConfirmation) -> String {
        Service::parse(service, &CONTEXT).unwrap_err().field
    }

    #[test]
    fn the_example_is_valid() {
        assert!(Service::parse(valid(), &CONTEXT).is_ok());
    }

    #[test]
    fn consent_is_required_and_dated_before_sending() {
        let mut s = valid();
        s.consent = None;
        assert_eq!(refused(s), "consent");
        let mut s = valid();
        s.consent.as_mut().unwrap().reference.clear();
        assert_eq!(refused(s), "consent.reference");
        let mut s = valid();
        s.consent.as_mut().unwrap().signed_at_ms = s.sent_at_ms + 1;
        assert_eq!(refused(s), "consent.signed_at_ms");
    }

    #[test]
    fn delivery_and_confirmation_follow_sending() {
        let mut s = valid();
        s.delivered_at_ms = s.sent_at_ms - 1;
        assert_eq!(refused(s), "delivered_at_ms");
        let mut s = valid();
        s.confirmed_at_ms = s.delivered_at_ms - 1;
        s.confirmation_method = ConfirmationMethod::ReplyCode as i32;
        s.confirmation_reference = "8841".into();
        assert_eq!(refused(s), "confirmed_at_ms");
        let mut s = valid();
        s.delivered_at_ms = 0;
        s.confirmed_at_ms = NOW_MS - 1000;
        assert_eq!(refused(s), "confirmed_at_ms");
        let mut s = valid();
        s.confirmed_at_ms = NOW_MS - 1000;
        s.confirmation_method = ConfirmationMethod::Signature as i32;
        assert_eq!(refused(s), "signature_evidence_id");
        let mut s = valid();
        s.confirmed_at_ms = NOW_MS - 1000;
        assert_eq!(refused(s), "confirmation_method");
    }

    #[test]
    fn the_document_digest_channel_and_recipient_are_checked() {
        let mut s = valid();
        s.document.as_mut().unwrap().sha256 = vec![1; 20];
        assert_eq!(refused(s), "document.sha256");
        let mut s = valid();
        s.document.as_mut().unwrap().number.clear();
        assert_eq!(refused(s), "document.number");
        let mut s = valid();
        s.channel = 0;
        assert_eq!(refused(s), "channel");
        let mut s = valid();
        s.channel = 77;
        assert_eq!(refused(s), "channel");
        let mut s = valid();
        s.recipient.as_mut().unwrap().name.clear();
        assert_eq!(refused(s), "recipient.name");
        let mut s = valid();
        s.case_id.clear();
        assert_eq!(refused(s), "case_id");
    }

    #[test]
    fn events_carry_what_their_kind_needs() {
        let event = |kind: ServiceEventKind, method: ConfirmationMethod| pb::ServiceEvent {
            id: Uuid::now_v7().to_string(),
            service_id: Uuid::now_v7().to_string(),
            kind: kind as i32,
            at_ms: NOW_MS - 1000,
            confirmation_method: method as i32,
            confirmation_reference: "ref".into(),
            signature_evidence_id: String::new(),
        };
        assert!(ServiceEvent::parse(
            event(ServiceEventKind::Delivered, ConfirmationMethod::Unspecified),
            &CONTEXT
        )
        .is_ok());
        assert!(ServiceEvent::parse(
            event(ServiceEventKind::Confirmed, ConfirmationMethod::ReplyCode),
            &CONTEXT
        )
        .is_ok());
        assert_eq!(
            ServiceEvent::parse(
                event(ServiceEventKind::Confirmed, ConfirmationMethod::Unspecified),
                &CONTEXT
            )
            .unwrap_err()
            .field,
            "confirmation_method"
        );
        assert_eq!(
            ServiceEvent::parse(
                event(ServiceEventKind::Unspecified, ConfirmationMethod::Unspecified),
                &CONTEXT
            )
            .unwrap_err()
            .field,
            "kind"
        );
    }
}
