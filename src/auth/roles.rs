//! The six roles, with the old Express names mapped onto them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    #[serde(rename = "ADMIN")]
    Admin,
    /// Project manager.
    #[serde(rename = "PM")]
    Pm,
    /// Site manager.
    #[serde(rename = "SITE")]
    Site,
    /// Subcontractor (small/medium enterprise) staff.
    #[serde(rename = "SMME")]
    Smme,
    /// Read-only oversight.
    #[serde(rename = "AUDITOR")]
    Auditor,
    /// Network operations centre.
    #[serde(rename = "NOC")]
    Noc,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Pm,
        Role::Site,
        Role::Smme,
        Role::Auditor,
        Role::Noc,
    ];

    /// The stored and token form (`ADMIN`, `PM`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Pm => "PM",
            Role::Site => "SITE",
            Role::Smme => "SMME",
            Role::Auditor => "AUDITOR",
            Role::Noc => "NOC",
        }
    }

    /// The Express API's name, where it had one.
    pub fn legacy_name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Pm => "project_manager",
            Role::Site => "site_manager",
            Role::Smme => "smme",
            Role::Auditor => "auditor",
            Role::Noc => "noc",
        }
    }

    /// Either vocabulary, any case: `PM`, `pm`, `project_manager`.
    pub fn parse(text: &str) -> Option<Role> {
        let trimmed = text.trim();
        Role::ALL.into_iter().find(|role| {
            role.as_str().eq_ignore_ascii_case(trimmed)
                || role.legacy_name().eq_ignore_ascii_case(trimmed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn both_vocabularies_parse() {
        assert_eq!(Role::parse("project_manager"), Some(Role::Pm));
        assert_eq!(Role::parse("site_manager"), Some(Role::Site));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("NOC"), Some(Role::Noc));
        assert_eq!(Role::parse("authenticated"), None);
        assert_eq!(Role::parse(""), None);
    }
}
