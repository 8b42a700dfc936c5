//! Fault injection for testing applications (`--dev` only; docs/FAULTS.md):
//! chosen calls fail with a chosen AWS exception, at a rate or for the next
//! N calls, or are slowed down. The API asks [`Faults::pick`] for every
//! authenticated call once any fault is set, before the call runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::model::{FaultEntry, SetFaultRequest};

/// The exceptions a fault can answer.
pub const FAULT_ERRORS: &[&str] = &[
    "ThrottlingException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "KMSInvalidStateException",
];

/// What a picked fault does to a call.
#[derive(Debug)]
pub struct Injected {
    pub fault_id: String,
    pub latency_ms: u64,
    /// The exception (name) to answer, after the latency; `None`: the call runs.
    pub error: Option<&'static str>,
}

impl Injected {
    /// The domain error of the fault's exception.
    pub fn into_error(&self) -> Option<Error> {
        let msg = || format!("Injected fault {}.", self.fault_id);
        Some(match self.error? {
            "ThrottlingException" => Error::Throttling,
            "KMSInternalException" => Error::Internal(msg()),
            "DependencyTimeoutException" => Error::DependencyTimeout(msg()),
            "KeyUnavailableException" => Error::KeyUnavailable(msg()),
            _ => Error::InvalidState(msg()),
        })
    }
}

#[derive(Default)]
pub struct Faults {
    active: AtomicBool,
    list: Mutex<Vec<FaultEntry>>,
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("the fault list lock was poisoned")
}

impl Faults {
    /// Whether any fault is set (the hot path's only cost otherwise).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn set(&self, req: SetFaultRequest) -> Result<String> {
        let error = match req.error.as_deref() {
            None => None,
            Some(e) => Some(FAULT_ERRORS.iter().find(|x| **x == e).copied().ok_or_else(|| {
                Error::Validation(format!("Error '{e}' is not one of: {}.", FAULT_ERRORS.join(", ")))
            })?),
        };
        if let Some(op) = &req.operation {
            if crate::model::Operation::from_name(op).is_none() {
                return Err(Error::Validation(format!("Operation '{op}' is not a KMS operation.")));
            }
        }
        let rate = req.rate.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&rate) {
            return Err(Error::Validation("Rate must be between 0 and 1.".into()));
        }
        let latency_ms = req.latency_ms.unwrap_or(0);
        if latency_ms > 60_000 {
            return Err(Error::Validation("LatencyMs must be at most 60000.".into()));
        }
        if error.is_none() && latency_ms == 0 {
            return Err(Error::Validation("A fault needs an Error, a LatencyMs, or both.".into()));
        }
        let mut raw = [0u8; 8];
        crate::crypto::fill_random(&mut raw)?;
        let id = format!("fault-{}", crate::crypto::hex(&raw));
        let mut list = self.list.lock().map_err(poisoned)?;
        if list.len() >= 100 {
            return Err(Error::LimitExceeded("At most 100 faults can be set at once.".into()));
        }
        list.push(FaultEntry {
            fault_id: id.clone(),
            operation: req.operation,
            key_id: req.key_id,
            error: error.map(str::to_string),
            rate,
            remaining: req.count,
            latency_ms,
            hits: 0,
        });
        self.active.store(true, Ordering::Relaxed);
        Ok(id)
    }

    pub fn list(&self) -> Result<Vec<FaultEntry>> {
        Ok(self.list.lock().map_err(poisoned)?.clone())
    }

    /// Clear one fault (`NotFoundException` if unknown), or all of them.
    pub fn clear(&self, id: Option<&str>) -> Result<()> {
        let mut list = self.list.lock().map_err(poisoned)?;
        match id {
            None => list.clear(),
            Some(id) => {
                let before = list.len();
                list.retain(|f| f.fault_id != id);
                if list.len() == before {
                    return Err(Error::NotFound(format!("Fault '{id}' does not exist.")));
                }
            }
        }
        self.active.store(!list.is_empty(), Ordering::Relaxed);
        Ok(())
    }

    /// The first fault set that hits a call of `operation` naming `key_id`
    /// (counted, and dropped when its count is used up).
    pub fn pick(&self, operation: &str, key_id: Option<&str>) -> Option<Injected> {
        let mut list = self.list.lock().ok()?;
        let i = list.iter().position(|f| {
            f.operation.as_deref().is_none_or(|o| o == operation)
                && f.key_id.as_deref().is_none_or(|k| Some(k) == key_id)
                && (f.rate >= 1.0 || random_unit() < f.rate)
        })?;
        let f = &mut list[i];
        f.hits += 1;
        let injected = Injected {
            fault_id: f.fault_id.clone(),
            latency_ms: f.latency_ms,
            error: f.error.as_deref().and_then(|e| FAULT_ERRORS.iter().find(|x| **x == e).copied()),
        };
        if let Some(n) = f.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                list.remove(i);
                self.active.store(!list.is_empty(), Ordering::Relaxed);
            }
        }
        Some(injected)
    }
}

/// A uniform number in [0, 1).
fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if crate::crypto::fill_random(&mut b).is_err() {
        return 0.0;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: Option<&str>, error: Option<&str>, rate: Option<f64>, count: Option<u64>) -> SetFaultRequest {
        SetFaultRequest {
            operation: op.map(str::to_string),
            error: error.map(str::to_string),
            rate,
            count,
            ..Default::default()
        }
    }

    #[test]
    fn faults_hit_what_they_name_at_their_rate_and_count() {
        let f = Faults::default();
        assert!(!f.is_active());
        assert!(f.set(req(Some("Encrypt"), Some("Nope"), None, None)).is_err());
        assert!(f.set(req(Some("Fly"), Some("ThrottlingException"), None, None)).is_err());
        assert!(f.set(req(None, None, None, None)).is_err(), "neither error nor latency");
        assert!(f.set(req(None, Some("ThrottlingException"), Some(1.5), None)).is_err());
        let id = f.set(req(Some("Encrypt"), Some("KMSInternalException"), None, Some(2))).unwrap();
        assert!(f.is_active());
        assert!(f.pick("Decrypt", None).is_none());
        assert_eq!(f.pick("Encrypt", Some("k")).unwrap().fault_id, id);
        assert!(matches!(f.pick("Encrypt", None).unwrap().into_error(), Some(Error::Internal(_))));
        assert!(f.pick("Encrypt", None).is_none(), "its count is used up");
        assert!(!f.is_active());
        // A rate hits about that share.
        f.set(req(None, Some("ThrottlingException"), Some(0.25), None)).unwrap();
        let hits = (0..4000).filter(|_| f.pick("Encrypt", None).is_some()).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert_eq!(f.list().unwrap()[0].hits as usize, hits);
        assert!(f.clear(Some("fault-0")).is_err());
        f.clear(None).unwrap();
        assert!(!f.is_active());
        // Scoped to a key as the call names it.
        let mut r = req(None, None, None, None);
        r.latency_ms = Some(5);
        r.key_id = Some("alias/app".into());
        f.set(r).unwrap();
        assert!(f.pick("Encrypt", Some("alias/other")).is_none());
        let i = f.pick("Encrypt", Some("alias/app")).unwrap();
        assert_eq!((i.latency_ms, i.into_error().is_none()), (5, true));
    }
}
