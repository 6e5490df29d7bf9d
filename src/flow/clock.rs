//! The flow clock: wall time when capturing live, packet time when reading a file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::key::Nanos;

/// What "now" means to the flow table's timeouts.
#[derive(Clone, Debug)]
pub enum Clock {
    /// Live capture: the system clock.
    Wall,
    /// Offline input: the timestamp of the latest packet read, so a 2-minute capture ends
    /// its flows exactly as live capture would, however fast it is read.
    Packet(Arc<AtomicU64>),
}

impl Clock {
    /// A packet clock at 0, advanced by the reader with [`Clock::advance`].
    pub fn packet() -> Clock {
        Clock::Packet(Arc::new(AtomicU64::new(0)))
    }

    pub fn now(&self) -> Nanos {
        match self {
            Clock::Wall => wall_now(),
            Clock::Packet(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Moves a packet clock forward to `t` (never backwards: captures can hold slightly
    /// out-of-order timestamps). A no-op on the wall clock.
    #[inline]
    pub fn advance(&self, t: Nanos) {
        if let Clock::Packet(c) = self {
            if t > c.load(Ordering::Relaxed) {
                c.store(t, Ordering::Relaxed);
            }
        }
    }
}

/// The system clock as [`Nanos`].
pub fn wall_now() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as Nanos)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_clock_only_moves_forward() {
        let c = Clock::packet();
        c.advance(10);
        c.advance(5);
        assert_eq!(c.now(), 10);
        assert!(Clock::Wall.now() > 1_600_000_000 * 1_000_000_000);
    }
}
