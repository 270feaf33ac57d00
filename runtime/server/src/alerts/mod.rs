//! Alerts that reach people (docs/detection.md): raised with their event and a durable
//! delivery per webhook (`cordon_storage::alerts`), delivered by every node's sender (one node
//! per delivery at a time), signed as the Standard Webhooks specification says.
//!
//! - `settings`: `[[alerts.webhook]]` in the config file, checked at start;
//! - `sign`: the Standard Webhooks signature;
//! - `raise`: the one way an alert is made;
//! - `deliver`: the sender: claim, check the destination's addresses, POST, record.

pub mod deliver;
pub mod raise;
pub mod settings;
pub mod sign;
