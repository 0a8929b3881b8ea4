//! Builders for electronic service (电子送达): the confirmation that a
//! document was served with the party's consent, and the later events of
//! its delivery and confirmation.

use fieldlink_protocol::pb::{
    self, ConfirmationMethod, DocumentType, RecipientRole, ServiceChannel, ServiceEventKind,
};
use fieldlink_protocol::{Digest, FieldError};

use super::{check_service, check_service_event, new_id};

/// Builds an electronic-service confirmation and checks it.
///
/// ```
/// use fieldlink_client::items::ServiceBuilder;
/// use fieldlink_client::protocol::pb::{DocumentType, RecipientRole, ServiceChannel};
/// use fieldlink_client::protocol::Digest;
///
/// let now = fieldlink_client::now_ms();
/// let pdf = b"%PDF-1.7 ..."; // the document as served
/// let service = ServiceBuilder::new("CASE-2026-0118", "officer-01")
///     .document(DocumentType::OrderToRectify, "甬综执责改字〔2026〕第0118号", Digest::sha256_of(pdf))
///     .recipient("陈小明", RecipientRole::Party, "+86 138 0000 0000")
///     .channel(ServiceChannel::Sms)
///     .consent("送达地址确认书 2026-0118", now - 2 * 3_600_000)
///     .sent_at(now - 3_600_000)
///     .build()?;
/// assert_eq!(service.case_id, "CASE-2026-0118");
/// # Ok::<(), fieldlink_client::protocol::FieldError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceBuilder {
    service: pb::ServiceConfirmation,
}

impl ServiceBuilder {
    /// A confirmation in `case_id` by `officer_id`, with a fresh id, sent now.
    pub fn new(case_id: &str, officer_id: &str) -> Self {
        Self {
            service: pb::ServiceConfirmation {
                id: new_id(),
                case_id: case_id.to_owned(),
                officer_ids: vec![officer_id.to_owned()],
                sent_at_ms: crate::now_ms(),
                ..Default::default()
            },
        }
    }

    /// Uses this id (a UUIDv7) instead of a fresh one.
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.service.id);
        self
    }

    /// Another officer who served it.
    pub fn with_officer(mut self, officer_id: &str) -> Self {
        self.service.officer_ids.push(officer_id.to_owned());
        self
    }

    /// The document served: its type, number (文号) and the SHA-256 of the
    /// file as served.
    pub fn document(mut self, kind: DocumentType, number: &str, sha256: Digest) -> Self {
        let title = self.service.document.take().map(|d| d.title).unwrap_or_default();
        self.service.document = Some(pb::ServedDocument {
            r#type: kind as i32,
            number: number.to_owned(),
            sha256: sha256.as_bytes().to_vec(),
            title,
        });
        self
    }

    /// The document's title (after `document`).
    pub fn title(mut self, title: &str) -> Self {
        if let Some(document) = self.service.document.as_mut() {
            title.clone_into(&mut document.title);
        }
        self
    }

    /// Whom it was served on, in what role, at what address (phone, e-mail).
    pub fn recipient(mut self, name: &str, role: RecipientRole, contact: &str) -> Self {
        self.service.recipient = Some(pb::Recipient {
            name: name.to_owned(),
            role: role as i32,
            contact: contact.to_owned(),
        });
        self
    }

    /// How it was sent.
    pub fn channel(mut self, channel: ServiceChannel) -> Self {
        self.service.channel = channel as i32;
        self
    }

    /// The party's consent to electronic service (Administrative Penalty
    /// Law art. 61): the signed confirmation's reference and when it was
    /// signed.
    pub fn consent(mut self, reference: &str, signed_at_ms: i64) -> Self {
        let evidence_id = self
            .service
            .consent
            .take()
            .map(|c| c.evidence_id)
            .unwrap_or_default();
        self.service.consent = Some(pb::Consent {
            reference: reference.to_owned(),
            signed_at_ms,
            evidence_id,
        });
        self
    }

    /// The uploaded photo or scan of the consent form (after `consent`).
    pub fn consent_evidence(mut self, evidence_id: &str) -> Self {
        if let Some(consent) = self.service.consent.as_mut() {
            evidence_id.clone_into(&mut consent.evidence_id);
        }
        self
    }

    /// When it was sent, ms since the Unix epoch.
    pub fn sent_at(mut self, at_ms: i64) -> Self {
        self.service.sent_at_ms = at_ms;
        self
    }

    /// When it reached the recipient, if known already.
    pub fn delivered_at(mut self, at_ms: i64) -> Self {
        self.service.delivered_at_ms = at_ms;
        self
    }

    /// When and how the recipient confirmed it (needs `delivered_at`).
    pub fn confirmed(mut self, at_ms: i64, method: ConfirmationMethod, reference: &str) -> Self {
        self.service.confirmed_at_ms = at_ms;
        self.service.confirmation_method = method as i32;
        reference.clone_into(&mut self.service.confirmation_reference);
        self
    }

    /// The uploaded signature, for a confirmation by signature.
    pub fn signature_evidence(mut self, evidence_id: &str) -> Self {
        evidence_id.clone_into(&mut self.service.signature_evidence_id);
        self
    }

    /// The confirmation, checked as the server will check it.
    pub fn build(self) -> Result<pb::ServiceConfirmation, FieldError> {
        check_service(&self.service)?;
        Ok(self.service)
    }
}

