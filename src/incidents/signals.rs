//! The payloads kept on incidents (signals): written with the change they belong to, or — for
//! the repeats of an alert storm — in group inserts that many concurrent alerts share, and
//! trimmed to the newest [`MAX_SIGNALS`] now and then rather than on every insert.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, QueryStatementBuilder};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::model::{MAX_SIGNALS, Model, signal};
use crate::error::{AppError, AppResult};

/// About one insert in this many also drops the incident's signals beyond the newest
/// [`MAX_SIGNALS`] (chosen by the random bits of the new signal's id), so the stored surplus
/// stays small while a storm costs no delete per alert.
const TRIM_ONE_IN: u128 = 8;

/// Most signal rows in one INSERT statement (6 bind parameters each).
const ROWS_PER_INSERT: usize = 1000;

/// A signal row for `incident` (the payload cut to 4000 characters).
pub fn signal_row(incident: &Model, key: &str, payload: &str, now: DateTime<Utc>) -> signal::Model {
    signal::Model {
        id: Uuid::now_v7(),
        tenant_id: incident.tenant_id,
        incident_id: incident.id,
        key: key.to_string(),
        value: payload.chars().take(4000).collect(),
        received_at: now,
    }
}

/// Stores signals (within the caller's transaction when it passes one), trimming the incidents
/// they sample.
pub async fn store(db: &impl ConnectionTrait, rows: Vec<signal::Model>) -> AppResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut trimmed: Vec<Uuid> = rows
        .iter()
        .filter(|row| row.id.as_u128() % TRIM_ONE_IN == 0)
        .map(|row| row.incident_id)
        .collect();
    trimmed.sort();
    trimmed.dedup();
    // Bounded statements: bind parameters are limited (SQLite 32 766, PostgreSQL 65 535).
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows
            .by_ref()
            .take(ROWS_PER_INSERT)
            .map(IntoActiveModel::into_active_model)
            .collect();
        signal::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    for incident_id in trimmed {
        trim(db, incident_id).await?;
    }
    Ok(())
}

/// Drops the incident's signals older than its newest [`MAX_SIGNALS`].
async fn trim(db: &impl ConnectionTrait, incident_id: Uuid) -> AppResult<()> {
    let oldest_kept = Query::select()
        .column(signal::Column::Id)
        .from(signal::Entity)
        .and_where(signal::Column::IncidentId.eq(incident_id))
        .order_by(signal::Column::Id, sea_orm::Order::Desc)
        .offset(MAX_SIGNALS - 1)
        .limit(1)
        .to_owned();
    signal::Entity::delete_many()
        .filter(signal::Column::IncidentId.eq(incident_id))
        .filter(Expr::col(signal::Column::Id).lt(Expr::SubQuery(
            None,
            Box::new(oldest_kept.into_sub_query_statement()),
        )))
        .exec(db)
        .await?;
    Ok(())
}

/// A signal waiting for the next group insert, and who to tell when it is stored.
type Waiting = (signal::Model, oneshot::Sender<Result<(), String>>);

/// Group inserts of signals outside any transaction: each caller queues its row and waits; whoever
/// finds no insert running takes every queued row into one statement. Under a storm one insert
/// (and one commit) serves many alerts; a lone alert is stored at once. Answers only after the
/// row is committed, so nothing acknowledged is lost.
#[derive(Clone, Default)]
pub struct SignalBatcher {
    queued: Arc<Mutex<Vec<Waiting>>>,
    inserting: Arc<tokio::sync::Mutex<()>>,
}

impl SignalBatcher {
    pub async fn add(&self, db: &DatabaseConnection, row: signal::Model) -> AppResult<()> {
        let (done, stored) = oneshot::channel();
        self.queued
            .lock()
            .expect("signal queue lock poisoned")
            .push((row, done));
        // Wait for the insert in flight (if any); then take whatever queued meanwhile — ours,
        // unless that insert already took it. The insert runs as its own task, so a caller that
        // goes away cannot cut it short for the others.
        let turn = self.inserting.clone().lock_owned().await;
        let batch = std::mem::take(&mut *self.queued.lock().expect("signal queue lock poisoned"));
        if batch.is_empty() {
            drop(turn);
        } else {
            let db = db.clone();
            tokio::spawn(async move {
                let (rows, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let outcome = store(&db, rows).await.map_err(|err| err.to_string());
                drop(turn);
                for waiter in waiters {
                    let _ = waiter.send(outcome.clone());
                }
            });
        }
        match stored.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AppError::Internal(anyhow::anyhow!(
                "storing signals: {message}"
            ))),
            Err(_) => Err(AppError::Unavailable(
                "the signal insert was interrupted; retry".into(),
            )),
        }
    }
}
