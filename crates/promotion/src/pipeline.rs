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

/// Most stages a pipeline may hold.
pub const MAX_STAGES: usize = 20;

/// Longest stage name (characters).
pub const MAX_STAGE_NAME_CHARS: usize = 100;

/// The gate flags a stage may set, as spelled in `gates`.
pub const GATE_FLAGS: [&str; 4] = [
    "requireCleanDrift",
    "allowOverwritingHotfixes",
    "allowForcePromotionOnConflicts",
    "allowPlaceholderCredentials",
];

/// Why a list of stages is refused. Each variant is a rule a client can fix on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("a pipeline holds 1 to {MAX_STAGES} stages, got {0}")]
    StageCount(usize),
    /// The stage does not have the stage shape (missing field, wrong type, unknown field).
    #[error("stage {index}: {reason}")]
    InvalidStage { index: usize, reason: String },
    #[error("stage {index}: unknown gate flag {flag:?} (expected one of: {})", GATE_FLAGS.join(", "))]
    UnknownGateFlag { index: usize, flag: String },
    #[error("stage {index}: gate flag {flag} must be true or false")]
    InvalidGateFlag { index: usize, flag: String },
    #[error("stage name {0:?} is used by more than one stage")]
    DuplicateStageName(String),
    #[error("stage {0:?} promotes an environment into itself")]
    SelfPromotion(String),
    #[error("stages {first:?} and {second:?} both promote the same source into the same target")]
    DuplicateDirection { first: String, second: String },
    /// Following the stages from one environment leads back to it.
    #[error("the stages form a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
}

/// Parses `pipelines.stages` as a client sends it, with an error that names the stage and the
/// rule, then checks the rules of [`validate_stages`]. Gate flags are checked by name first so
/// that a misspelled flag is reported as such rather than as a shape error.
pub fn parse_stages(value: &serde_json::Value) -> Result<Vec<Stage>, PipelineError> {
    let items = value
        .as_array()
        .ok_or_else(|| PipelineError::InvalidStage {
            index: 0,
            reason: "stages must be an array".into(),
        })?;
    if items.is_empty() || items.len() > MAX_STAGES {
        return Err(PipelineError::StageCount(items.len()));
    }
    let mut stages = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if let Some(gates) = item.get("gates").and_then(serde_json::Value::as_object) {
            for (flag, v) in gates {
                if !GATE_FLAGS.contains(&flag.as_str()) {
                    return Err(PipelineError::UnknownGateFlag {
                        index,
                        flag: flag.chars().take(64).collect(),
                    });
                }
                if !v.is_boolean() {
                    return Err(PipelineError::InvalidGateFlag {
                        index,
                        flag: flag.clone(),
                    });
                }
            }
        }
        // the optional members written as `null` mean the same as left out: the defaults
        let mut item = item.clone();
        if let Some(obj) = item.as_object_mut() {
            for key in ["gates", "requireApproval"] {
                if obj.get(key).is_some_and(serde_json::Value::is_null) {
                    obj.remove(key);
                }
            }
        }
        let stage: Stage =
            serde_json::from_value(item).map_err(|e| PipelineError::InvalidStage {
                index,
                reason: e.to_string(),
            })?;
        stages.push(stage);
    }
    validate_stages(&stages)?;
    Ok(stages)
}

/// The rules every stored pipeline obeys: 1..=20 stages, each named (1 to 100 characters, not
/// blank, no control characters) and uniquely so, none promoting an environment into itself,
/// no two promoting the same pair, and no cycle across the stages (a → b and b → a, or longer),
/// because a pipeline is a one-way road towards production.
pub fn validate_stages(stages: &[Stage]) -> Result<(), PipelineError> {
    if stages.is_empty() || stages.len() > MAX_STAGES {
        return Err(PipelineError::StageCount(stages.len()));
    }
    let mut names = std::collections::HashSet::new();
    for (index, stage) in stages.iter().enumerate() {
        let name = stage.name.as_str();
        let reason = if name.trim().is_empty() {
            Some("name must not be empty")
        } else if name.chars().count() > MAX_STAGE_NAME_CHARS {
            Some("name must be at most 100 characters")
        } else if name.chars().any(char::is_control) {
            Some("name must not contain control characters")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(PipelineError::InvalidStage {
                index,
                reason: reason.into(),
            });
        }
        if !names.insert(name.trim()) {
            return Err(PipelineError::DuplicateStageName(name.trim().to_string()));
        }
        if stage.source_environment_id == stage.target_environment_id {
            return Err(PipelineError::SelfPromotion(stage.name.clone()));
        }
        if let Some(first) = stages[..index].iter().find(|s| {
            s.source_environment_id == stage.source_environment_id
                && s.target_environment_id == stage.target_environment_id
        }) {
            return Err(PipelineError::DuplicateDirection {
                first: first.name.clone(),
                second: stage.name.clone(),
            });
        }
    }
    if let Some(cycle) = find_cycle(stages) {
        return Err(PipelineError::Cycle(cycle));
    }
    Ok(())
}

