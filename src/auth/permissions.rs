//! The permission table: every RPC's allowed roles, declared once. The gRPC guard (and so
//! grpc-web and REST, which dispatch through it) and the legacy adapters all consult it; an
//! RPC missing from it is refused, never allowed by default. Also declared here: the parts of
//! a reading RPC's request that write, the RPCs a pending account may call, and the `rpc!`
//! names the HTTP adapters check access with (verified against the served RPCs at start).

use std::collections::HashSet;

use super::Role;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult};

/// Who may call an RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (login, registration, health, reflection).
    Public,
    /// A verified caller holding one of these roles.
    Roles(&'static [Role]),
}

const ANY_ROLE: &[Role] = &Role::ALL;
const ADMIN: &[Role] = &[Role::Admin];
const ADMIN_PM: &[Role] = &[Role::Admin, Role::Pm];
const ADMIN_AUDITOR: &[Role] = &[Role::Admin, Role::Auditor];
const ADMIN_PM_SITE: &[Role] = &[Role::Admin, Role::Pm, Role::Site];
const ADMIN_PM_SITE_SMME: &[Role] = &[Role::Admin, Role::Pm, Role::Site, Role::Smme];
const ADMIN_PM_SITE_AUDITOR: &[Role] = &[Role::Admin, Role::Pm, Role::Site, Role::Auditor];
const ADMIN_PM_NOC: &[Role] = &[Role::Admin, Role::Pm, Role::Noc];
const ADMIN_NOC: &[Role] = &[Role::Admin, Role::Noc];
/// Who records field and NMS measurements.
const MEASURERS: &[Role] = &[Role::Admin, Role::Pm, Role::Site, Role::Noc];
/// Everyone but SMME staff: the network-operations records.
const OPERATIONS: &[Role] = &[Role::Admin, Role::Pm, Role::Site, Role::Noc, Role::Auditor];
const INCIDENT_OPENERS: &[Role] = &[Role::Admin, Role::Pm, Role::Site, Role::Noc];
const INCIDENT_WORKERS: &[Role] = &[Role::Admin, Role::Pm, Role::Site, Role::Noc, Role::Smme];

