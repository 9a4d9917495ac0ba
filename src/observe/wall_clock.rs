//! The host's wall clock as the agent reads it, watched for steps. Decisions compare the times
//! this host stamps (task events and rendered files from the local Nomad client, check results
//! the agent saw) with "now", so they need the wall clock; a step of it (an NTP step, an
//! operator's `date -s`) would stretch or shrink every duration measured across it. Each
//! reading compares the wall clock's progress with the monotonic clock's since the last one;
//! a difference beyond [`STEP_TOLERANCE`] is a step, and the decision core counts no duration
//! across the latest one.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A slew (NTP's gradual correction, at most 500 ppm) stays far below this between readings;
/// a step is larger.
pub const STEP_TOLERANCE: Duration = Duration::from_secs(1);

/// A step of the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// The wall-clock time of the reading that found it (after the step).
    pub seen_at: SystemTime,
    /// How far the clock jumped, and which way.
    pub jump: Jump,
    /// Steps seen so far, this one included.
    pub count: u64,
}

/// The direction and size of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jump {
    Forward(Duration),
    Back(Duration),
}

/// One reading of the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub now: SystemTime,
    /// The latest step seen, by this reading or an earlier one.
    pub last_step: Option<ClockStep>,
}

type OnStep = Box<dyn Fn(&ClockStep) + Send + Sync>;

struct Last {
    wall: SystemTime,
    mono: Instant,
    step: Option<ClockStep>,
}

/// Shared handle; clones read one clock and share its step history.
#[derive(Clone)]
pub struct WallClock {
    last: Arc<Mutex<Last>>,
    on_step: Arc<OnStep>,
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new(|_| {})
    }
}

impl WallClock {
    /// A clock that calls `on_step` once for every step it finds.
    pub fn new(on_step: impl Fn(&ClockStep) + Send + Sync + 'static) -> Self {
        Self {
            last: Arc::new(Mutex::new(Last {
                wall: SystemTime::now(),
                mono: Instant::now(),
                step: None,
            })),
            on_step: Arc::new(Box::new(on_step)),
        }
    }

    /// Reads the wall clock, noting a step since the last reading.
    pub fn read(&self) -> Reading {
        self.read_at(SystemTime::now(), Instant::now())
    }

    fn read_at(&self, wall: SystemTime, mono: Instant) -> Reading {
        let found = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            let expected = last.wall + mono.saturating_duration_since(last.mono);
            let jump = match wall.duration_since(expected) {
                Ok(ahead) => Jump::Forward(ahead),
                Err(behind) => Jump::Back(behind.duration()),
            };
            let size = match jump {
                Jump::Forward(d) | Jump::Back(d) => d,
            };
            let found = (size > STEP_TOLERANCE).then(|| ClockStep {
                seen_at: wall,
                jump,
                count: last.step.map_or(1, |s| s.count + 1),
            });
            if found.is_some() {
                last.step = found;
            }
            last.wall = wall;
            last.mono = mono;
            (found, last.step)
        };
        if let (Some(step), _) = found {
            (self.on_step)(&step);
        }
        Reading {
            now: wall,
            last_step: found.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn progress_matching_the_monotonic_clock_is_no_step() {
        let clock = WallClock::default();
        let (wall, mono) = (SystemTime::now(), Instant::now());
        clock.read_at(wall, mono);
        let later = Duration::from_secs(300);
        // A slew's worth of difference over five minutes.
        let reading = clock.read_at(wall + later + Duration::from_millis(150), mono + later);
        assert_eq!(reading.last_step, None);
    }

    #[test]
    fn a_jump_either_way_is_a_step_remembered_until_the_next() {
        let seen = Arc::new(AtomicU64::new(0));
        let clock = WallClock::new({
            let seen = seen.clone();
            move |_| {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        });
        let (wall, mono) = (SystemTime::now(), Instant::now());
        clock.read_at(wall, mono);
        let ahead = wall + Duration::from_secs(601);
        let reading = clock.read_at(ahead, mono + Duration::from_secs(1));
        let step = reading.last_step.expect("a forward step");
        assert_eq!(step.jump, Jump::Forward(Duration::from_secs(600)));
        assert_eq!((step.seen_at, step.count), (ahead, 1));
        // Later readings keep reporting it, without calling the hook again.
        let calm = clock.read_at(
            ahead + Duration::from_secs(2),
            mono + Duration::from_secs(3),
        );
        assert_eq!(calm.last_step, Some(step));
        // Two seconds after the last reading, the wall clock reads five minutes less.
        let back = ahead + Duration::from_secs(4) - Duration::from_secs(300);
        let reading = clock.read_at(back, mono + Duration::from_secs(5));
        let step = reading.last_step.expect("a backward step");
        assert_eq!(step.jump, Jump::Back(Duration::from_secs(300)));
        assert_eq!(step.count, 2);
        assert_eq!(seen.load(Ordering::Relaxed), 2);
    }
}
