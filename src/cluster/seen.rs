//! "Each once" while building an answer: a set ([`Seen`]) and a list with positions
//! ([`Positions`]), each a short list while small (no hashing, no allocation but the list) and
//! hashed once it grows, so dedup stays linear however many endpoints a headless Service has.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// Up to this many items, a linear scan of a list beats hashing.
const SMALL: usize = 16;

/// What was seen so far.
#[derive(Debug)]
pub struct Seen<T> {
    small: Vec<T>,
    large: Option<HashSet<T>>,
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen {
            small: Vec::new(),
            large: None,
        }
    }
}

impl<T: Eq + Hash + Clone> Seen<T> {
    /// Remember `item`; whether it was new.
    pub fn insert(&mut self, item: &T) -> bool {
        if let Some(large) = &mut self.large {
            return large.insert(item.clone());
        }
        if self.small.contains(item) {
            return false;
        }
        if self.small.len() < SMALL {
            self.small.push(item.clone());
        } else {
            let mut large: HashSet<T> = self.small.drain(..).collect();
            large.insert(item.clone());
            self.large = Some(large);
        }
        true
    }
}

/// Distinct items in the order first seen, each with its position.
#[derive(Debug)]
pub struct Positions<T> {
    items: Vec<T>,
    large: Option<HashMap<T, usize>>,
}

impl<T> Default for Positions<T> {
    fn default() -> Self {
        Positions {
            items: Vec::new(),
            large: None,
        }
    }
}

impl<T: Eq + Hash + Clone> Positions<T> {
    /// The position of `item`, added at the end if new.
    pub fn position(&mut self, item: T) -> usize {
        let found = match &self.large {
            Some(large) => large.get(&item).copied(),
            None => self.items.iter().position(|i| *i == item),
        };
        if let Some(found) = found {
            return found;
        }
        let position = self.items.len();
        if let Some(large) = &mut self.large {
            large.insert(item.clone(), position);
        } else if position >= SMALL {
            let mut large: HashMap<T, usize> = self
                .items
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, item)| (item, i))
                .collect();
            large.insert(item.clone(), position);
            self.large = Some(large);
        }
        self.items.push(item);
        position
    }

    /// The items, in the order first seen.
    pub fn items(&self) -> &[T] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_is_new_once_before_and_after_growing() {
        let mut seen = Seen::default();
        for round in 0..2 {
            for i in 0..100u32 {
                assert_eq!(seen.insert(&i), round == 0, "{i} in round {round}");
            }
        }
    }

    #[test]
    fn positions_are_stable_before_and_after_growing() {
        let mut positions = Positions::default();
        for round in 0..2 {
            for i in 0..100u32 {
                assert_eq!(positions.position(i * 7), i as usize, "round {round}");
            }
        }
        assert_eq!(positions.items().len(), 100);
        assert_eq!(positions.items()[3], 21);
    }
}