/// `package.Service/Method` → access.
const TABLE: &[(&str, Access)] = &[
    ("grpc.health.v1.Health/Check", Access::Public),
    ("grpc.health.v1.Health/Watch", Access::Public),
    (
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Access::Public,
    ),
    ("kasi.fiber.v1.AuthService/Register", Access::Public),
    ("kasi.fiber.v1.AuthService/Login", Access::Public),
    ("kasi.fiber.v1.AuthService/Me", Access::Roles(ANY_ROLE)),
    (
        "kasi.fiber.v1.AuthService/ChangePassword",
        Access::Roles(ANY_ROLE),
    ),
    ("kasi.fiber.v1.UserService/CreateUser", Access::Roles(ADMIN)),
    ("kasi.fiber.v1.UserService/GetUser", Access::Roles(ANY_ROLE)),
    (
        "kasi.fiber.v1.UserService/ListUsers",
        Access::Roles(ADMIN_PM),
    ),
    // Everyone may edit their own profile; the service lets only ADMIN edit others.
    (
        "kasi.fiber.v1.UserService/UpdateUser",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.UserService/SetUserActive",
        Access::Roles(ADMIN),
    ),
    (
        "kasi.fiber.v1.UserService/SetUserRole",
        Access::Roles(ADMIN),
    ),
    (
        "kasi.fiber.v1.UserService/ApproveUser",
        Access::Roles(ADMIN),
    ),
    (
        "kasi.fiber.v1.UserService/CreateInvite",
        Access::Roles(ADMIN),
    ),
    (
        "kasi.fiber.v1.AuditService/ListAuditEntries",
        Access::Roles(ADMIN_AUDITOR),
    ),
    (
        "kasi.fiber.v1.PonService/CreatePon",
        Access::Roles(ADMIN_PM),
    ),
    ("kasi.fiber.v1.PonService/GetPon", Access::Roles(ANY_ROLE)),
    ("kasi.fiber.v1.PonService/ListPons", Access::Roles(ANY_ROLE)),
    (
        "kasi.fiber.v1.PonService/UpdatePon",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.PonService/DeletePon",
        Access::Roles(ADMIN_PM),
    ),
    // Every role reads organizations, contracts and assignments; the service shows SMME
    // users only their own organization's.
    (
        "kasi.fiber.v1.OrganizationService/CreateOrganization",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.OrganizationService/GetOrganization",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.OrganizationService/ListOrganizations",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.OrganizationService/UpdateOrganization",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.OrganizationService/DeleteOrganization",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.ContractService/CreateContract",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.ContractService/GetContract",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.ContractService/ListContracts",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.ContractService/UpdateContract",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.ContractService/DeleteContract",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.AssignmentService/CreateAssignment",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.AssignmentService/GetAssignment",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.AssignmentService/ListAssignments",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.AssignmentService/UpdateAssignment",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.AssignmentService/DeleteAssignment",
        Access::Roles(ADMIN_PM),
    ),
    // Every role reads tasks; the service shows each role the tasks of its PONs (SMME users:
    // their organization's and those routed to it).
    (
        "kasi.fiber.v1.TaskService/CreateTask",
        Access::Roles(ADMIN_PM_SITE),
    ),
    ("kasi.fiber.v1.TaskService/GetTask", Access::Roles(ANY_ROLE)),
    (
        "kasi.fiber.v1.TaskService/ListTasks",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.TaskService/UpdateTask",
        Access::Roles(ADMIN_PM_SITE),
    ),
    (
        "kasi.fiber.v1.TaskService/DeleteTask",
        Access::Roles(ADMIN_PM_SITE),
    ),
    (
        "kasi.fiber.v1.TaskService/TransitionTask",
        Access::Roles(ADMIN_PM_SITE),
    ),
    (
        "kasi.fiber.v1.TaskService/ListWorkQueue",
        Access::Roles(ANY_ROLE),
    ),
    // Site staff and managers record stringing runs; every role reads them, scoped by the
    // service like the PONs (SMME users: their own organization's).
    (
        "kasi.fiber.v1.StringingService/CreateStringingRun",
        Access::Roles(ADMIN_PM_SITE),
    ),
    (
        "kasi.fiber.v1.StringingService/ListStringingRuns",
        Access::Roles(ANY_ROLE),
    ),
    // Reports cover what the caller may read.
    (
        "kasi.fiber.v1.ReportService/GetDashboard",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.ReportService/ListPonReports",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.ReportService/ListTaskReports",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.ReportService/ExportPons",
        Access::Roles(ANY_ROLE),
    ),
    // Photos are taken by field roles; every role reads them (the service scopes SMME users
    // to their organization's tasks).
    (
        "kasi.fiber.v1.PhotoService/UploadPhoto",
        Access::Roles(ADMIN_PM_SITE_SMME),
    ),
    (
        "kasi.fiber.v1.PhotoService/CreateUploadUrl",
        Access::Roles(ADMIN_PM_SITE_SMME),
    ),
    (
        "kasi.fiber.v1.PhotoService/RegisterPhoto",
        Access::Roles(ADMIN_PM_SITE_SMME),
    ),
    (
        "kasi.fiber.v1.PhotoService/ValidatePhoto",
        Access::Roles(ADMIN_PM_SITE_SMME),
    ),
    (
        "kasi.fiber.v1.PhotoService/GetPhoto",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.PhotoService/ListPhotos",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.PhotoService/GetPhotoDownloadUrl",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.PhotoService/SetCircleGeofence",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.PhotoService/SetPolygonGeofence",
        Access::Roles(ADMIN_PM),
    ),
    (
        "kasi.fiber.v1.CertificateService/CreateCertificate",
        Access::Roles(ADMIN_PM_SITE),
    ),
    (
        "kasi.fiber.v1.CertificateService/GetCertificate",
        Access::Roles(ADMIN_PM_SITE_AUDITOR),
    ),
    (
        "kasi.fiber.v1.CertificateService/ListCertificates",
        Access::Roles(ADMIN_PM_SITE_AUDITOR),
    ),
    // Spares: stores and moves by ADMIN, PM and NOC (core-api §2.5); reads by operations roles.
    (
        "kasi.fiber.v1.SpareService/CreateStore",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.SpareService/GetStore",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.SpareService/ListStores",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.SpareService/UpdateStore",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.SpareService/DeleteStore",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.SpareService/IssueSpare",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.SpareService/ReturnSpare",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.SpareService/ListStockLevels",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.SpareService/ListSpareMovements",
        Access::Roles(OPERATIONS),
    ),
    // Optical readings: recorded by measurers, read by operations, thresholds set by ADMIN/NOC.
    (
        "kasi.fiber.v1.OpticalService/IngestOpticalReadings",
        Access::Roles(MEASURERS),
    ),
    (
        "kasi.fiber.v1.OpticalService/ListOpticalReadings",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.OpticalService/EvaluateOptical",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.OpticalService/GetOpticalThresholds",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.OpticalService/UpdateOpticalThresholds",
        Access::Roles(ADMIN_NOC),
    ),
    // Config drift: golden templates (deny rules) by ADMIN/NOC; collected configs read by operations.
    (
        "kasi.fiber.v1.ConfigService/SetGoldenTemplate",
        Access::Roles(ADMIN_NOC),
    ),
    (
        "kasi.fiber.v1.ConfigService/ListGoldenTemplates",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.ConfigService/DeleteGoldenTemplate",
        Access::Roles(ADMIN_NOC),
    ),
    (
        "kasi.fiber.v1.ConfigService/ListDeviceConfigs",
        Access::Roles(OPERATIONS),
    ),
    (
        "kasi.fiber.v1.ConfigService/GetDeviceConfig",
        Access::Roles(OPERATIONS),
    ),
    // Network operations: every role reads devices and incidents (SMME users only their
    // organization's incidents); people who work incidents move and close them.
    (
        "kasi.fiber.v1.DeviceService/CreateDevice",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.DeviceService/GetDevice",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.DeviceService/ListDevices",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.DeviceService/UpdateDevice",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.DeviceService/DeleteDevice",
        Access::Roles(ADMIN),
    ),
    (
        "kasi.fiber.v1.IncidentService/CreateIncident",
        Access::Roles(INCIDENT_OPENERS),
    ),
    (
        "kasi.fiber.v1.IncidentService/GetIncident",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.IncidentService/ListIncidents",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.IncidentService/UpdateIncident",
        Access::Roles(INCIDENT_OPENERS),
    ),
    (
        "kasi.fiber.v1.IncidentService/TransitionIncident",
        Access::Roles(INCIDENT_WORKERS),
    ),
    (
        "kasi.fiber.v1.IncidentService/AssignIncident",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.IncidentService/CloseIncident",
        Access::Roles(INCIDENT_WORKERS),
    ),
    (
        "kasi.fiber.v1.IncidentService/ListIncidentSignals",
        Access::Roles(ANY_ROLE),
    ),
    // Read-only aggregates of the caller's tenant (uptime, MTTR, repeat faults; no incident
    // rows): every role, as the dashboard of each loads it (legacy `/api/reports/ops`).
    (
        "kasi.fiber.v1.IncidentService/GetOpsReport",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.MaintenanceWindowService/CreateMaintenanceWindow",
        Access::Roles(ADMIN_PM_NOC),
    ),
    (
        "kasi.fiber.v1.MaintenanceWindowService/GetMaintenanceWindow",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.MaintenanceWindowService/ListMaintenanceWindows",
        Access::Roles(ANY_ROLE),
    ),
    (
        "kasi.fiber.v1.MaintenanceWindowService/DeleteMaintenanceWindow",
        Access::Roles(ADMIN_PM_NOC),
    ),
];

