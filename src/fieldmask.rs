//! Field masks of the Update RPCs: which of a resource's updatable fields a mask names.

use crate::error::{AppError, AppResult};

/// The fields `mask` names (`*` names them all). Every path must be one of `updatable`;
/// `what` names the resource in the error (`PON`, `contract`).
pub fn resolve(
    mask: &[String],
    updatable: &[&'static str],
    what: &str,
) -> AppResult<Vec<&'static str>> {
    if mask.is_empty() {
        return Err(AppError::invalid(
            "update_mask",
            "must name at least one field",
        ));
    }
    if mask.iter().any(|path| path == "*") {
        return Ok(updatable.to_vec());
    }
    mask.iter()
        .map(|path| {
            updatable
                .iter()
                .find(|field| **field == path.as_str())
                .copied()
                .ok_or_else(|| {
                    AppError::invalid(
                        "update_mask",
                        format!("`{path}` is not an updatable {what} field"),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["name", "ward"];

    #[test]
    fn masks_name_only_updatable_fields() {
        let err = resolve(&["sla_breaches".into()], FIELDS, "PON").unwrap_err();
        assert_eq!(
            err.to_string(),
            "update_mask: `sla_breaches` is not an updatable PON field"
        );
        assert!(resolve(&[], FIELDS, "PON").is_err());
        assert_eq!(resolve(&["*".into()], FIELDS, "PON").unwrap(), FIELDS);
        assert_eq!(
            resolve(&["ward".into()], FIELDS, "PON").unwrap(),
            vec!["ward"]
        );
    }
}
