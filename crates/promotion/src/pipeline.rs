//! Pipelines: ordered stages, each promoting one environment into another under four gate flags
//! and an optional approval (docs/promotion.md#pipelines-and-gates).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The gate flags of a stage, with their defaults: drift in the target blocks, target hotfixes
/// are not overwritten, conflicts are not forced, unmapped credentials block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Gates {
    pub require_clean_drift: bool,
    pub allow_overwriting_hotfixes: bool,
    pub allow_force_promotion_on_conflicts: bool,
    pub allow_placeholder_credentials: bool,
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            require_clean_drift: true,
            allow_overwriting_hotfixes: false,
            allow_force_promotion_on_conflicts: false,
            allow_placeholder_credentials: false,
        }
    }
}

/// One stage of a pipeline, as stored in `pipelines.stages` (a JSON array of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    #[serde(default)]
    pub gates: Gates,
    /// A promotion through this stage waits for an admin other than its creator to approve it.
    #[serde(default, rename = "requireApproval")]
    pub require_approval: bool,
}

/// The stage of `stages` that promotes `source` into `target`, if any.
pub fn stage_for(stages: &[Stage], source: Uuid, target: Uuid) -> Option<&Stage> {
    stages
        .iter()
        .find(|s| s.source_environment_id == source && s.target_environment_id == target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_default_to_the_safe_side_and_parse_camel_case() {
        let g: Gates = serde_json::from_str("{}").unwrap();
        assert_eq!(g, Gates::default());
        assert!(g.require_clean_drift);
        assert!(!g.allow_placeholder_credentials);
        let g: Gates = serde_json::from_str(
            r#"{"allowPlaceholderCredentials": true, "requireCleanDrift": false}"#,
        )
        .unwrap();
        assert!(g.allow_placeholder_credentials && !g.require_clean_drift);
        assert!(serde_json::from_str::<Gates>(r#"{"allowEverything": true}"#).is_err());
    }

    #[test]
    fn stage_lookup_is_by_direction() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let stages = vec![Stage {
            name: "a-to-b".into(),
            source_environment_id: a,
            target_environment_id: b,
            gates: Gates::default(),
            require_approval: true,
        }];
        assert_eq!(
            stage_for(&stages, a, b).map(|s| s.name.as_str()),
            Some("a-to-b")
        );
        assert!(stage_for(&stages, b, a).is_none());
    }
}
