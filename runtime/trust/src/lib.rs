//! Signed tool components.
//!
//! A signed component carries, as its last top-level section, a custom section named
//! `cordon-signature`: an ed25519 signature over a statement that binds the sha256 of every byte
//! before that section, the tool's name and version, the signer's public key and the signing
//! time. `docs/signing.md` gives the format byte by byte.
//!
//! [`verify`] checks all of it against a [`TrustStore`] without parsing the component as wasm:
//! nothing is compiled before the signature, the key and the publisher have been accepted.
//!
//! [`Signed`] statements are what a server signs with its log key: checkpoints of its audit log
//! and the batches of records that [`Receipt`]s of executions are proven against
//! (`docs/audit.md`).

mod error;
mod keys;
mod receipt;
mod section;
mod signed;
mod statement;
mod store;
mod verify;

pub use error::{KeyError, Rejection, StoreError};
pub use keys::{KeyId, PrivateKey};
pub use receipt::{Batch, MAX_BATCH_RECORDS, Receipt, ReceiptError, SignedBatch};
pub use section::{SignatureSection, find_signature, sign_component};
pub use signed::{Checkpoint, Signed, SignedError};
pub use statement::{MAX_SIGNED_AT, Statement};
pub use store::TrustStore;
pub use verify::{Verified, check_describe, verify};
