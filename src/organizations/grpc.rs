//! gRPC adapter of `kasi.fiber.v1.OrganizationService`, `ContractService` and
//! `AssignmentService`: converts messages to domain values (naming every bad field) and back.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model::{OrganizationType, assignment, contract, organization};
use super::service::{
    AssignmentDraft, AssignmentFilter, ContractDraft, ContractFilter, OrganizationDraft,
    OrganizationFilter, OrganizationsService,
};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, date_text, id_text, timestamp};

/// Serves all three services from one domain service.
#[derive(Clone)]
pub struct OrganizationsGrpc {
    service: Arc<OrganizationsService>,
}

impl OrganizationsGrpc {
    pub fn new(service: Arc<OrganizationsService>) -> Self {
        OrganizationsGrpc { service }
    }
}

fn mask_paths(mask: Option<prost_types::FieldMask>) -> Vec<String> {
    mask.map(|mask| mask.paths).unwrap_or_default()
}

/// An optional text filter: trimmed, empty means none.
fn text_filter(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|text| !text.is_empty())
}

/// An organization type or contract scope; unspecified is None.
fn kind_from_proto(bad: &mut Violations, field: &str, value: i32) -> Option<OrganizationType> {
    match v1::OrganizationType::try_from(value) {
        Ok(v1::OrganizationType::Unspecified) => None,
        Ok(v1::OrganizationType::Civil) => Some(OrganizationType::Civil),
        Ok(v1::OrganizationType::Technical) => Some(OrganizationType::Technical),
        Ok(v1::OrganizationType::Maintenance) => Some(OrganizationType::Maintenance),
        Ok(v1::OrganizationType::Sales) => Some(OrganizationType::Sales),
        Err(_) => {
            bad.push(field, format!("{value} is not an organization type"));
            None
        }
    }
}

fn kind_to_proto(kind: OrganizationType) -> v1::OrganizationType {
    match kind {
        OrganizationType::Civil => v1::OrganizationType::Civil,
        OrganizationType::Technical => v1::OrganizationType::Technical,
        OrganizationType::Maintenance => v1::OrganizationType::Maintenance,
        OrganizationType::Sales => v1::OrganizationType::Sales,
    }
}