/// Request fields that make an RPC write although its callers include read-only roles: setting
/// the field needs one of these roles (`EvaluateOptical` reads, but `raise_incidents` opens
/// incidents).
const WRITING_PARTS: &[(&str, &str, &[Role])] = &[(
    "kasi.fiber.v1.OpticalService/EvaluateOptical",
    "raise_incidents",
    INCIDENT_OPENERS,
)];

/// What an account awaiting approval may call: its own profile, nothing else.
const PENDING_ACCOUNT_RPCS: &[&str] = &["kasi.fiber.v1.AuthService/Me"];

/// Whether an account awaiting an admin's approval may call `method`.
pub fn open_to_pending_accounts(method: &str) -> bool {
    PENDING_ACCOUNT_RPCS.contains(&method.strip_prefix('/').unwrap_or(method))
}

/// Refuses a caller who set `field` of `method`'s request without a role that may write it.
pub fn check_writing_part(ctx: &RequestContext, method: &str, field: &str) -> AppResult<()> {
    let Some((_, _, writers)) = WRITING_PARTS
        .iter()
        .find(|(name, part, _)| *name == method && *part == field)
    else {
        return Err(AppError::PermissionDenied(format!(
            "{method}.{field} has no declared writers"
        )));
    };
    match ctx.role() {
        Some(role) if writers.contains(&role) => Ok(()),
        role => Err(AppError::PermissionDenied(format!(
            "role {} may not set {field}",
            role.map_or("anonymous", Role::as_str)
        ))),
    }
}

