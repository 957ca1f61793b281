//! Probes: is the site up, fast, and serving the right certificate.

pub mod http;
