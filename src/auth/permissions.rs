//! The permission table: every RPC's allowed roles, declared once. The gRPC guard (and so
//! grpc-web and REST, which dispatch through it) and the legacy adapters all consult it; an
//! RPC missing from it is refused, never allowed by default.

use super::Role;

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
const OPS_READERS: &[Role] = &[Role::Admin, Role::Pm, Role::Noc, Role::Auditor];

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
    (
        "kasi.fiber.v1.IncidentService/GetOpsReport",
        Access::Roles(OPS_READERS),
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
        let mut pool =
            prost_reflect::DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .unwrap();
        pool.decode_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .unwrap();
        pool.services()
            .flat_map(|service| {
                service
                    .methods()
                    .map(|method| format!("{}/{}", service.full_name(), method.name()))
                    .collect::<Vec<_>>()
            })
            .collect()
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
