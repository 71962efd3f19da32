//! Code generated from `proto/` and the encoded descriptor set that reflection,
//! the REST transcoder and the OpenAPI document are driven by.

#![allow(clippy::all, clippy::pedantic)]

pub mod kasi {
    pub mod fiber {
        pub mod v1 {
            tonic::include_proto!("kasi.fiber.v1");
        }
    }
}

pub mod google {
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

pub use kasi::fiber::v1;

/// Every file of our protos and their imports, as a `FileDescriptorSet`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("kasi_descriptor");
