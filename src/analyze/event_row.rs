//! One error event as the detectors that follow events read it ([`EventRow`]), and the
//! shared values its text columns hold ([`Shared`]).

use super::dimension::Dimension;

/// A value of an [`EventRow`]: shared, so the millions of error rows of a big input hold
/// one copy of each connection, code or address (interned by the collector), behind a
/// one-word pointer (an `Option<Shared>` is 8 bytes; an `Arc<str>` would be 16).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shared(std::sync::Arc<Box<str>>);

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Shared {
        Shared(std::sync::Arc::new(s.into()))
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// One event, for detectors that follow events rather than counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventRow {
    pub ts: i64,
    pub status: Option<i16>,
    pub error_code: Option<Shared>,
    pub category: Option<Shared>,
    pub class: Option<Shared>,
    pub is_success: bool,
    pub connection_id: Option<Shared>,
    pub organization_id: Option<Shared>,
    pub user_id: Option<Shared>,
    pub ip_address: Option<Shared>,
    pub endpoint: Option<Shared>,
    pub service: Option<Shared>,
    /// Unique per event, so owned (not shared).
    pub request_id: Option<Box<str>>,
}

impl EventRow {
    /// The event's value in a dimension (`all` matches every event).
    pub fn value_of(&self, dimension: Dimension) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        fn s(v: &Option<Shared>) -> Option<Cow<'_, str>> {
            v.as_deref().map(Cow::Borrowed)
        }
        match dimension {
            Dimension::All => Some(Cow::Borrowed("all")),
            Dimension::ErrorCode => s(&self.error_code),
            Dimension::Category => s(&self.category),
            Dimension::Class => s(&self.class),
            Dimension::ConnectionId => s(&self.connection_id),
            Dimension::OrganizationId => s(&self.organization_id),
            Dimension::UserId => s(&self.user_id),
            Dimension::IpAddress => s(&self.ip_address),
            Dimension::Endpoint => s(&self.endpoint),
            Dimension::Service => s(&self.service),
            Dimension::StatusClass => self.status.map(|st| Cow::Owned(format!("{}xx", st / 100))),
        }
    }
}
