//! gRPC adapter of `kasi.fiber.v1.SpareService`: converts messages to domain values (naming
//! every bad field) and back; the rules live in the service.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model::{level, movement, store};
use super::service::{LevelFilter, Move, MovementFilter, SpareService, StoreDraft};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, id_text, timestamp};

pub struct SpareGrpc {
    service: Arc<SpareService>,
}

impl SpareGrpc {
    pub fn new(service: Arc<SpareService>) -> Self {
        SpareGrpc { service }
    }
}

/// An optional text filter: trimmed, empty meaning "all".
fn text_filter(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|text| !text.is_empty())
}

#[tonic::async_trait]
impl v1::spare_service_server::SpareService for SpareGrpc {
    async fn create_store(
        &self,
        request: Request<v1::CreateStoreRequest>,
    ) -> Result<Response<v1::Store>, Status> {
        let ctx = context(&request);
        let store = request
            .into_inner()
            .store
            .ok_or_else(|| AppError::invalid("store", "is required"))?;
        let created = self.service.create_store(&ctx, draft(&store)).await?;
        Ok(Response::new(store_to_proto(&created)))
    }

    async fn get_store(
        &self,
        request: Request<v1::GetStoreRequest>,
    ) -> Result<Response<v1::Store>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(store_to_proto(
            &self.service.get_store(&ctx, id).await?,
        )))
    }

    async fn list_stores(
        &self,
        request: Request<v1::ListStoresRequest>,
    ) -> Result<Response<v1::ListStoresResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let (stores, next) = self
            .service
            .list_stores(&ctx, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListStoresResponse {
            stores: stores.iter().map(store_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_store(
        &self,
        request: Request<v1::UpdateStoreRequest>,
    ) -> Result<Response<v1::Store>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let store = message
            .store
            .ok_or_else(|| AppError::invalid("store", "is required"))?;
        let id = parse_id("store.id", &store.id)?;
        let mask = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        let updated = self
            .service
            .update_store(&ctx, id, draft(&store), &mask)
            .await?;
        Ok(Response::new(store_to_proto(&updated)))
    }

    async fn delete_store(
        &self,
        request: Request<v1::DeleteStoreRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete_store(&ctx, id).await?;
        Ok(Response::new(()))
    }

    async fn issue_spare(
        &self,
        request: Request<v1::MoveSpareRequest>,
    ) -> Result<Response<v1::SpareMovement>, Status> {
        let ctx = context(&request);
        let change = move_from_proto(request.get_ref())?;
        let moved = self.service.issue(&ctx, change).await?;
        Ok(Response::new(movement_to_proto(&moved)))
    }

    async fn return_spare(
        &self,
        request: Request<v1::MoveSpareRequest>,
    ) -> Result<Response<v1::SpareMovement>, Status> {
        let ctx = context(&request);
        let change = move_from_proto(request.get_ref())?;
        let moved = self.service.return_stock(&ctx, change).await?;
        Ok(Response::new(movement_to_proto(&moved)))
    }

    async fn list_stock_levels(
        &self,
        request: Request<v1::ListStockLevelsRequest>,
    ) -> Result<Response<v1::ListStockLevelsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = LevelFilter {
            store_id: bad.optional_uuid("store_id", &message.store_id),
            sku: text_filter(&message.sku),
        };
        let filter = bad.finish(filter)?;
        let (levels, next) = self
            .service
            .list_levels(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListStockLevelsResponse {
            levels: levels.iter().map(level_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn list_spare_movements(
        &self,
        request: Request<v1::ListSpareMovementsRequest>,
    ) -> Result<Response<v1::ListSpareMovementsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = MovementFilter {
            store_id: bad.optional_uuid("store_id", &message.store_id),
            sku: text_filter(&message.sku),
            incident_id: bad.optional_uuid("incident_id", &message.incident_id),
        };
        let filter = bad.finish(filter)?;
        let (movements, next) = self
            .service
            .list_movements(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListSpareMovementsResponse {
            movements: movements.iter().map(movement_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}

fn draft(store: &v1::Store) -> StoreDraft {
    StoreDraft {
        name: store.name.clone(),
        address: store.address.clone(),
    }
}

fn move_from_proto(message: &v1::MoveSpareRequest) -> Result<Move, AppError> {
    let mut bad = Violations::default();
    let store_id = match parse_id("store_id", &message.store_id) {
        Ok(id) => Some(id),
        Err(AppError::InvalidArgument(found)) => {
            for violation in found {
                bad.push(&violation.field, violation.description);
            }
            None
        }
        Err(other) => return Err(other),
    };
    let incident_id = bad.optional_uuid("incident_id", &message.incident_id);
    let store_id = bad.finish(store_id)?.unwrap_or_default();
    Ok(Move {
        store_id,
        sku: message.sku.clone(),
        quantity: message.quantity,
        incident_id,
        reason: message.reason.clone(),
    })
}

pub fn store_to_proto(row: &store::Model) -> v1::Store {
    v1::Store {
        id: row.id.to_string(),
        name: row.name.clone(),
        address: row.address.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

fn level_to_proto(row: &level::Model) -> v1::StockLevel {
    v1::StockLevel {
        id: row.id.to_string(),
        store_id: row.store_id.to_string(),
        sku: row.sku.clone(),
        quantity: row.quantity,
        updated_at: Some(timestamp(row.updated_at)),
    }
}

fn movement_to_proto(row: &movement::Model) -> v1::SpareMovement {
    v1::SpareMovement {
        id: row.id.to_string(),
        store_id: row.store_id.to_string(),
        sku: row.sku.clone(),
        delta_quantity: row.delta_qty,
        quantity_after: row.quantity_after,
        reason: row.reason.clone(),
        incident_id: id_text(row.incident_id),
        actor_user_id: id_text(row.actor_user_id),
        created_at: Some(timestamp(row.created_at)),
    }
}