/// The names of the stages of one cycle, in order, if the stages' edges (source → target) have
/// one. Depth-first search with the usual three colours; at most 20 edges.
fn find_cycle(stages: &[Stage]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    fn visit(
        node: Uuid,
        stages: &[Stage],
        colour: &mut std::collections::HashMap<Uuid, Colour>,
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        colour.insert(node, Colour::Grey);
        for (i, s) in stages.iter().enumerate() {
            if s.source_environment_id != node {
                continue;
            }
            path.push(i);
            let next = s.target_environment_id;
            match colour.get(&next).copied().unwrap_or(Colour::White) {
                Colour::Grey => {
                    // the cycle starts at the first stage on the path leaving `next`
                    let start = path
                        .iter()
                        .position(|&j| stages[j].source_environment_id == next)
                        .unwrap_or(0);
                    return Some(
                        path[start..]
                            .iter()
                            .map(|&j| stages[j].name.clone())
                            .collect(),
                    );
                }
                Colour::White => {
                    if let Some(c) = visit(next, stages, colour, path) {
                        return Some(c);
                    }
                }
                Colour::Black => {}
            }
            path.pop();
        }
        colour.insert(node, Colour::Black);
        None
    }
    let mut colour = std::collections::HashMap::new();
    for s in stages {
        if colour
            .get(&s.source_environment_id)
            .copied()
            .unwrap_or(Colour::White)
            == Colour::White
        {
            let mut path = Vec::new();
            if let Some(c) = visit(s.source_environment_id, stages, &mut colour, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, s: Uuid, t: Uuid) -> Stage {
        Stage {
            name: name.into(),
            source_environment_id: s,
            target_environment_id: t,
            gates: Gates::default(),
            require_approval: false,
        }
    }

    #[test]
    fn valid_chains_pass_and_each_rule_is_reported() {
        let [a, b, c, d] = [0; 4].map(|_| Uuid::new_v4());
        assert_eq!(
            validate_stages(&[stage("a-b", a, b), stage("b-c", b, c)]),
            Ok(())
        );
        // a diamond is not a cycle
        assert_eq!(
            validate_stages(&[
                stage("a-b", a, b),
                stage("a-c", a, c),
                stage("b-d", b, d),
                stage("c-d", c, d)
            ]),
            Ok(())
        );
        assert_eq!(validate_stages(&[]), Err(PipelineError::StageCount(0)));
        let many: Vec<Stage> = (0..21)
            .map(|i| stage(&format!("s{i}"), Uuid::new_v4(), Uuid::new_v4()))
            .collect();
        assert_eq!(validate_stages(&many), Err(PipelineError::StageCount(21)));
        assert_eq!(validate_stages(&many[..20]), Ok(()));
        assert_eq!(
            validate_stages(&[stage("x", a, b), stage("x", b, c)]),
            Err(PipelineError::DuplicateStageName("x".into()))
        );
        assert_eq!(
            validate_stages(&[stage("self", a, a)]),
            Err(PipelineError::SelfPromotion("self".into()))
        );
        assert_eq!(
            validate_stages(&[stage("one", a, b), stage("two", a, b)]),
            Err(PipelineError::DuplicateDirection {
                first: "one".into(),
                second: "two".into()
            })
        );
        assert_eq!(
            validate_stages(&[stage("a-b", a, b), stage("b-a", b, a)]),
            Err(PipelineError::Cycle(vec!["a-b".into(), "b-a".into()]))
        );
        assert_eq!(
            validate_stages(&[stage("c-a", c, a), stage("a-b", a, b), stage("b-c", b, c)]),
            Err(PipelineError::Cycle(vec![
                "c-a".into(),
                "a-b".into(),
                "b-c".into()
            ]))
        );
        for bad in ["", "  ", "a\nb"] {
            assert!(
                matches!(
                    validate_stages(&[stage(bad, a, b)]),
                    Err(PipelineError::InvalidStage { index: 0, .. })
                ),
                "{bad:?}"
            );
        }
        assert!(validate_stages(&[stage(&"n".repeat(101), a, b)]).is_err());
    }

    #[test]
    fn parse_names_the_unknown_flag_and_the_bad_stage() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let ok = serde_json::json!([{
            "name": "dev-to-staging", "source_environment_id": a, "target_environment_id": b,
            "gates": {"allowPlaceholderCredentials": true}, "requireApproval": true
        }]);
        let stages = parse_stages(&ok).unwrap();
        assert!(stages[0].gates.allow_placeholder_credentials && stages[0].require_approval);
        assert!(stages[0].gates.require_clean_drift);
        let unknown = serde_json::json!([{
            "name": "s", "source_environment_id": a, "target_environment_id": b,
            "gates": {"allowEverything": true}
        }]);
        assert_eq!(
            parse_stages(&unknown),
            Err(PipelineError::UnknownGateFlag {
                index: 0,
                flag: "allowEverything".into()
            })
        );
        let not_bool = serde_json::json!([{
            "name": "s", "source_environment_id": a, "target_environment_id": b,
            "gates": {"requireCleanDrift": "yes"}
        }]);
        assert!(matches!(
            parse_stages(&not_bool),
            Err(PipelineError::InvalidGateFlag { .. })
        ));
        let missing = serde_json::json!([{"name": "s", "source_environment_id": a}]);
        assert!(matches!(
            parse_stages(&missing),
            Err(PipelineError::InvalidStage { index: 0, .. })
        ));
        assert_eq!(
            parse_stages(&serde_json::json!([])),
            Err(PipelineError::StageCount(0))
        );
    }

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
    fn null_optional_members_take_their_defaults() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let stages = parse_stages(&serde_json::json!([{
            "name": "a-to-b", "source_environment_id": a, "target_environment_id": b,
            "gates": null, "requireApproval": null
        }]))
        .unwrap();
        assert_eq!(stages[0].gates, Gates::default());
        assert!(!stages[0].require_approval);
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
