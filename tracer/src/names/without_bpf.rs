//! A tracer built without the BPF program (`KAUDIT_NO_BPF=1`): nothing
//! to load, so every run's names are partial and say why.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Name, NamesStatus, NamesVia};

/// Nothing is ever loaded.
pub(super) struct Loaded;

/// Always refused: there is no program to load.
pub(super) fn load(
    _skip_ns: u32,
    _skip_ns2: u32,
    _via: NamesVia,
    _notes: &mut Vec<String>,
) -> Result<Loaded, String> {
    Err("this kaudit was built without the BPF name capture (clang was missing)".into())
}

/// Never runs: [`load`] always refuses.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_loop(
    _cap: Loaded,
    _notes: Vec<String>,
    _root: Vec<u8>,
    _step: Arc<Mutex<Option<String>>>,
    _started: Instant,
    _stop: Arc<AtomicBool>,
    _sync_req: Arc<AtomicU64>,
    _synced: Arc<AtomicU64>,
) -> (Vec<Name>, NamesStatus) {
    (Vec::new(), NamesStatus::default())
}
