//! Roles: which parts of the pipeline an engine runs.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A part of the pipeline an engine runs; see [`EngineBuilder::roles`](crate::EngineBuilder::roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// Matching: events → rules → enforcements → executions (the `events` queue).
    Match,
    /// Scheduling: `requested → scheduled` through the policies, and completion: what
    /// follows an execution's end (retries, freed policy slots, system triggers,
    /// retention) (the `requested` and `finished` queues).
    Schedule,
    /// Running executions (the `scheduled` queue) and cancelling them.
    Work,
    /// Firing timers (with a leadership flag, only while it holds).
    Timers,
    /// Running sensors (with a leadership flag, only while it holds).
    Sensors,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Match,
        Role::Schedule,
        Role::Work,
        Role::Timers,
        Role::Sensors,
    ];

    /// The lower-case name: `match`, `schedule`, `work`, `timers`, `sensors`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Match => "match",
            Role::Schedule => "schedule",
            Role::Work => "work",
            Role::Timers => "timers",
            Role::Sensors => "sensors",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    /// A role by its name; an unknown name is [`Error::Invalid`] naming it and the known ones.
    fn from_str(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                Error::invalid(
                    "role",
                    format!("'{s}' is not a role (known: {})", known.join(", ")),
                )
            })
    }
}

/// The set of roles an engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Roles(u8);

impl Roles {
    pub(crate) const ALL: Roles = Roles(0b1_1111);

    pub(crate) fn of(roles: impl IntoIterator<Item = Role>) -> Roles {
        Roles(roles.into_iter().fold(0, |bits, r| bits | Self::bit(r)))
    }

    fn bit(r: Role) -> u8 {
        1 << (r as u8)
    }

    pub(crate) fn has(self, r: Role) -> bool {
        self.0 & Self::bit(r) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_by_name_and_refuse_unknown_ones() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().expect("known"), r);
        }
        let err = "ingestion".parse::<Role>().expect_err("unknown");
        let text = err.to_string();
        assert!(
            text.contains("'ingestion'") && text.contains("match, schedule"),
            "{text}"
        );
    }

    #[test]
    fn a_set_holds_what_it_was_made_of() {
        let set = Roles::of([Role::Match, Role::Timers]);
        assert!(set.has(Role::Match) && set.has(Role::Timers));
        assert!(!set.has(Role::Work) && !set.has(Role::Schedule) && !set.has(Role::Sensors));
        assert!(Role::ALL.into_iter().all(|r| Roles::ALL.has(r)));
        assert!(Role::ALL.into_iter().all(|r| !Roles::of([]).has(r)));
    }
}
