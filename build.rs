//! Compiles the protos in `proto/` into tonic/prost code and a descriptor set (for
//! reflection, REST transcoding and OpenAPI), using the vendored protoc.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/kasi/fiber/v1/pons.proto",
    "proto/kasi/fiber/v1/identity.proto",
    "proto/kasi/fiber/v1/audit.proto",
    "proto/kasi/fiber/v1/organizations.proto",
    "proto/kasi/fiber/v1/tasks.proto",
    "proto/kasi/fiber/v1/stringing.proto",
    "proto/kasi/fiber/v1/reports.proto",
    "proto/kasi/fiber/v1/photos.proto",
    "proto/kasi/fiber/v1/spares.proto",
    "proto/kasi/fiber/v1/optical.proto",
    "proto/kasi/fiber/v1/configs.proto",
    "proto/kasi/fiber/v1/devices.proto",
    "proto/kasi/fiber/v1/incidents.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: build scripts are single-threaded at this point.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let well_known = protoc_bin_vendored::include_path()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("kasi_descriptor.bin"))
        .compile_protos(
            &PROTOS.iter().map(PathBuf::from).collect::<Vec<_>>(),
            &[PathBuf::from("proto"), well_known],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
