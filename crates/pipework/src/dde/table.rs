//! [`ItemTable`]: a ready [`DdeHandler`] that keeps topics' items in memory, takes pokes, and
//! hands executes to an optional callback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Ack, DdeHandler};
use crate::name::fold;

type Execute = Box<dyn Fn(&str, &[u8]) -> Ack + Send + Sync>;

/// Topics and their items' data per format, shared between its clones (hand one to
/// [`super::DdeServer::register`], keep another to change items).
#[derive(Clone, Default)]
pub struct ItemTable {
    inner: Arc<Mutex<Inner>>,
    execute: Arc<Mutex<Option<Execute>>>,
}

/// An item's data per format.
type Formats = BTreeMap<u32, Vec<u8>>;

#[derive(Default)]
struct Inner {
    /// topic (folded) → (topic as given, item (folded) → (format → data)).
    topics: BTreeMap<String, (String, BTreeMap<String, Formats>)>,
    read_only: bool,
}

impl std::fmt::Debug for ItemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemTable").finish_non_exhaustive()
    }
}

impl ItemTable {
    /// An empty table.
    pub fn new() -> ItemTable {
        ItemTable::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `topic` (with no items) if missing.
    pub fn add_topic(&self, topic: &str) {
        self.lock()
            .topics
            .entry(fold(topic))
            .or_insert_with(|| (topic.to_string(), BTreeMap::new()));
    }

    /// Sets `item` of `topic` in `format` (adding both as needed). Call
    /// [`super::DdeServer::post_advise`] to tell the links.
    pub fn set(&self, topic: &str, item: &str, format: u32, data: Vec<u8>) {
        self.lock()
            .topics
            .entry(fold(topic))
            .or_insert_with(|| (topic.to_string(), BTreeMap::new()))
            .1
            .entry(fold(item))
            .or_default()
            .insert(format, data);
    }

    /// `item`'s data in `format`.
    pub fn get(&self, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        self.lock()
            .topics
            .get(&fold(topic))?
            .1
            .get(&fold(item))?
            .get(&format)
            .cloned()
    }

    /// Refuses pokes (`NotProcessed`) from now on.
    pub fn read_only(&self) {
        self.lock().read_only = true;
    }

    /// What an execute does: `f(topic, command)` gives the answer (`NotProcessed` without one).
    pub fn on_execute(&self, f: impl Fn(&str, &[u8]) -> Ack + Send + Sync + 'static) {
        *self.execute.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(f));
    }
}

impl DdeHandler for ItemTable {
    fn topics(&self) -> Vec<String> {
        self.lock()
            .topics
            .values()
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn connect(&self, topic: &str, _: super::Origin) -> bool {
        self.lock().topics.contains_key(&fold(topic))
    }

    fn request(&self, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        self.get(topic, item, format)
    }

    fn poke(&self, topic: &str, item: &str, format: u32, data: &[u8]) -> Ack {
        let mut inner = self.lock();
        if inner.read_only {
            return Ack::NotProcessed;
        }
        match inner.topics.get_mut(&fold(topic)) {
            Some((_, items)) => {
                items
                    .entry(fold(item))
                    .or_default()
                    .insert(format, data.to_vec());
                Ack::Ack
            }
            None => Ack::NotProcessed,
        }
    }

    fn execute(&self, topic: &str, command: &[u8]) -> Ack {
        match &*self.execute.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(f) => f(topic, command),
            None => Ack::NotProcessed,
        }
    }

    fn formats(&self) -> Vec<u32> {
        let mut formats: Vec<u32> = self
            .lock()
            .topics
            .values()
            .flat_map(|(_, items)| items.values().flat_map(|f| f.keys().copied()))
            .collect();
        formats.sort_unstable();
        formats.dedup();
        if formats.is_empty() {
            formats.push(super::CF_TEXT);
        }
        formats
    }
}
