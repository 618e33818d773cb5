//! `JOB_DEADLINES`: per job type, the longest a run may take.

use std::collections::BTreeMap;

use crate::Error;

const VAR: &str = "JOB_DEADLINES";
/// A week: a run longer than this is a stuck run, whatever the job.
const MAX_SECONDS: u64 = 7 * 86_400;

/// Parses `type=seconds` pairs separated by commas (`repository_sync=300,reconcile=120`).
/// Types not listed keep the deadline their job type declares.
pub(crate) fn parse(raw: &str) -> Result<BTreeMap<String, u64>, Error> {
    let invalid = |reason: String| Error::Invalid { var: VAR, reason };
    let mut out = BTreeMap::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((job_type, seconds)) = item.split_once('=') else {
            return Err(invalid(format!(
                "`{item}` is not `job_type=seconds` (for example `repository_sync=300`)"
            )));
        };
        let (job_type, seconds) = (job_type.trim(), seconds.trim());
        let mut chars = job_type.chars();
        let valid_name = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(invalid(format!(
                "`{job_type}` is not a job type (lowercase letters, digits and _)"
            )));
        }
        let seconds: u64 = seconds
            .parse()
            .ok()
            .filter(|s| (1..=MAX_SECONDS).contains(s))
            .ok_or_else(|| {
                invalid(format!(
                    "the deadline of {job_type} must be a whole number of seconds in 1..={MAX_SECONDS}, got `{seconds}`"
                ))
            })?;
        if out.insert(job_type.to_owned(), seconds).is_some() {
            return Err(invalid(format!("{job_type} is listed twice")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_refuses_what_is_not_one() {
        let m = parse(" repository_sync=300, reconcile = 60 ,").unwrap();
        assert_eq!(m.get("repository_sync"), Some(&300));
        assert_eq!(m.get("reconcile"), Some(&60));
        assert!(parse("").unwrap().is_empty());
        for (bad, says) in [
            ("repository_sync", "is not `job_type=seconds`"),
            ("Repo=3", "is not a job type"),
            ("sync=0", "1..=604800"),
            ("sync=ten", "got `ten`"),
            ("sync=700000", "1..=604800"),
            ("sync=1,sync=2", "listed twice"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("JOB_DEADLINES") && err.contains(says),
                "{bad}: {err}"
            );
        }
    }
}
