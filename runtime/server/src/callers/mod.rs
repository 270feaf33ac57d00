//! Who calls and what they may use: the caller a request carries (an API key, held in memory
//! and reloaded; a token from a configured issuer; or a client certificate), the server as an OAuth protected
//! resource, the address a request comes from, rate limits and failed-authentication budgets,
//! quotas, and the refusals counted for the console.

pub mod auth;
pub mod caller;
pub mod client_ip;
pub mod keycache;
pub mod mtls;
pub mod oidc;
pub mod quota;
pub mod ratelimit;
pub mod refusals;
pub mod resource;
pub mod sessions;
