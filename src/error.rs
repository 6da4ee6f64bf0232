//! The error every builder's `build()` returns.

use std::borrow::Cow;

/// A configuration that cannot serve: returned by every builder's `build()`
/// and every `…Config` conversion, before any request is handled.
///
/// The message names the setting and what is wrong with it; it never contains
/// secret values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid apigw configuration: {message}")]
pub struct ConfigError {
    message: Cow<'static, str>,
}

impl ConfigError {
    /// A configuration error with the given explanation.
    #[must_use]
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The explanation.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}
