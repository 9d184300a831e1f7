//! Per-endpoint state machines, clock-free: passive ejection ([`Passive`]) and active health
//! ([`Health`]). Both take `now` from the caller.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Ejection, HealthCheck};

/// Passive-ejection state of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Passive {
    /// Connect failures since the last success.
    pub(crate) consecutive_failures: u32,
    /// End of the current or last ejection.
    pub(crate) ejected_until: Option<Instant>,
    /// Length of the last ejection; `None` when not on probation.
    last_period: Option<Duration>,
}

/// What a recorded outcome changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Nothing visible changed.
    None,
    /// The endpoint was ejected for this long.
    Ejected(Duration),
    /// The endpoint is usable again (a success ended an ejection or probation).
    Recovered,
}

impl Passive {
    /// Whether the endpoint is ejected at `now`.
    pub(crate) fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| now < until)
    }

    /// Records a connect failure at `now`; without `cfg` only counts it.
    pub(crate) fn on_failure(&mut self, cfg: Option<&Ejection>, now: Instant) -> Transition {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let Some(cfg) = cfg else {
            return Transition::None;
        };
        if self.is_ejected(now) {
            return Transition::None;
        }
        let period = match self.last_period {
            // On probation after an ejection: one failure ejects again, for twice as long.
            Some(last) => last.saturating_mul(2).min(cfg.max_time),
            None if self.consecutive_failures >= cfg.consecutive_failures.get() => cfg.base_time,
            None => return Transition::None,
        };
        self.ejected_until = Some(now + period);
        self.last_period = Some(period);
        Transition::Ejected(period)
    }

    /// Records a successful connect at `now`.
    pub(crate) fn on_success(&mut self, now: Instant) -> Transition {
        self.consecutive_failures = 0;
        let was_out = self.is_ejected(now) || self.last_period.is_some();
        self.last_period = None;
        if self.is_ejected(now) {
            // A connect succeeded in panic mode: the endpoint is evidently back.
            self.ejected_until = Some(now);
        }
        if was_out {
            Transition::Recovered
        } else {
            Transition::None
        }
    }
}

/// Active health of one endpoint. Endpoints start up (like HAProxy), so enabling checks never
/// black-holes traffic until the first round completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) up: bool,
    /// Consecutive probe results opposite to `up` (successes while down, failures while up).
    streak: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            up: true,
            streak: 0,
        }
    }
}

impl Health {
    /// Records one probe result; returns `Some(new_state)` when the endpoint flipped.
    pub(crate) fn on_probe(&mut self, cfg: &HealthCheck, ok: bool) -> Option<bool> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak = self.streak.saturating_add(1);
        let needed = if self.up { cfg.fall } else { cfg.rise };
        if self.streak >= needed.get() {
            self.up = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn ej() -> Ejection {
        Ejection {
            consecutive_failures: NonZeroU32::new(3).unwrap(),
            base_time: Duration::from_secs(10),
            max_time: Duration::from_secs(35),
        }
    }

    #[test]
    fn ejects_after_consecutive_failures_and_doubles_on_probation() {
        let cfg = ej();
        let t0 = Instant::now();
        let mut p = Passive::default();
        assert_eq!(p.on_failure(Some(&cfg), t0), Transition::None);
        assert_eq!(p.on_failure(Some(&cfg), t0), Transition::None);
        assert_eq!(
            p.on_failure(Some(&cfg), t0),
            Transition::Ejected(Duration::from_secs(10))
        );
        assert!(p.is_ejected(t0 + Duration::from_secs(9)));
        assert!(!p.is_ejected(t0 + Duration::from_secs(10)));
        // Failures during the ejection (panic-mode attempts) do not extend it.
        assert_eq!(p.on_failure(Some(&cfg), t0), Transition::None);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(
            p.on_failure(Some(&cfg), t1),
            Transition::Ejected(Duration::from_secs(20))
        );
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(
            p.on_failure(Some(&cfg), t2),
            Transition::Ejected(Duration::from_secs(35)),
            "capped at max_time"
        );
        let t3 = t2 + Duration::from_secs(35);
        assert_eq!(p.on_success(t3), Transition::Recovered);
        assert!(!p.is_ejected(t3));
        // Probation over: the count starts again from zero and the period from base.
        assert_eq!(p.on_failure(Some(&cfg), t3), Transition::None);
        assert_eq!(p.on_failure(Some(&cfg), t3), Transition::None);
        assert_eq!(
            p.on_failure(Some(&cfg), t3),
            Transition::Ejected(Duration::from_secs(10))
        );
    }

    #[test]
    fn success_resets_the_count() {
        let cfg = ej();
        let t = Instant::now();
        let mut p = Passive::default();
        p.on_failure(Some(&cfg), t);
        p.on_failure(Some(&cfg), t);
        assert_eq!(p.on_success(t), Transition::None);
        assert_eq!(p.on_failure(Some(&cfg), t), Transition::None);
        assert!(!p.is_ejected(t));
    }

    #[test]
    fn health_needs_fall_failures_and_rise_successes() {
        let cfg = HealthCheck {
            rise: NonZeroU32::new(2).unwrap(),
            fall: NonZeroU32::new(3).unwrap(),
            ..HealthCheck::default()
        };
        let mut h = Health::default();
        assert!(h.up);
        assert_eq!(h.on_probe(&cfg, false), None);
        assert_eq!(h.on_probe(&cfg, false), None);
        assert_eq!(h.on_probe(&cfg, true), None, "a success breaks the streak");
        assert_eq!(h.on_probe(&cfg, false), None);
        assert_eq!(h.on_probe(&cfg, false), None);
        assert_eq!(h.on_probe(&cfg, false), Some(false));
        assert_eq!(h.on_probe(&cfg, true), None);
        assert_eq!(h.on_probe(&cfg, false), None);
        assert_eq!(h.on_probe(&cfg, true), None);
        assert_eq!(h.on_probe(&cfg, true), Some(true));
    }
}
