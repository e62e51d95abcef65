//! The dimensions errscope counts by: a closed set, so that the compiler finds every place
//! a new one must go (the collector's key, the rate table, the event row's value, the
//! Spark SQL of an engine).

use serde::{Deserialize, Serialize};

/// What a rate table, a flag or an incident is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// One key, `all`: the overall rate.
    All,
    ErrorCode,
    Category,
    Class,
    /// `4xx`, `5xx`, ..., `none` without a status.
    StatusClass,
    ConnectionId,
    OrganizationId,
    Endpoint,
    IpAddress,
    /// The service or host requests went to (`service`).
    Service,
    /// Only the detectors use it (no rate table).
    UserId,
}

impl Dimension {
    /// Every dimension, in output order; `user_id` last (it has no rate table).
    pub const ALL: [Dimension; 11] = [
        Dimension::All,
        Dimension::ErrorCode,
        Dimension::Category,
        Dimension::Class,
        Dimension::StatusClass,
        Dimension::ConnectionId,
        Dimension::OrganizationId,
        Dimension::Endpoint,
        Dimension::IpAddress,
        Dimension::Service,
        Dimension::UserId,
    ];

    /// The dimensions with rate tables, in output order (every one but `user_id`).
    pub const RATES: &'static [Dimension] = Dimension::ALL.as_slice().split_at(10).0;

    /// Its name in outputs, the config and SQL (`connection_id`); for a dimension that is
    /// an event column, the column's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::ErrorCode => "error_code",
            Dimension::Category => "category",
            Dimension::Class => "class",
            Dimension::StatusClass => "status_class",
            Dimension::ConnectionId => "connection_id",
            Dimension::OrganizationId => "organization_id",
            Dimension::Endpoint => "endpoint",
            Dimension::IpAddress => "ip_address",
            Dimension::Service => "service",
            Dimension::UserId => "user_id",
        }
    }

    /// The dimension of this name.
    pub fn from_name(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// Its position in [`Dimension::ALL`] (the collector's and the tables' order).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Which key a person acts on first when one finding covers several (lower first):
    /// a connection (reconnect it), a user, an address, an organisation, a service, an
    /// endpoint, then the kinds of error.
    pub fn specificity(self) -> u8 {
        match self {
            Dimension::ConnectionId => 0,
            Dimension::UserId => 1,
            Dimension::IpAddress => 2,
            Dimension::OrganizationId => 3,
            Dimension::Service => 4,
            Dimension::Endpoint => 5,
            Dimension::ErrorCode => 6,
            Dimension::Category | Dimension::Class | Dimension::StatusClass => 7,
            Dimension::All => 8,
        }
    }

    /// Whether its keys are kinds of error (`error_code`, `category`, `class`,
    /// `status_class`) rather than who or where.
    pub fn keys_are_kinds(self) -> bool {
        matches!(
            self,
            Dimension::ErrorCode | Dimension::Category | Dimension::Class | Dimension::StatusClass
        )
    }
}

named!(Dimension, sorted_by_name);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_order() {
        for (i, d) in Dimension::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i);
            assert_eq!(Dimension::from_name(d.as_str()), Some(d));
        }
        assert_eq!(&Dimension::ALL[..10], Dimension::RATES);
        assert!(!Dimension::RATES.contains(&Dimension::UserId));
    }
}
