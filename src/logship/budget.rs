//! The memory budget all tailers share (`logs.memory_limit`): every byte read and not yet
//! acknowledged by the sinks is charged to it, with a fixed overhead per chunk. Reading stops
//! when the budget has no room — that is the back-pressure: a sink that is down makes tailers
//! stop reading ahead instead of growing memory. Charges are guards, released when the lines
//! holding them are dropped, so nothing can forget to give memory back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::splitter::MIN_LINE;

/// Bytes charged per chunk on top of its text: the `Chunk` itself and its queue slot.
pub const CHUNK_OVERHEAD: usize = std::mem::size_of::<super::line::Chunk>() + 16;

/// Memory a read of `n` bytes can add at most when lines are cut at `max_line` bytes. Every
/// byte read ends up in one place (a run, a cut line, or the held partial line, whose earlier
/// bytes are charged already), so the text adds `n` — twice over when the read buffer (of at
/// most `n` bytes) goes along with its runs while cut lines copy. On top comes one chunk per
/// run and per cut line: at most one cut per `max_line - 3` bytes (a part may end up to 3
/// bytes short to keep a character whole), plus a line joined across reads and an
/// unterminated one, and a run between any two cuts.
pub const fn worst_case_cost(n: usize, max_line: usize) -> usize {
    let part = if max_line > 4 { max_line - 3 } else { 1 };
    let cuts = n / part + 2;
    2 * n + (2 * cuts + 1) * CHUNK_OVERHEAD
}

type Hook = Box<dyn Fn() + Send + Sync>;

/// A byte counter with a cap. Cheap to share (`Arc`); charges never block.
pub struct Budget {
    cap: usize,
    used: AtomicUsize,
    high_water: AtomicUsize,
    /// Set by the reader when it stopped for lack of room; the next release wakes it.
    reader_waiting: AtomicBool,
    on_room: OnceLock<Hook>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("cap", &self.cap)
            .field("used", &self.used())
            .finish()
    }
}

impl Budget {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            used: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            reader_waiting: AtomicBool::new(false),
            on_room: OnceLock::new(),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes ever charged at once.
    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }

    /// Bytes that may still be charged before the cap.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.used())
    }

    /// The largest read of at most `wanted` bytes whose worst-case cost still fits (0 when
    /// reading must pause).
    pub fn readable(&self, wanted: usize, max_line: usize) -> usize {
        let room = self.room();
        if worst_case_cost(wanted, max_line) <= room {
            return wanted;
        }
        // The cost grows with the size: the largest size that fits, by bisection.
        let (mut fits, mut too_big) = (0, wanted);
        while too_big - fits > 1 {
            let mid = fits + (too_big - fits) / 2;
            if worst_case_cost(mid, max_line) <= room {
                fits = mid;
            } else {
                too_big = mid;
            }
        }
        fits
    }

    /// Charges `bytes`; the returned guard gives them back when dropped. Never refuses: callers
    /// size their reads with [`Budget::readable`] first.
    pub fn charge(self: &Arc<Self>, bytes: usize) -> Charge {
        self.add(bytes);
        Charge {
            budget: Arc::clone(self),
            bytes,
        }
    }

    /// Registers what to call when room appears after the reader paused (wakes the reader).
    pub fn on_room(&self, hook: impl Fn() + Send + Sync + 'static) {
        // Only the first hook counts; a budget has one reader.
        let _ = self.on_room.set(Box::new(hook));
    }

    /// The reader paused for lack of room: the next release calls the hook.
    pub fn reader_paused(&self) {
        self.reader_waiting.store(true, Ordering::Release);
        // Room may have appeared between the reader's check and this flag.
        if self.room() >= worst_case_cost(1, MIN_LINE) {
            self.wake_reader();
        }
    }

    fn add(&self, bytes: usize) {
        let now = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.high_water.fetch_max(now, Ordering::Relaxed);
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
        if bytes > 0 {
            self.wake_reader();
        }
    }

    fn wake_reader(&self) {
        if self.reader_waiting.swap(false, Ordering::AcqRel)
            && let Some(hook) = self.on_room.get()
        {
            hook();
        }
    }
}

/// Bytes charged to a [`Budget`], released on drop.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Charge {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Changes the charge to `bytes` (a buffer that grew or shrank).
    pub fn resize(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.budget.add(bytes - self.bytes);
        } else {
            self.budget.release(self.bytes - bytes);
        }
        self.bytes = bytes;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn charges_are_released_on_drop_and_high_water_kept() {
        let budget = Budget::new(1000);
        let a = budget.charge(300);
        let mut b = budget.charge(200);
        assert_eq!(budget.used(), 500);
        b.resize(400);
        assert_eq!(budget.used(), 700);
        drop(a);
        b.resize(100);
        assert_eq!(budget.used(), 100);
        drop(b);
        assert_eq!(budget.used(), 0);
        assert_eq!(budget.high_water(), 700);
    }

    #[test]
    fn readable_leaves_room_for_the_worst_case() {
        for max_line in [4, 5, 100, 16 * 1024] {
            let budget = Budget::new(worst_case_cost(100, max_line));
            assert_eq!(budget.readable(1 << 20, max_line), 100);
            assert_eq!(budget.readable(60, max_line), 60);
            let _held = budget.charge(2);
            assert_eq!(budget.readable(1 << 20, max_line), 99);
        }
        let budget = Budget::new(worst_case_cost(1, 100) - 1);
        assert_eq!(budget.readable(1 << 20, 100), 0);
    }

    #[test]
    fn a_paused_reader_is_woken_once_by_the_next_release() {
        let budget = Budget::new(worst_case_cost(1, MIN_LINE));
        let woken = Arc::new(AtomicU32::new(0));
        let w = Arc::clone(&woken);
        budget.on_room(move || {
            w.fetch_add(1, Ordering::Relaxed);
        });
        let held = budget.charge(10);
        budget.reader_paused();
        assert_eq!(woken.load(Ordering::Relaxed), 0);
        drop(held);
        assert_eq!(woken.load(Ordering::Relaxed), 1);
        drop(budget.charge(5));
        assert_eq!(
            woken.load(Ordering::Relaxed),
            1,
            "only a paused reader is woken"
        );
    }
}