fn organization_draft(message: &v1::Organization) -> Result<OrganizationDraft, AppError> {
    let mut bad = Violations::default();
    let kind = kind_from_proto(&mut bad, "organization.type", message.r#type);
    bad.finish(OrganizationDraft {
        name: message.name.clone(),
        kind,
    })
}

fn contract_draft(message: &v1::Contract) -> Result<ContractDraft, AppError> {
    let mut bad = Violations::default();
    let draft = ContractDraft {
        organization_id: bad.optional_uuid("contract.organization_id", &message.organization_id),
        scope_type: kind_from_proto(&mut bad, "contract.scope_type", message.scope_type),
        wards: message.wards.clone(),
        sla_p1_min: message.sla_p1_min,
        sla_p2_min: message.sla_p2_min,
        sla_p3_min: message.sla_p3_min,
        sla_p4_min: message.sla_p4_min,
        rate_card_ref: message.rate_card_ref.clone(),
        active: message.active,
        valid_from: bad.optional_date("contract.valid_from", &message.valid_from),
        valid_to: bad.optional_date("contract.valid_to", &message.valid_to),
    };
    bad.finish(draft)
}

fn assignment_draft(message: &v1::Assignment) -> Result<AssignmentDraft, AppError> {
    let mut bad = Violations::default();
    let draft = AssignmentDraft {
        organization_id: bad.optional_uuid("assignment.organization_id", &message.organization_id),
        pon_id: bad.optional_uuid("assignment.pon_id", &message.pon_id),
        ward: message.ward.clone(),
        step_type: message.step_type.clone(),
    };
    bad.finish(draft)
}

fn organization_to_proto(row: &organization::Model) -> v1::Organization {
    v1::Organization {
        id: row.id.to_string(),
        name: row.name.clone(),
        r#type: kind_to_proto(row.kind()) as i32,
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

fn contract_to_proto(row: &contract::Model) -> v1::Contract {
    v1::Contract {
        id: row.id.to_string(),
        organization_id: row.organization_id.to_string(),
        scope_type: kind_to_proto(row.scope()) as i32,
        wards: row.wards(),
        sla_p1_min: row.sla_p1_min,
        sla_p2_min: row.sla_p2_min,
        sla_p3_min: row.sla_p3_min,
        sla_p4_min: row.sla_p4_min,
        rate_card_ref: row.rate_card_ref.clone().unwrap_or_default(),
        active: Some(row.active),
        valid_from: date_text(row.valid_from),
        valid_to: date_text(row.valid_to),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

fn assignment_to_proto(row: &assignment::Model) -> v1::Assignment {
    v1::Assignment {
        id: row.id.to_string(),
        organization_id: row.organization_id.to_string(),
        pon_id: id_text(row.pon_id),
        ward: row.ward.clone().unwrap_or_default(),
        step_type: row.step_type.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

#[tonic::async_trait]
impl v1::organization_service_server::OrganizationService for OrganizationsGrpc {
    async fn create_organization(
        &self,
        request: Request<v1::CreateOrganizationRequest>,
    ) -> Result<Response<v1::Organization>, Status> {
        let ctx = context(&request);
        let message = request
            .into_inner()
            .organization
            .ok_or_else(|| AppError::invalid("organization", "is required"))?;
        let draft = organization_draft(&message)?;
        let created = self.service.create_organization(&ctx, draft).await?;
        Ok(Response::new(organization_to_proto(&created)))
    }

    async fn get_organization(
        &self,
        request: Request<v1::GetOrganizationRequest>,
    ) -> Result<Response<v1::Organization>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let found = self.service.get_organization(&ctx, id).await?;
        Ok(Response::new(organization_to_proto(&found)))
    }

    async fn list_organizations(
        &self,
        request: Request<v1::ListOrganizationsRequest>,
    ) -> Result<Response<v1::ListOrganizationsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = OrganizationFilter {
            kind: kind_from_proto(&mut bad, "type", message.r#type),
        };
        let filter = bad.finish(filter)?;
        let (rows, next) = self
            .service
            .list_organizations(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListOrganizationsResponse {
            organizations: rows.iter().map(organization_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_organization(
        &self,
        request: Request<v1::UpdateOrganizationRequest>,
    ) -> Result<Response<v1::Organization>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let organization = message
            .organization
            .ok_or_else(|| AppError::invalid("organization", "is required"))?;
        let id = parse_id("organization.id", &organization.id)?;
        let draft = organization_draft(&organization)?;
        let updated = self
            .service
            .update_organization(&ctx, id, draft, &mask_paths(message.update_mask))
            .await?;
        Ok(Response::new(organization_to_proto(&updated)))
    }

    async fn delete_organization(
        &self,
        request: Request<v1::DeleteOrganizationRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete_organization(&ctx, id).await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl v1::contract_service_server::ContractService for OrganizationsGrpc {
    async fn create_contract(
        &self,
        request: Request<v1::CreateContractRequest>,
    ) -> Result<Response<v1::Contract>, Status> {
        let ctx = context(&request);
        let message = request
            .into_inner()
            .contract
            .ok_or_else(|| AppError::invalid("contract", "is required"))?;
        let draft = contract_draft(&message)?;
        let created = self.service.create_contract(&ctx, draft).await?;
        Ok(Response::new(contract_to_proto(&created)))
    }

    async fn get_contract(
        &self,
        request: Request<v1::GetContractRequest>,
    ) -> Result<Response<v1::Contract>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let found = self.service.get_contract(&ctx, id).await?;
        Ok(Response::new(contract_to_proto(&found)))
    }

    async fn list_contracts(
        &self,
        request: Request<v1::ListContractsRequest>,
    ) -> Result<Response<v1::ListContractsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = ContractFilter {
            organization_id: bad.optional_uuid("organization_id", &message.organization_id),
            scope_type: kind_from_proto(&mut bad, "scope_type", message.scope_type),
            active: message.active,
        };
        let filter = bad.finish(filter)?;
        let (rows, next) = self
            .service
            .list_contracts(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListContractsResponse {
            contracts: rows.iter().map(contract_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_contract(
        &self,
        request: Request<v1::UpdateContractRequest>,
    ) -> Result<Response<v1::Contract>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let contract = message
            .contract
            .ok_or_else(|| AppError::invalid("contract", "is required"))?;
        let id = parse_id("contract.id", &contract.id)?;
        let draft = contract_draft(&contract)?;
        let updated = self
            .service
            .update_contract(&ctx, id, draft, &mask_paths(message.update_mask))
            .await?;
        Ok(Response::new(contract_to_proto(&updated)))
    }

    async fn delete_contract(
        &self,
        request: Request<v1::DeleteContractRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete_contract(&ctx, id).await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl v1::assignment_service_server::AssignmentService for OrganizationsGrpc {
    async fn create_assignment(
        &self,
        request: Request<v1::CreateAssignmentRequest>,
    ) -> Result<Response<v1::Assignment>, Status> {
        let ctx = context(&request);
        let message = request
            .into_inner()
            .assignment
            .ok_or_else(|| AppError::invalid("assignment", "is required"))?;
        let draft = assignment_draft(&message)?;
        let created = self.service.create_assignment(&ctx, draft).await?;
        Ok(Response::new(assignment_to_proto(&created)))
    }

    async fn get_assignment(
        &self,
        request: Request<v1::GetAssignmentRequest>,
    ) -> Result<Response<v1::Assignment>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let found = self.service.get_assignment(&ctx, id).await?;
        Ok(Response::new(assignment_to_proto(&found)))
    }

    async fn list_assignments(
        &self,
        request: Request<v1::ListAssignmentsRequest>,
    ) -> Result<Response<v1::ListAssignmentsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = AssignmentFilter {
            organization_id: bad.optional_uuid("organization_id", &message.organization_id),
            pon_id: bad.optional_uuid("pon_id", &message.pon_id),
            ward: text_filter(&message.ward),
            step_type: text_filter(&message.step_type),
        };
        let filter = bad.finish(filter)?;
        let (rows, next) = self
            .service
            .list_assignments(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListAssignmentsResponse {
            assignments: rows.iter().map(assignment_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_assignment(
        &self,
        request: Request<v1::UpdateAssignmentRequest>,
    ) -> Result<Response<v1::Assignment>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let assignment = message
            .assignment
            .ok_or_else(|| AppError::invalid("assignment", "is required"))?;
        let id = parse_id("assignment.id", &assignment.id)?;
        let draft = assignment_draft(&assignment)?;
        let updated = self
            .service
            .update_assignment(&ctx, id, draft, &mask_paths(message.update_mask))
            .await?;
        Ok(Response::new(assignment_to_proto(&updated)))
    }

    async fn delete_assignment(
        &self,
        request: Request<v1::DeleteAssignmentRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete_assignment(&ctx, id).await?;
        Ok(Response::new(()))
    }
}
