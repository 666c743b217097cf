//! What a job leaves behind that anyone can check offline.
//!
//! This crate will build SLSA v1 provenance for each job, sign it as a DSSE envelope inside a
//! Sigstore bundle, pack the signed evidence bundle, keep the Merkle-tree audit log, and verify all
//! of it (`hrun verify`).
//!
//! Nothing is implemented here yet (issue #5); `hrun` exposes none of it until it is.
