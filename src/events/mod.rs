//! API Gateway's Lambda payloads as serde types.
//!
//! * [`authorizer`] — what a custom (Lambda) authorizer receives (TOKEN 1.0,
//!   REQUEST 1.0, REQUEST 2.0) and answers (an IAM policy, or the 2.0 simple
//!   response).
//!
//! Every type reads and writes the keys API Gateway sends, in API Gateway's
//! casing, accepts whatever AWS may omit, and is `#[non_exhaustive]`: build
//! one with `Default::default()` and set its public fields, or with its
//! constructors.

pub mod authorizer;
