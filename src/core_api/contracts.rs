//! `POST /contracts` and `POST /assignments` (core-api §3.9): the old bodies and answers,
//! validated and stored by the organizations service like the gRPC methods.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::{CoreApi, Failure, created, parse_body};
use crate::error::AppError;
use crate::error::Violations;
use crate::organizations::model::OrganizationType;
use crate::organizations::service::{AssignmentDraft, ContractDraft};
use crate::rpc;

/// The old body of `POST /contracts`. Every key is optional here so that a missing one is
/// reported by name; keys the model does not know are ignored, as pydantic does.
#[derive(Deserialize)]
struct NewContract {
    org_id: Option<String>,
    scope_type: Option<String>,
    wards: Option<Vec<String>>,
    sla_p1_min: Option<i32>,
    sla_p2_min: Option<i32>,
    sla_p3_min: Option<i32>,
    sla_p4_min: Option<i32>,
    rate_card_ref: Option<String>,
    /// Absent or null: true.
    active: Option<bool>,
    valid_from: Option<String>,
    valid_to: Option<String>,
}

/// The old body of `POST /assignments`.
#[derive(Deserialize)]
struct NewAssignment {
    org_id: Option<String>,
    pon_id: Option<String>,
    ward: Option<String>,
    step_type: Option<String>,
}

/// A key the old model required.
fn required<'a>(bad: &mut Violations, field: &str, value: Option<&'a str>) -> &'a str {
    value.unwrap_or_else(|| {
        bad.push(field, "field required");
        ""
    })
}

impl NewContract {
    fn into_draft(self) -> Result<ContractDraft, AppError> {
        let mut bad = Violations::default();
        let org_id = required(&mut bad, "org_id", self.org_id.as_deref());
        let organization_id = bad.optional_uuid("org_id", org_id);
        let scope_type = self.scope_type.as_deref().and_then(|text| {
            OrganizationType::parse(text).or_else(|| {
                bad.push(
                    "scope_type",
                    format!("`{text}` is not one of Civil, Technical, Maintenance, Sales"),
                );
                None
            })
        });
        if self.scope_type.is_none() {
            bad.push("scope_type", "field required");
        }
        let draft = ContractDraft {
            organization_id,
            scope_type,
            wards: self.wards.unwrap_or_default(),
            sla_p1_min: self.sla_p1_min,
            sla_p2_min: self.sla_p2_min,
            sla_p3_min: self.sla_p3_min,
            sla_p4_min: self.sla_p4_min,
            rate_card_ref: self.rate_card_ref.unwrap_or_default(),
            active: self.active,
            valid_from: bad.optional_date("valid_from", self.valid_from.as_deref().unwrap_or("")),
            valid_to: bad.optional_date("valid_to", self.valid_to.as_deref().unwrap_or("")),
        };
        bad.finish(draft)
    }
}

impl NewAssignment {
    fn into_draft(self) -> Result<AssignmentDraft, AppError> {
        let mut bad = Violations::default();
        let org_id = required(&mut bad, "org_id", self.org_id.as_deref());
        let step_type = required(&mut bad, "step_type", self.step_type.as_deref());
        let draft = AssignmentDraft {
            organization_id: bad.optional_uuid("org_id", org_id),
            pon_id: bad.optional_uuid("pon_id", self.pon_id.as_deref().unwrap_or("")),
            ward: self.ward.unwrap_or_default(),
            step_type: step_type.to_string(),
        };
        bad.finish(draft)
    }
}

pub async fn create_contract(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("ContractService/CreateContract"), &headers)
        .await
        .map_err(Failure::service)?;
    let draft = parse_body::<NewContract>(body)?
        .into_draft()
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    let contract = api
        .organizations
        .create_contract(&ctx, draft)
        .await
        .map_err(Failure::service)?;
    Ok(created(contract.id))
}

pub async fn create_assignment(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("AssignmentService/CreateAssignment"), &headers)
        .await
        .map_err(Failure::service)?;
    let draft = parse_body::<NewAssignment>(body)?
        .into_draft()
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    // The old handler's own check, with its message (the service enforces the same rule).
    if draft.pon_id.is_none() && draft.ward.trim().is_empty() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "Provide pon_id or ward",
        ));
    }
    let assignment = api
        .organizations
        .create_assignment(&ctx, draft)
        .await
        .map_err(Failure::service)?;
    Ok(created(assignment.id))
}