/// An RPC whose access an HTTP adapter (core-API or legacy path) checks. Made only by `rpc!`,
/// which also registers the name, so the server can refuse to start when an adapter names an
/// RPC that is not served (a typo would otherwise be a route nobody could call, or worse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rpc(&'static str);

impl Rpc {
    #[doc(hidden)]
    pub const fn registered(name: &'static str) -> Self {
        Rpc(name)
    }

    pub fn name(self) -> &'static str {
        self.0
    }
}

inventory::collect!(Rpc);

/// `rpc!("PonService/ListPons")`: the RPC `kasi.fiber.v1.PonService/ListPons`, registered for
/// the start-up check.
#[macro_export]
macro_rules! rpc {
    ($name:literal) => {{
        ::inventory::submit! {
            $crate::auth::permissions::Rpc::registered(concat!("kasi.fiber.v1.", $name))
        }
        $crate::auth::permissions::Rpc::registered(concat!("kasi.fiber.v1.", $name))
    }};
}

/// Every RPC name an adapter checks access with.
pub fn adapter_rpcs() -> impl Iterator<Item = &'static str> {
    inventory::iter::<Rpc>.into_iter().map(|rpc| rpc.0)
}

/// Start-up check: every name in the permission table and every adapter's `rpc!` is an RPC
/// the server serves (`served` holds `package.Service/Method`).
pub fn check_declared_names(
    served: &HashSet<String>,
    adapters: impl IntoIterator<Item = &'static str>,
) -> anyhow::Result<()> {
    let unknown: Vec<&str> = declared_methods()
        .chain(adapters)
        .chain(WRITING_PARTS.iter().map(|(name, _, _)| *name))
        .chain(PENDING_ACCOUNT_RPCS.iter().copied())
        .filter(|name| !served.contains(*name))
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "permissions name RPCs that are not served: {unknown:?}"
    );
    Ok(())
}

/// The access declared for a method, given as `/package.Service/Method` or `package.Service/Method`.
pub fn access_for(method: &str) -> Option<Access> {
    let method = method.strip_prefix('/').unwrap_or(method);
    TABLE
        .iter()
        .find(|(name, _)| *name == method)
        .map(|(_, access)| *access)
}

