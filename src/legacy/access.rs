//! The legacy permission table: which permission (an RPC of the one table in
//! `auth::permissions`) each `/api/...` route checks, and why each role may or may not call it.
//! Roles: ADMIN, PM (`project_manager`), SITE (`site_manager`), SMME, AUDITOR, NOC.

use crate::auth::permissions::Rpc;
use crate::rpc;

// ---- /api/auth (register and login are public) ----

/// `GET /api/auth/user`: every role reads its own profile (the client's start-up call).
pub const AUTH_USER: Rpc = rpc!("AuthService/Me");

// ---- /api/users ----

/// `GET /api/users`: ADMIN and PM pick assignees from it (as Express allowed); SITE, SMME,
/// AUDITOR and NOC have no screen that lists people.
pub const USERS_LIST: Rpc = rpc!("UserService/ListUsers");
/// `GET /api/users/:id`: every role (Express let any user read any user of the tenant).
pub const USERS_READ: Rpc = rpc!("UserService/GetUser");
/// `PUT /api/users/:id`: every role edits its own profile; the service lets only ADMIN edit
/// others.
pub const USERS_UPDATE: Rpc = rpc!("UserService/UpdateUser");

// ---- /api/pons ----

/// `GET /api/pons` (PON list): every role; the service shows each role the PONs it works on.
pub const PONS_LIST: Rpc = rpc!("PonService/ListPons");
/// `GET /api/pons/:id` (PON detail) and `PUT /api/pons/:id/progress` (a recompute that changes
/// no input): every role, scoped like the list.
pub const PONS_READ: Rpc = rpc!("PonService/GetPon");
/// `POST /api/pons`: ADMIN and PM plan PONs (as Express); the other roles build or watch them.
pub const PONS_CREATE: Rpc = rpc!("PonService/CreatePon");
/// `PUT /api/pons/:id`: ADMIN and the PON's PM (as Express).
pub const PONS_UPDATE: Rpc = rpc!("PonService/UpdatePon");
/// `DELETE /api/pons/:id`: ADMIN and the PON's PM (as Express).
pub const PONS_DELETE: Rpc = rpc!("PonService/DeletePon");

// ---- /api/tasks ----

/// `GET /api/tasks` (task list): every role, each seeing the tasks of its PONs (SMME: its
/// organization's).
pub const TASKS_LIST: Rpc = rpc!("TaskService/ListTasks");
/// `POST /api/tasks`: ADMIN, PM and SITE (site managers split their work; Express allowed only
/// ADMIN and PM); SMME, AUDITOR and NOC do not plan work.
pub const TASKS_CREATE: Rpc = rpc!("TaskService/CreateTask");
/// `PUT /api/tasks/:id/status` and `PATCH /api/tasks/:id`: ADMIN, PM and SITE move tasks (the
/// service also checks assignee or creator); AUDITOR is read-only, NOC works incidents, SMME
/// progress shows through their evidence photos.
pub const TASKS_MOVE: Rpc = rpc!("TaskService/TransitionTask");

// ---- /api/reports ----

/// `GET /api/reports/dashboard`: every role; counts over what the caller may read.
pub const REPORTS_DASHBOARD: Rpc = rpc!("ReportService/GetDashboard");
/// `GET /api/reports/ops`: every role (the dashboard loads it with the counts, and Express
/// served any signed-in user); read-only aggregates of the caller's tenant, no incident rows.
pub const REPORTS_OPS: Rpc = rpc!("IncidentService/GetOpsReport");
/// `GET /api/reports/pons`: every role, scoped like the PON list.
pub const REPORTS_PONS: Rpc = rpc!("ReportService/ListPonReports");
/// `GET /api/reports/tasks`: every role, scoped like the task list.
pub const REPORTS_TASKS: Rpc = rpc!("ReportService/ListTaskReports");
/// `GET /api/reports/export/:type`: every role, scoped like the PON list.
pub const REPORTS_EXPORT: Rpc = rpc!("ReportService/ExportPons");

// ---- /api/photos ----

