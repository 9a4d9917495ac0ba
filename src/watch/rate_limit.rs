//! [`TokenBucket`]: the small rate limiter in front of every blocking-query call, so that
//! a server answering at once (index churn, errors that skip the backoff) cannot drive a
//! watch into a hot loop.

use std::time::Duration;

use tokio::time::{Instant, sleep};

/// A token bucket holding up to `burst` tokens, refilled at `per_second`.
#[derive(Debug)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket. `per_second` must be positive; `burst` at least 1.
    pub fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            per_second: per_second.max(f64::MIN_POSITIVE),
            tokens: burst,
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token, waiting for it when the bucket is empty.
    pub async fn acquire(&mut self) {
        self.refill();
        if self.tokens < 1.0 {
            let missing = 1.0 - self.tokens;
            sleep(Duration::from_secs_f64(missing / self.per_second)).await;
            self.refill();
        }
        // After the sleep the bucket holds one token, give or take float rounding.
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 2.0);
        for _ in 0..3 {
            bucket.acquire().await;
        }
        assert_eq!(Instant::now(), start, "the burst is free");
        for _ in 0..4 {
            bucket.acquire().await;
        }
        // Four more tokens at 2 per second.
        let elapsed = Instant::now() - start;
        assert!(
            (Duration::from_millis(1990)..=Duration::from_millis(2010)).contains(&elapsed),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refills_up_to_the_burst_only() {
        let mut bucket = TokenBucket::new(2, 1.0);
        bucket.acquire().await;
        bucket.acquire().await;
        sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        bucket.acquire().await;
        bucket.acquire().await;
        assert_eq!(Instant::now(), start);
        bucket.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }
}
