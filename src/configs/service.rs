//! Config rules: golden templates (deny patterns compiled and bounded when an admin saves them),
//! storing a collected config with its SHA-256 and diff, checking it against the device's
//! template, and raising one open `config_drift` incident per device for violations.

use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::diff::line_diff;
use super::model::{Violation, config, template};
use crate::audit::{self, Change};
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::devices;
use crate::error::{AppError, AppResult, Violations};
use crate::incidents::model::{Category, Severity};
use crate::incidents::{AlertOutcome, IncidentService, SystemAlert};
use crate::paging::{self, Page};

pub const MAX_PATTERNS: usize = 50;
pub const MAX_PATTERN_CHARS: usize = 500;
/// Compiled size bound of one pattern, so a saved rule cannot make checks slow or large.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;
/// Violating lines kept in an incident's description (as the old service did).
const DESCRIBED_LINES: usize = 50;

#[derive(Clone, Debug, Default)]
pub struct TemplateDraft {
    pub device_type: String,
    pub vendor: String,
    pub template_text: String,
    pub deny_patterns: Vec<String>,
}

/// What storing a collected config did.
#[derive(Clone, Debug)]
pub struct Collected {
    pub config: config::Model,
    pub device: devices::model::Model,
    /// False when the text equals the previous config's (nothing new was stored).
    pub changed: bool,
}

pub struct ConfigService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    incidents: Arc<IncidentService>,
}