/// Builds a later event of a service: delivered, or confirmed.
///
/// ```
/// use fieldlink_client::items::ServiceEventBuilder;
/// use fieldlink_client::protocol::pb::ConfirmationMethod;
///
/// let service_id = fieldlink_client::items::new_id();
/// let now = fieldlink_client::now_ms();
/// let delivered = ServiceEventBuilder::delivered(&service_id, now - 60_000).build()?;
/// let confirmed = ServiceEventBuilder::confirmed(&service_id, now, ConfirmationMethod::ReplyCode, "回复码 4821")
///     .build()?;
/// assert_ne!(delivered.id, confirmed.id);
/// # Ok::<(), fieldlink_client::protocol::FieldError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceEventBuilder {
    event: pb::ServiceEvent,
}

impl ServiceEventBuilder {
    /// The service reached the recipient at `at_ms`.
    pub fn delivered(service_id: &str, at_ms: i64) -> Self {
        Self::new(service_id, ServiceEventKind::Delivered, at_ms)
    }

    /// The recipient confirmed it at `at_ms`, this way, with this reference.
    pub fn confirmed(service_id: &str, at_ms: i64, method: ConfirmationMethod, reference: &str) -> Self {
        let mut builder = Self::new(service_id, ServiceEventKind::Confirmed, at_ms);
        builder.event.confirmation_method = method as i32;
        reference.clone_into(&mut builder.event.confirmation_reference);
        builder
    }

    fn new(service_id: &str, kind: ServiceEventKind, at_ms: i64) -> Self {
        Self {
            event: pb::ServiceEvent {
                id: new_id(),
                service_id: service_id.to_owned(),
                kind: kind as i32,
                at_ms,
                ..Default::default()
            },
        }
    }

    /// Uses this id (a UUIDv7) instead of a fresh one.
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.event.id);
        self
    }

    /// The uploaded signature, for a confirmation by signature.
    pub fn signature_evidence(mut self, evidence_id: &str) -> Self {
        evidence_id.clone_into(&mut self.event.signature_evidence_id);
        self
    }

    /// The event, checked as the server will check it.
    pub fn build(self) -> Result<pb::ServiceEvent, FieldError> {
        check_service_event(&self.event)?;
        Ok(self.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> ServiceBuilder {
        let now = crate::now_ms();
        ServiceBuilder::new("CASE-1", "officer-01")
            .document(
                DocumentType::PenaltyDecision,
                "甬综执罚决字〔2026〕第7号",
                Digest::sha256_of(b"pdf"),
            )
            .title("行政处罚决定书")
            .recipient("陈小明", RecipientRole::Party, "chen@example.cn")
            .channel(ServiceChannel::Email)
            .consent("送达地址确认书", now - 7_200_000)
            .sent_at(now - 3_600_000)
    }

    #[test]
    fn service_builders_check_like_the_server_and_name_the_field() {
        let now = crate::now_ms();
        let service = served().build().unwrap();
        assert_eq!(service.document.unwrap().title, "行政处罚决定书");
        served()
            .delivered_at(now - 1_800_000)
            .confirmed(now - 600_000, ConfirmationMethod::ReadReceipt, "已读回执")
            .build()
            .unwrap();
        let cases = [
            (served().id("x"), "id"),
            (ServiceBuilder::new("CASE-1", "officer-01"), "document"),
            (
                served().confirmed(now, ConfirmationMethod::ReadReceipt, "r"),
                "confirmed_at_ms",
            ),
            (served().delivered_at(now - 5_400_000), "delivered_at_ms"),
        ];
        for (builder, field) in cases {
            let error = builder.build().unwrap_err();
            assert!(error.field.starts_with(field), "{field}: {error}");
        }
        let service_id = super::new_id();
        ServiceEventBuilder::delivered(&service_id, now).build().unwrap();
        let error = ServiceEventBuilder::delivered("not-a-uuid", now)
            .build()
            .unwrap_err();
        assert_eq!(error.field, "service_id", "{error}");
    }
}
