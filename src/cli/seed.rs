//! `kasi-fiber seed`: idempotently creates a demo tenant (an admin, a PM, a site manager,
//! an SMME user, an auditor, five PONs, three organizations and a maintenance contract), or
//! with `--admin-email/--admin-password` the first admin of a real installation.

use std::sync::Arc;

use clap::Args;
use sea_orm::DatabaseConnection;

use crate::auth::{Principal, Role};
use crate::clock::{Clock, SystemClock};
use crate::context::RequestContext;
use crate::error::AppError;
use crate::identity::service::{NewUser, bootstrap_admin, new_account, normalize_email};
use crate::identity::store;
use crate::organizations::OrganizationsService;
use crate::organizations::model::OrganizationType;
use crate::organizations::service::{ContractDraft, ContractFilter, OrganizationDraft};
use crate::pons::PonService;
use crate::pons::service::{PonDraft, PonFilter};

#[derive(Args, Clone, Debug)]
pub struct SeedArgs {
    /// Create (only) this admin, in the tenant given by --tenant.
    #[arg(long, requires = "admin_password")]
    pub admin_email: Option<String>,
    #[arg(
        long,
        requires = "admin_email",
        hide_env_values = true,
        env = "SEED_ADMIN_PASSWORD"
    )]
    pub admin_password: Option<String>,
    /// Tenant slug (`default` is the tenant every install has).
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

const DEMO_TENANT: &str = "demo";
const DEMO_PASSWORD: &str = "Kasi-Demo-2026";

pub async fn run(db: &DatabaseConnection, args: &SeedArgs) -> anyhow::Result<()> {
    let clock = SystemClock;
    if let (Some(email), Some(password)) = (&args.admin_email, &args.admin_password) {
        let admin = NewUser {
            name: "Administrator".into(),
            email: email.clone(),
            password: password.clone(),
            ..Default::default()
        };
        let (user, created) =
            bootstrap_admin(db, &clock, &args.tenant, &args.tenant, admin).await?;
        println!(
            "{} admin {} in tenant {}",
            if created { "created" } else { "kept existing" },
            user.email,
            args.tenant
        );
        return Ok(());
    }
    let admin = NewUser {
        name: "Demo Admin".into(),
        email: "admin@demo.kasifiber.test".into(),
        password: DEMO_PASSWORD.into(),
        ..Default::default()
    };
    let (admin, _) = bootstrap_admin(db, &clock, DEMO_TENANT, "Kasi Fiber demo", admin).await?;
    let people = [
        ("Demo Project Manager", "pm@demo.kasifiber.test", Role::Pm),
        ("Demo Site Manager", "site@demo.kasifiber.test", Role::Site),
        ("Demo Contractor", "smme@demo.kasifiber.test", Role::Smme),
        ("Demo Auditor", "auditor@demo.kasifiber.test", Role::Auditor),
        ("Demo NOC Engineer", "noc@demo.kasifiber.test", Role::Noc),
    ];
    for (name, email, role) in people {
        ensure_user(db, &clock, admin.tenant_id, name, email, role).await?;
    }
    let ctx = RequestContext::for_principal(Principal {
        user_id: Some(admin.id),
        tenant_id: admin.tenant_id,
        role: Role::Admin,
        organization_id: None,
    });
    let pons = PonService::new(db.clone(), Arc::new(SystemClock));
    let existing = pons.list(&ctx, &PonFilter::default(), 0, "").await?.items;
    let wards = ["Ward 12", "Ward 12", "Ward 7", "Ward 7", "Ward 31"];
    for (index, ward) in wards.iter().enumerate() {
        let code = format!("PON-{:03}", index + 1);
        if existing.iter().any(|pon| pon.pon_code == code) {
            continue;
        }
        let draft = PonDraft {
            pon_code: code.clone(),
            name: format!("Soweto {ward} PON {}", index + 1),
            location: "Soweto, Johannesburg".into(),
            ward: (*ward).into(),
            lat: Some(-26.25 + index as f64 * 0.01),
            lng: Some(27.85 + index as f64 * 0.01),
            project_manager_id: Some(admin.id),
            fiber_count: 48,
            splitter_count: 4,
            ..Default::default()
        };
        pons.create(&ctx, draft).await?;
    }
    ensure_organizations(db, &ctx).await?;
    println!(
        "demo tenant `{DEMO_TENANT}` is ready; every demo account's password is {DEMO_PASSWORD}:"
    );
    println!("  admin@demo.kasifiber.test (ADMIN)");
    for (_, email, role) in people {
        println!("  {email} ({})", role.as_str());
    }
    Ok(())
}

/// The demo organizations, and the maintenance contract with its SLA minutes for P1..P4.
async fn ensure_organizations(
    db: &DatabaseConnection,
    ctx: &RequestContext,
) -> Result<(), AppError> {
    let service = OrganizationsService::new(db.clone(), Arc::new(SystemClock));
    let (existing, _) = service
        .list_organizations(ctx, &Default::default(), 0, "")
        .await?;
    let wanted = [
        ("Demo Civil Works", OrganizationType::Civil),
        ("Demo Fibre Technical", OrganizationType::Technical),
        ("Demo Maintenance", OrganizationType::Maintenance),
    ];
    let mut maintenance = None;
    for (name, kind) in wanted {
        let organization = match existing.iter().find(|org| org.name == name) {
            Some(found) => found.clone(),
            None => {
                let draft = OrganizationDraft {
                    name: name.into(),
                    kind: Some(kind),
                };
                service.create_organization(ctx, draft).await?
            }
        };
        if kind == OrganizationType::Maintenance {
            maintenance = Some(organization.id);
        }
    }
    let filter = ContractFilter {
        organization_id: maintenance,
        scope_type: Some(OrganizationType::Maintenance),
        active: None,
    };
    let (contracts, _) = service.list_contracts(ctx, &filter, 1, "").await?;
    if contracts.is_empty() {
        let draft = ContractDraft {
            organization_id: maintenance,
            scope_type: Some(OrganizationType::Maintenance),
            wards: vec!["Ward 7".into(), "Ward 12".into(), "Ward 31".into()],
            sla_p1_min: Some(120),
            sla_p2_min: Some(240),
            sla_p3_min: Some(480),
            sla_p4_min: Some(1440),
            ..Default::default()
        };
        service.create_contract(ctx, draft).await?;
    }
    Ok(())
}

async fn ensure_user(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    tenant_id: uuid::Uuid,
    name: &str,
    email: &str,
    role: Role,
) -> Result<(), AppError> {
    let email = normalize_email("email", email)?;
    if store::user_by_email(db, &email).await?.is_some() {
        return Ok(());
    }
    let account = new_account(
        tenant_id,
        NewUser {
            name: name.into(),
            email,
            password: DEMO_PASSWORD.into(),
            role: Some(role),
            ..Default::default()
        },
        clock.now(),
    )
    .await?;
    store::insert_user(db, account).await?;
    Ok(())
}
