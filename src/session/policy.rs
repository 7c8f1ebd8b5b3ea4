//! Timing policies of the session: the outgoing token bucket and the reconnect backoff
//! (DECISIONS.md "Keepalive, reconnect, rate"). Pure arithmetic over a caller-supplied clock in
//! milliseconds, so they are tested with a fake clock.

/// Outgoing rate limit: at most `lines` chat lines per `per_ms` milliseconds, with bursts up to
/// `lines` (DECISIONS.md "Keepalive, reconnect, rate" 3). Default 5 lines per 3 s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Bucket size and lines per window.
    pub lines: u32,
    /// Window length in milliseconds.
    pub per_ms: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            lines: 5,
            per_ms: 3000,
        }
    }
}

/// A token bucket refilled continuously at `lines / per_ms`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    /// Tokens available, scaled by `per_ms` so refill stays in integers.
    scaled: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at time `now_ms` (any millisecond clock, the same for every call of this
    /// bucket; the [`Session`](super::Session) passes its Unix-epoch milliseconds). A limit of
    /// zero lines or a zero window is treated as one line per window, so the bucket can never
    /// lock up.
    pub fn new(limit: RateLimit, now_ms: u64) -> Self {
        let limit = RateLimit {
            lines: limit.lines.max(1),
            per_ms: limit.per_ms.max(1),
        };
        TokenBucket {
            scaled: u64::from(limit.lines).saturating_mul(limit.per_ms),
            limit,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        let cap = u64::from(self.limit.lines).saturating_mul(self.limit.per_ms);
        self.scaled = self
            .scaled
            .saturating_add(elapsed.saturating_mul(u64::from(self.limit.lines)))
            .min(cap);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Take one token if there is one.
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.scaled >= self.limit.per_ms {
            self.scaled -= self.limit.per_ms;
            true
        } else {
            false
        }
    }

    /// When the next token will be available (now if one is).
    pub fn next_token_at(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        if self.scaled >= self.limit.per_ms {
            return now_ms;
        }
        let missing = self.limit.per_ms - self.scaled;
        let per_token_ms = u64::from(self.limit.lines);
        now_ms.saturating_add(missing.div_ceil(per_token_ms))
    }
}

/// Reconnect backoff: exponential with full jitter (DECISIONS.md "Keepalive, reconnect, rate" 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// Upper bound of the first delay (the first attempt happens within this many ms).
    pub min_delay_ms: u64,
    /// Cap of the delay.
    pub max_delay_ms: u64,
    /// Growth factor per attempt.
    pub factor: f64,
    /// Give up after this many attempts in a row; `None` retries forever.
    pub max_retries: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            min_delay_ms: 1000,
            max_delay_ms: 30_000,
            factor: 2.0,
            max_retries: None,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt number `attempt` (1-based), given a uniform random `unit` in
    /// `[0, 1)`: full jitter, `unit * min(max, min * factor^(attempt-1))`. `None` when the
    /// retries are used up.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> Option<u64> {
        if self.max_retries.is_some_and(|max| attempt > max) {
            return None;
        }
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let exp = factor.powi(attempt.saturating_sub(1).min(64) as i32);
        let ceiling = (self.min_delay_ms.max(1) as f64 * exp).min(self.max_delay_ms.max(1) as f64);
        let unit = if (0.0..1.0).contains(&unit) {
            unit
        } else {
            0.5
        };
        Some((ceiling * unit) as u64)
    }
}

/// A small deterministic PRNG (xorshift64*) for jitter and session ids; seeded by the caller
/// (the web layer seeds it from `crypto.getRandomValues` or `Math.random`).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from any seed (zero is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn bucket_allows_a_burst_then_paces() {
        let mut b = TokenBucket::new(RateLimit::default(), 0);
        for _ in 0..5 {
            assert!(b.try_take(0));
        }
        assert!(!b.try_take(0));
        assert_eq!(b.next_token_at(0), 600); // 3000 ms / 5 lines
        assert!(!b.try_take(599));
        assert!(b.try_take(600));
        // Refill never exceeds the bucket size.
        assert_eq!(b.next_token_at(1_000_000), 1_000_000);
        for _ in 0..5 {
            assert!(b.try_take(1_000_000));
        }
        assert!(!b.try_take(1_000_000));
    }

    #[test]
    fn bucket_rate_over_a_long_run_is_the_limit() {
        let mut b = TokenBucket::new(
            RateLimit {
                lines: 5,
                per_ms: 3000,
            },
            0,
        );
        let mut sent = 0;
        for t in (0..=60_000).step_by(10) {
            while b.try_take(t) {
                sent += 1;
            }
        }
        // 5 burst + 60 s at 5/3 s = 105.
        assert_eq!(sent, 105);
    }

    #[test]
    fn zero_limits_do_not_lock_up() {
        let mut b = TokenBucket::new(
            RateLimit {
                lines: 0,
                per_ms: 0,
            },
            0,
        );
        assert!(b.try_take(0));
        assert!(b.try_take(1));
    }

    #[test]
    fn backoff_grows_caps_and_gives_up() {
        let p = ReconnectPolicy {
            max_retries: Some(5),
            ..ReconnectPolicy::default()
        };
        assert_eq!(p.delay_ms(1, 0.999_999), Some(999));
        assert_eq!(p.delay_ms(2, 0.5), Some(1000));
        assert_eq!(p.delay_ms(5, 0.5), Some(8000));
        assert_eq!(p.delay_ms(5, 0.0), Some(0));
        assert_eq!(p.delay_ms(6, 0.5), None);
        let forever = ReconnectPolicy::default();
        assert_eq!(forever.delay_ms(1000, 0.5), Some(15_000));
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(0);
        let mean = (0..10_000).map(|_| r.unit()).sum::<f64>() / 10_000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }
}