impl ConfigService {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        incidents: Arc<IncidentService>,
    ) -> Self {
        ConfigService {
            db,
            clock,
            incidents,
        }
    }

    /// Creates or replaces the template of `(device_type, vendor)`.
    pub async fn set_template(
        &self,
        ctx: &RequestContext,
        draft: TemplateDraft,
    ) -> AppResult<template::Model> {
        let mut violations = Violations::default();
        let device_type = devices::model::parse_type(&draft.device_type);
        if device_type.is_none() {
            violations.push(
                "template.device_type",
                format!("`{}` is not a device type", draft.device_type.trim()),
            );
        }
        let vendor = draft.vendor.trim().to_lowercase();
        if vendor.chars().count() > 100 {
            violations.push("template.vendor", "must be at most 100 characters");
        }
        if draft.template_text.len() > 1_000_000 {
            violations.push("template.template_text", "must be at most 1 MB");
        }
        if draft.deny_patterns.len() > MAX_PATTERNS {
            violations.push(
                "template.deny_patterns",
                format!("at most {MAX_PATTERNS} patterns"),
            );
        }
        for (index, pattern) in draft.deny_patterns.iter().enumerate() {
            if let Err(problem) = compile(pattern) {
                violations.push(format!("template.deny_patterns[{index}]"), problem);
            }
        }
        let device_type = violations
            .finish(device_type)?
            .expect("an unknown type is a violation");
        let now = self.clock.now();
        let before = self.template_for(ctx, device_type, &vendor).await?;
        let row = template::Model {
            id: before.as_ref().map_or_else(Uuid::now_v7, |row| row.id),
            tenant_id: ctx.tenant_id,
            device_type: device_type.into(),
            vendor,
            template_text: draft.template_text,
            deny_patterns: serde_json::to_string(&draft.deny_patterns)
                .map_err(AppError::internal)?,
            created_at: before.as_ref().map_or(now, |row| row.created_at),
            updated_at: now,
        };
        let tx = self.db.begin().await?;
        template::Entity::insert(row.clone().into_active_model())
            .on_conflict(
                OnConflict::columns([
                    template::Column::TenantId,
                    template::Column::DeviceType,
                    template::Column::Vendor,
                ])
                .update_columns([
                    template::Column::TemplateText,
                    template::Column::DenyPatterns,
                    template::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
        // On a replace the row keeps the id and creation time read above.
        let stored = row;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: if before.is_some() { "update" } else { "create" },
                resource_type: "golden_template",
                resource_id: stored.id.to_string(),
                before: before.as_ref().map(template_snapshot),
                after: Some(template_snapshot(&stored)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn template_for(
        &self,
        ctx: &RequestContext,
        device_type: &str,
        vendor: &str,
    ) -> AppResult<Option<template::Model>> {
        Ok(template::Entity::find()
            .filter(template::Column::TenantId.eq(ctx.tenant_id))
            .filter(template::Column::DeviceType.eq(device_type))
            .filter(template::Column::Vendor.eq(vendor))
            .one(&self.db)
            .await?)
    }

    pub async fn list_templates(&self, ctx: &RequestContext) -> AppResult<Vec<template::Model>> {
        Ok(template::Entity::find()
            .filter(template::Column::TenantId.eq(ctx.tenant_id))
            .order_by_asc(template::Column::DeviceType)
            .order_by_asc(template::Column::Vendor)
            .all(&self.db)
            .await?)
    }

    pub async fn delete_template(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        let before = template::Entity::find_by_id(id)
            .filter(template::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::not_found(format!("golden template {id} not found")))?;
        let tx = self.db.begin().await?;
        template::Entity::delete_many()
            .filter(template::Column::Id.eq(id))
            .filter(template::Column::TenantId.eq(ctx.tenant_id))
            .exec(&tx)
            .await?;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            self.clock.now(),
            Change {
                action: "delete",
                resource_type: "golden_template",
                resource_id: id.to_string(),
                before: Some(template_snapshot(&before)),
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the running config of the device named `name` (NOT_FOUND when the tenant has none),
    /// with its hash and diff, checks it, and raises or folds into the device's config incident.
    pub async fn collect(
        &self,
        ctx: &RequestContext,
        name: &str,
        text: &str,
    ) -> AppResult<Collected> {
        let device =
            devices::service::find_by_identity(&self.db, ctx.tenant_id, Some(name), None, None)
                .await?
                .ok_or_else(|| AppError::not_found("Device not found"))?;
        let now = self.clock.now();
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let previous = config::Entity::find()
            .filter(config::Column::TenantId.eq(ctx.tenant_id))
            .filter(config::Column::DeviceId.eq(device.id))
            .order_by_desc(config::Column::CollectedAt)
            .order_by_desc(config::Column::Id)
            .one(&self.db)
            .await?;
        if let Some(previous) = previous.as_ref().filter(|row| row.hash_sha256 == hash) {
            return Ok(Collected {
                config: previous.clone(),
                device,
                changed: false,
            });
        }
        let violations = self.check(ctx, &device, text).await?;
        let mut row = config::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            device_id: device.id,
            running_config: text.to_string(),
            hash_sha256: hash,
            previous_id: previous.as_ref().map(|row| row.id),
            diff: previous
                .as_ref()
                .map(|row| line_diff(&row.running_config, text))
                .unwrap_or_default(),
            violations: serde_json::to_string(&violations).map_err(AppError::internal)?,
            incident_id: None,
            collected_at: now,
        };
        if !violations.is_empty() {
            row.incident_id = self.raise(ctx, &device, &row, &violations).await?;
        }
        let tx = self.db.begin().await?;
        config::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&tx)
            .await?;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: "create",
                resource_type: "device_config",
                resource_id: row.id.to_string(),
                before: None,
                after: Some(json!({
                    "device_id": row.device_id,
                    "hash_sha256": row.hash_sha256,
                    "previous_id": row.previous_id,
                    "violations": violations.len(),
                    "incident_id": row.incident_id,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Collected {
            config: row,
            device,
            changed: true,
        })
    }

    /// Every line of `text` that a deny pattern of the device's template matches: the template
    /// of its type and vendor, else of its type for every vendor.
    async fn check(
        &self,
        ctx: &RequestContext,
        device: &devices::model::Model,
        text: &str,
    ) -> AppResult<Vec<Violation>> {
        let vendor = device.vendor.trim().to_lowercase();
        let mut found = self.template_for(ctx, &device.r#type, &vendor).await?;
        if found.is_none() && !vendor.is_empty() {
            found = self.template_for(ctx, &device.r#type, "").await?;
        }
        let Some(template) = found else {
            return Ok(Vec::new());
        };
        let rules: Vec<(String, Regex)> = template
            .deny_patterns()
            .into_iter()
            .filter_map(|pattern| compile(&pattern).ok().map(|regex| (pattern, regex)))
            .collect();
        Ok(text
            .lines()
            .enumerate()
            .filter_map(|(index, line)| {
                rules
                    .iter()
                    .find(|(_, regex)| regex.is_match(line))
                    .map(|(pattern, _)| Violation {
                        line: index + 1,
                        text: line.to_string(),
                        pattern: pattern.clone(),
                    })
            })
            .collect())
    }

    async fn raise(
        &self,
        ctx: &RequestContext,
        device: &devices::model::Model,
        row: &config::Model,
        violations: &[Violation],
    ) -> AppResult<Option<Uuid>> {
        let outcome = self
            .incidents
            .raise(SystemAlert {
                tenant_id: ctx.tenant_id,
                device_id: Some(device.id),
                device_identity: None,
                pon_id: device.pon_id,
                category: Category::ConfigDrift,
                severity: Severity::P3,
                title: format!("Out-of-policy config on {}", device.name),
                description: violations
                    .iter()
                    .take(DESCRIBED_LINES)
                    .map(|v| v.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                source: "Oxidized".into(),
                // One open config incident per device; later violations fold into it.
                source_event_id: Some(format!("config:{}", device.id)),
                payload: Some(
                    json!({"config_id": row.id, "hash_sha256": row.hash_sha256, "violations": violations.len()})
                        .to_string(),
                ),
            })
            .await?;
        Ok(match outcome {
            AlertOutcome::Opened(incident) | AlertOutcome::Deduplicated(incident) => {
                Some(incident.id)
            }
            AlertOutcome::Suppressed => None,
        })
    }

    /// Newest first, without their text.
    pub async fn list_configs(
        &self,
        ctx: &RequestContext,
        device_id: Option<Uuid>,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<config::Model>> {
        const KIND: &str = "device-config";
        let limit = paging::page_limit(page_size)?;
        let mut query = config::Entity::find().filter(config::Column::TenantId.eq(ctx.tenant_id));
        if let Some(device_id) = device_id {
            query = query.filter(config::Column::DeviceId.eq(device_id));
        }
        if let Some(before) = paging::decode_token(KIND, page_token)? {
            query = query.filter(config::Column::Id.lt(before));
        }
        let mut rows = query
            .order_by_desc(config::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        for row in &mut rows {
            row.running_config.clear();
        }
        Ok(paging::into_page(KIND, rows, limit, |row| row.id))
    }

    pub async fn get_config(&self, ctx: &RequestContext, id: Uuid) -> AppResult<config::Model> {
        config::Entity::find_by_id(id)
            .filter(config::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::not_found(format!("device config {id} not found")))
    }
}

/// A deny pattern, bounded in length and compiled size.
fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("must be at most {MAX_PATTERN_CHARS} characters"));
    }
    RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|err| format!("is not a valid regular expression: {err}"))
}

fn template_snapshot(row: &template::Model) -> serde_json::Value {
    json!({
        "device_type": row.device_type,
        "vendor": row.vendor,
        "deny_patterns": row.deny_patterns(),
        "template_sha256": hex::encode(Sha256::digest(row.template_text.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_bounded_and_checked() {
        assert!(compile(r"^snmp-server community (public|private)\b").is_ok());
        assert!(
            compile("(unclosed")
                .unwrap_err()
                .starts_with("is not a valid")
        );
        assert!(compile(" ").is_err());
        assert!(compile(&"a".repeat(MAX_PATTERN_CHARS + 1)).is_err());
        assert!(
            compile(r"\w{1000}{1000}").is_err(),
            "compiled size is bounded"
        );
    }
}
