//! Where a sealed session's spans go: encoded once as an OTLP request (`encode`), then
//! written ahead to the disk buffer and delivered under one deadline (`delivery`,
//! `transport` over `wire`, `tls`, `buffer`, `outage`), or captured for a test (`capture`). Each is a
//! [`crate::collect::session::Sink`]. Depends on `collect` only.

pub mod buffer;
pub(crate) mod capture;
pub(crate) mod delivery;
pub(crate) mod encode;
pub(crate) mod endpoint;
pub(crate) mod outage;
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod wire;
