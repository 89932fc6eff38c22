//! Identifier newtypes. Each wraps a UUID (v7, so identifiers sort by creation
//! time) or a checked string, so that one kind of identifier can never be
//! passed where another is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (UUIDv7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifier of a case record on this node. The mirrored copy on the
    /// other node has its own `CaseId`; both share the [`ReferralId`].
    CaseId
);
uuid_id!(
    /// Identifier of one referral, shared by both nodes: the sending node
    /// mints it and the receiving node's copy of the case carries the same one.
    ReferralId
);
uuid_id!(
    /// Identifier of a user account of this node's agency.
    UserId
);
uuid_id!(
    /// Identifier of an API token record (never the secret itself).
    TokenId
);
uuid_id!(
    /// Identifier of a message to or from the peer node.
    MessageId
);

/// Identity of a Passerelle node: one per agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum NodeId {
    /// Niger: Agence Nationale de Lutte contre la Traite des Personnes et le
    /// Trafic Illicite de Migrants (ANLTP/TIM), Niamey.
    #[serde(rename = "ne-anltp")]
    NeAnltp,
    /// Nigeria: National Agency for the Prohibition of Trafficking in Persons
    /// (NAPTIP), Abuja.
    #[serde(rename = "ng-naptip")]
    NgNaptip,
}

impl NodeId {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeId::NeAnltp => "ne-anltp",
            NodeId::NgNaptip => "ng-naptip",
        }
    }

    /// The node on the other side of the border.
    pub fn counterpart(self) -> NodeId {
        match self {
            NodeId::NeAnltp => NodeId::NgNaptip,
            NodeId::NgNaptip => NodeId::NeAnltp,
        }
    }

    /// ISO 3166-1 alpha-2 country of the node.
    pub fn country(self) -> &'static str {
        match self {
            NodeId::NeAnltp => "NE",
            NodeId::NgNaptip => "NG",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "ne-anltp" => Ok(NodeId::NeAnltp),
            "ng-naptip" => Ok(NodeId::NgNaptip),
            other => Err(format!(
                "unknown node id `{other}`: expected `ne-anltp` or `ng-naptip`"
            )),
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Opaque, human-quotable case reference such as `NE-2026-7K3QX9`: country of
/// the node that opened the case, year, six random Crockford base32
/// characters. It says nothing about the person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseReference(String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl CaseReference {
    /// Builds a reference from caller-supplied randomness (the domain does no I/O).
    pub fn generate(node: NodeId, year: i32, random: [u8; 6]) -> Self {
        let suffix: String = random
            .iter()
            .map(|b| CROCKFORD[usize::from(b & 0x1f)] as char)
            .collect();
        Self(format!("{}-{year:04}-{suffix}", node.country()))
    }

    /// Accepts a reference read back from storage or the peer.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = parts.len() == 3
            && parts[0].len() == 2
            && parts[0].bytes().all(|b| b.is_ascii_uppercase())
            && parts[1].len() == 4
            && parts[1].bytes().all(|b| b.is_ascii_digit())
            && parts[2].len() == 6
            && parts[2].bytes().all(|b| CROCKFORD.contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("`{s}` is not a case reference (CC-YYYY-XXXXXX)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_round_trips() {
        let r = CaseReference::generate(NodeId::NeAnltp, 2026, [0, 1, 31, 200, 7, 9]);
        assert!(r.as_str().starts_with("NE-2026-"));
        assert_eq!(CaseReference::parse(r.as_str()), Ok(r));
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "NE-2026",
            "ne-2026-ABCDEF",
            "NE-26-ABCDEF",
            "NE-2026-ABCDEI",
            "NE-2026-ABCDEFG",
        ] {
            assert!(CaseReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_ids() {
        assert_eq!(NodeId::parse("ng-naptip"), Ok(NodeId::NgNaptip));
        assert_eq!(NodeId::NeAnltp.counterpart(), NodeId::NgNaptip);
        assert!(NodeId::parse("ng-efcc").is_err());
    }
}
