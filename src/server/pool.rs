//! A few open stores shared by the request handlers: each request borrows one for its blocking
//! work, so that a long report does not hold up triage. PostgreSQL serves each connection in its
//! own process; SQLite in WAL mode lets readers run beside its one writer.

use std::sync::{Condvar, Mutex};

use anyhow::Result;

use super::Backend;

/// Opens one more connection to the server's store.
pub type Opener = Box<dyn Fn() -> Result<Box<dyn Backend>> + Send + Sync>;

/// Up to `size` open stores, opened on first need.
pub struct StorePool {
    idle: Mutex<(Vec<Box<dyn Backend>>, usize)>,
    returned: Condvar,
    open: Opener,
    size: usize,
}

impl StorePool {
    /// A pool holding `first` (already open, schema migrated) that opens up to `size` stores.
    pub fn new(first: Box<dyn Backend>, open: Opener, size: usize) -> StorePool {
        StorePool {
            idle: Mutex::new((vec![first], 1)),
            returned: Condvar::new(),
            open,
            size: size.max(1),
        }
    }

    /// Runs `f` on a store, waiting for one if all are busy.
    pub fn with<T>(&self, f: impl FnOnce(&mut dyn Backend) -> Result<T>) -> Result<T> {
        let mut store = self.take()?;
        let out = f(store.as_mut());
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if store.is_closed() {
            // The database went away: drop this connection; the next request opens a new one.
            idle.1 -= 1;
        } else {
            idle.0.push(store);
        }
        drop(idle);
        self.returned.notify_one();
        out
    }

    fn take(&self) -> Result<Box<dyn Backend>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(s) = idle.0.pop() {
                return Ok(s);
            }
            if idle.1 < self.size {
                idle.1 += 1;
                drop(idle);
                return (self.open)().inspect_err(|_| {
                    self.idle.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
                });
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }
}