/// `POST /api/photos/upload/:taskId`: the field roles ADMIN, PM, SITE and SMME take evidence;
/// AUDITOR and NOC do not work tasks.
pub const PHOTOS_UPLOAD: Rpc = rpc!("PhotoService/UploadPhoto");
/// `GET /api/photos/task/:taskId`: every role that may read the task.
pub const PHOTOS_LIST: Rpc = rpc!("PhotoService/ListPhotos");
/// `GET /uploads/:file`: every role that may read the photo's task.
pub const PHOTOS_FILE: Rpc = rpc!("PhotoService/GetPhotoDownloadUrl");

// ---- /api/cac ----

/// `POST /api/cac`: ADMIN, PM and SITE accept work; SMME may not certify its own work, AUDITOR
/// and NOC do not accept work.
pub const CAC_CREATE: Rpc = rpc!("CertificateService/CreateCertificate");
/// `GET /api/cac`: ADMIN, PM, SITE and AUDITOR (oversight); SMME and NOC do not read
/// acceptance records.
pub const CAC_LIST: Rpc = rpc!("CertificateService/ListCertificates");

// ---- /api/optics ----

/// `POST /api/optics/ingest`: the measurers ADMIN, PM, SITE and NOC; AUDITOR is read-only and
/// SMME readings come through the field crews' managers.
pub const OPTICS_INGEST: Rpc = rpc!("OpticalService/IngestOpticalReadings");
/// `GET /api/optics` (PON detail): every role but SMME (network-operations records stay with
/// the operator; a deliberate difference from Express, listed in the README).
pub const OPTICS_LIST: Rpc = rpc!("OpticalService/ListOpticalReadings");
/// `POST /api/optics/evaluate`: every role but SMME, as the list (it only reads).
pub const OPTICS_EVALUATE: Rpc = rpc!("OpticalService/EvaluateOptical");

// ---- /api/devices ----

/// `GET /api/devices`: every role.
pub const DEVICES_LIST: Rpc = rpc!("DeviceService/ListDevices");
/// `GET /api/devices/:id`: every role.
pub const DEVICES_READ: Rpc = rpc!("DeviceService/GetDevice");
/// `POST /api/devices`: ADMIN, PM (as Express) and NOC, who run the network.
pub const DEVICES_CREATE: Rpc = rpc!("DeviceService/CreateDevice");
/// `PUT /api/devices/:id`: ADMIN, PM (as Express) and NOC.
pub const DEVICES_UPDATE: Rpc = rpc!("DeviceService/UpdateDevice");
/// `DELETE /api/devices/:id`: ADMIN only (as Express).
pub const DEVICES_DELETE: Rpc = rpc!("DeviceService/DeleteDevice");

// ---- /api/incidents ----

/// `GET /api/incidents` (PON detail): every role (SMME: its organization's incidents).
pub const INCIDENTS_LIST: Rpc = rpc!("IncidentService/ListIncidents");
/// Reading one incident (before a change): every role, scoped like the list.
pub const INCIDENTS_READ: Rpc = rpc!("IncidentService/GetIncident");
/// `POST /api/incidents`: ADMIN, PM, SITE and NOC open incidents; AUDITOR is read-only and
/// SMME crews are routed incidents rather than opening them.
pub const INCIDENTS_CREATE: Rpc = rpc!("IncidentService/CreateIncident");
/// `PATCH /api/incidents/:id` with a `status`: the people who work incidents (ADMIN, PM, SITE,
/// NOC and SMME crews); AUDITOR is read-only (Express let any role change anything).
pub const INCIDENTS_MOVE: Rpc = rpc!("IncidentService/TransitionIncident");
/// `PATCH /api/incidents/:id` with descriptive fields: those who open incidents.
pub const INCIDENTS_UPDATE: Rpc = rpc!("IncidentService/UpdateIncident");
/// `POST /api/incidents/:id/close`: the people who work incidents; AUDITOR is read-only.
pub const INCIDENTS_CLOSE: Rpc = rpc!("IncidentService/CloseIncident");