/// Every declared method name (for the completeness test).
pub fn declared_methods() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every method of every service we serve, from the descriptor sets.
    fn served_methods() -> BTreeSet<String> {
        crate::server::served_rpcs().unwrap().into_iter().collect()
    }

    #[test]
    fn every_rpc_declares_its_access_and_nothing_else_is_declared() {
        let served = served_methods();
        assert!(served.len() >= 18, "descriptor sets were read: {served:?}");
        let undeclared: Vec<&String> = served
            .iter()
            .filter(|method| access_for(method).is_none())
            .collect();
        assert!(
            undeclared.is_empty(),
            "RPCs without a declared permission: {undeclared:?}"
        );
        let stale: Vec<&str> = declared_methods()
            .filter(|method| !served.contains(*method))
            .collect();
        assert!(
            stale.is_empty(),
            "permissions declared for RPCs that do not exist: {stale:?}"
        );
    }

    #[test]
    fn heavy_write_limits_name_served_rpcs() {
        let served = served_methods();
        for (method, limit) in super::super::heavy::HEAVY_WRITES {
            assert!(
                served.contains(*method),
                "heavy-write limit for unknown RPC {method}"
            );
            assert!(*limit > 0);
        }
    }

    #[test]
    fn the_start_up_check_refuses_an_adapter_name_that_is_not_served() {
        let served: HashSet<String> = served_methods().into_iter().collect();
        let registered: Vec<&str> = adapter_rpcs().collect();
        assert!(
            registered.contains(&"kasi.fiber.v1.PonService/ListPons"),
            "the adapters' rpc! names are collected: {registered:?}"
        );
        check_declared_names(&served, adapter_rpcs()).expect("every adapter name is served");
        let typo = check_declared_names(&served, ["kasi.fiber.v1.PonService/ListPon"])
            .expect_err("a typo stops the server");
        assert!(typo.to_string().contains("PonService/ListPon"), "{typo}");
    }

    #[test]
    fn read_only_roles_cannot_set_writing_parts() {
        let ctx = |role| {
            RequestContext::for_principal(crate::auth::Principal {
                user_id: None,
                tenant_id: crate::context::DEFAULT_TENANT,
                role,
                organization_id: None,
            })
        };
        let evaluate = "kasi.fiber.v1.OpticalService/EvaluateOptical";
        assert!(matches!(
            check_writing_part(&ctx(Role::Auditor), evaluate, "raise_incidents"),
            Err(AppError::PermissionDenied(_))
        ));
        assert!(check_writing_part(&ctx(Role::Noc), evaluate, "raise_incidents").is_ok());
        // An undeclared part is refused, not allowed.
        assert!(check_writing_part(&ctx(Role::Admin), evaluate, "other_flag").is_err());
        // Every role that may set a writing part may call its RPC, and none is read-only.
        for (method, _, writers) in WRITING_PARTS {
            let Some(Access::Roles(callers)) = access_for(method) else {
                panic!("{method} is not declared");
            };
            assert!(writers.iter().all(|role| callers.contains(role)));
            assert!(!writers.contains(&Role::Auditor));
        }
    }

    #[test]
    fn pending_accounts_only_read_themselves() {
        assert!(open_to_pending_accounts("/kasi.fiber.v1.AuthService/Me"));
        assert!(!open_to_pending_accounts(
            "kasi.fiber.v1.UserService/ListUsers"
        ));
        assert!(!open_to_pending_accounts(
            "kasi.fiber.v1.OrganizationService/DeleteOrganization"
        ));
    }

    #[test]
    fn lookups_accept_both_path_forms() {
        assert_eq!(
            access_for("/kasi.fiber.v1.AuthService/Login"),
            Some(Access::Public)
        );
        assert_eq!(
            access_for("kasi.fiber.v1.UserService/CreateUser"),
            Some(Access::Roles(ADMIN))
        );
        assert_eq!(access_for("/kasi.fiber.v1.PonService/Nope"), None);
    }
}
