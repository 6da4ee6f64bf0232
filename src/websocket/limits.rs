//! API Gateway's WebSocket limits, configurable.

use std::time::Duration;

use crate::throttle::Limit;

/// Close codes the gateway sends.
pub(crate) mod close {
    /// Normal closure (`DELETE @connections/{id}`).
    pub(crate) const NORMAL: u16 = 1000;
    /// Going away: idle timeout, lifetime reached, server shutdown.
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// Unsupported data: a binary frame where binary frames are not enabled.
    pub(crate) const UNSUPPORTED_DATA: u16 = 1003;
    /// No status received (a client's close frame without a code).
    pub(crate) const NO_STATUS: u16 = 1005;
    /// Abnormal closure (the TCP connection dropped).
    pub(crate) const ABNORMAL: u16 = 1006;
    /// Message too big.
    pub(crate) const TOO_BIG: u16 = 1009;
}

/// The limits of every connection. Defaults are API Gateway's quotas.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) idle_timeout: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) frame_rate: Option<Limit>,
    pub(crate) binary_frames: bool,
    pub(crate) integration_timeout: Duration,
    pub(crate) outbound_queue: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) read_buffer_size: usize,
}

/// Default idle timeout: 10 minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default maximum connection lifetime: 2 hours.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(7200);
/// Default maximum message size: 128 KiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 128 * 1024;
/// Default read buffer per connection: 8 KiB.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 8 * 1024;
/// Default maximum frame size: 32 KiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 32 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            frame_rate: None,
            binary_frames: false,
            integration_timeout: crate::integration::DEFAULT_TIMEOUT,
            outbound_queue: 256,
            max_in_flight: 16,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
        }
    }
}
