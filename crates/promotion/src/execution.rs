//! The words of promotion execution stored in the database: the kind of a snapshot, what a
//! deployment did to a target workflow, and what a rollback did to it (docs/promotion.md).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| Error::UnknownStatus {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: Self::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

text_enum!(
    /// Why a snapshot of an environment was taken.
    SnapshotKind, "snapshot kind", {
        /// The target just before a promotion writes to it: what a rollback restores.
        PrePromotion => "pre_promotion",
        /// The target just after a promotion completed.
        PostPromotion => "post_promotion",
        /// Asked for by a person.
        ManualBackup => "manual_backup",
        /// The environment just before a snapshot restore, so that the restore can be undone.
        PreRestore => "pre_restore",
    }
);

text_enum!(
    /// What a deployment did to one workflow of the target.
    WorkflowAction, "workflow action", {
        /// The target had no such workflow: it was created (a rollback deletes it).
        Created => "created",
        /// The target's workflow was replaced (a rollback restores it from the snapshot).
        Updated => "updated",
    }
);

text_enum!(
    /// What a rollback (or a restore) did to one workflow.
    RollbackOutcome, "rollback outcome", {
        /// Written back from the snapshot.
        Restored => "restored",
        /// Gone from the target meanwhile: created again from the snapshot (a new id).
        Recreated => "recreated",
        /// Created by the promotion: deleted.
        Deleted => "deleted",
        /// Created by the promotion and already gone.
        AlreadyGone => "already_gone",
        /// Could not be brought back; the error says why.
        Failed => "failed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_unknown_values_name_the_choices() {
        for k in SnapshotKind::ALL {
            assert_eq!(k.as_str().parse::<SnapshotKind>().unwrap(), *k);
        }
        for a in WorkflowAction::ALL {
            assert_eq!(a.as_str().parse::<WorkflowAction>().unwrap(), *a);
        }
        for o in RollbackOutcome::ALL {
            assert_eq!(o.as_str().parse::<RollbackOutcome>().unwrap(), *o);
        }
        let err = "weekly".parse::<SnapshotKind>().unwrap_err().to_string();
        assert!(
            err.contains("pre_promotion, post_promotion, manual_backup, pre_restore"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&RollbackOutcome::AlreadyGone).unwrap(),
            "\"already_gone\""
        );
    }
}
