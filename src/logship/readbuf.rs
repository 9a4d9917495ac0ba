//! The reader's read buffer, and the pool its buffers come back to. A large read is handed over
//! whole: the chunks cut from it are slices of the buffer, so the bulk of a log is never copied
//! in user space, and once every slice was acknowledged and dropped the buffer returns to the
//! pool instead of being freed and faulted in again for the next read.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Free buffers kept for reuse (each [`ReadBuffer::SIZE`] bytes); more are freed.
const KEEP: usize = 32;

#[derive(Debug, Default)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        let reused = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        reused.unwrap_or_else(|| vec![0; ReadBuffer::SIZE])
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < KEEP {
            free.push(buf);
        }
    }

    /// Buffers waiting for reuse.
    pub fn idle(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A buffer handed over with `len` bytes read into it; back to its pool when dropped.
struct Filled {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Filled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Filled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

/// The buffer the reader reads into, one read at a time.
#[derive(Debug)]
pub struct ReadBuffer {
    pool: Arc<BufferPool>,
    current: Vec<u8>,
}

impl ReadBuffer {
    /// Bytes one read can fill.
    pub const SIZE: usize = 64 * 1024;

    pub fn new(pool: Arc<BufferPool>) -> Self {
        let current = pool.take();
        Self { pool, current }
    }

    /// Room for the next read.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.current
    }

    /// The first `len` bytes of the buffer.
    pub fn filled(&self, len: usize) -> &[u8] {
        &self.current[..len.min(self.current.len())]
    }

    /// The first `len` bytes of the buffer as shared bytes; the buffer goes with them (the
    /// allocation stays whole until every slice of it is dropped) and a fresh one takes its
    /// place.
    pub fn hand_over(&mut self, len: usize) -> Bytes {
        let buf = std::mem::replace(&mut self.current, self.pool.take());
        Bytes::from_owner(Filled {
            len: len.min(buf.len()),
            buf,
            pool: Arc::clone(&self.pool),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_over_buffer_returns_to_the_pool_once_every_slice_is_dropped() {
        let pool = Arc::new(BufferPool::default());
        let mut reader = ReadBuffer::new(Arc::clone(&pool));
        reader.space()[..5].copy_from_slice(b"ab\ncd");
        let whole = reader.hand_over(5);
        assert_eq!(&whole[..], b"ab\ncd");
        let first = whole.slice(0..3);
        drop(whole);
        assert_eq!(pool.idle(), 0);
        assert_eq!(&first[..], b"ab\n");
        drop(first);
        assert_eq!(pool.idle(), 1);
        // The next hand-over's replacement is the returned buffer.
        drop(reader.hand_over(0));
        assert_eq!(pool.idle(), 1);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let pool = Arc::new(BufferPool::default());
        let mut reader = ReadBuffer::new(Arc::clone(&pool));
        let held: Vec<Bytes> = (0..KEEP + 10).map(|_| reader.hand_over(1)).collect();
        drop(held);
        assert_eq!(pool.idle(), KEEP);
    }
}
