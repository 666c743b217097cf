//! What a job leaves behind that anyone can check offline.
//!
//! For every job, Hermetic Runner writes an in-toto Statement v1 with SLSA v1 provenance whose
//! subjects are the job's artifacts ([`slsa`], [`statement`]), signs it as a DSSE envelope
//! ([`dsse`]) inside a Sigstore bundle v0.3 ([`bundle`]) with a key of [`keys`], packs the signed
//! provenance with the job's logs, result and reports into a deterministic `evidence.tar`
//! ([`evidence`]) whose manifest is signed too, and appends every event to an append-only
//! Merkle-tree audit log ([`audit`]) with signed checkpoints. A [`receipt`] of each job's evidence
//! may travel with the source commit as a git note. [`verify`] checks all of it. A rebuild of a
//! job (`hrun rebuild`) adds a signed [`reproducibility`] attestation to its own evidence bundle.
//!
//! ```
//! use provenance::bundle::Bundle;
//! use provenance::dsse::IN_TOTO_PAYLOAD_TYPE;
//! use provenance::keys::{KeyKind, SigningKey};
//!
//! let key = SigningKey::generate(KeyKind::P256);
//! let bundle = Bundle::sign(&key, IN_TOTO_PAYLOAD_TYPE, br#"{"_type":"..."}"#);
//! let payload = bundle.verify(&key.public(), IN_TOTO_PAYLOAD_TYPE).unwrap();
//! assert_eq!(payload, br#"{"_type":"..."}"#);
//! ```
//!
//! Must never: hold a private key anywhere but in the runner's memory and its 0600 key file,
//! or write a value it does not know (what has not been measured is `null`, under its name).

pub mod audit;
pub mod bundle;
pub mod digest;
pub mod dsse;
pub mod evidence;
pub mod keys;
pub mod receipt;
pub mod reproducibility;
pub mod slsa;
pub mod statement;
pub mod verify;
