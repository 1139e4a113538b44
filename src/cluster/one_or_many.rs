//! A list that holds one element without a heap allocation. Most cluster IPs have one owner,
//! most endpoints one address and most pod IPs one pod: at 100k objects, the saved allocation
//! per entry is megabytes.

/// One element inline, or several on the heap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OneOrMany<T> {
    /// Exactly one.
    One(T),
    /// None, or more than one.
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T: PartialEq> OneOrMany<T> {
    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(item) => std::slice::from_ref(item),
            OneOrMany::Many(items) => items,
        }
    }

    /// Append `item`.
    pub fn push(&mut self, item: T) {
        match std::mem::take(self) {
            OneOrMany::Many(mut items) if !items.is_empty() => {
                items.push(item);
                *self = OneOrMany::Many(items);
            }
            OneOrMany::Many(_) => *self = OneOrMany::One(item),
            OneOrMany::One(first) => *self = OneOrMany::Many(vec![first, item]),
        }
    }

    /// Remove the first element equal to `item`; true if one was removed.
    pub fn remove_one(&mut self, item: &T) -> bool {
        match std::mem::take(self) {
            OneOrMany::One(only) if &only == item => true,
            OneOrMany::One(only) => {
                *self = OneOrMany::One(only);
                false
            }
            OneOrMany::Many(mut items) => {
                let found = items.iter().position(|i| i == item);
                if let Some(i) = found {
                    items.remove(i);
                }
                *self = match items.len() {
                    1 => OneOrMany::One(items.remove(0)),
                    _ => OneOrMany::Many(items),
                };
                found.is_some()
            }
        }
    }

    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Whether `item` is among the elements.
    pub fn contains(&self, item: &T) -> bool {
        self.as_slice().contains(item)
    }
}

impl<T> FromIterator<T> for OneOrMany<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut items: Vec<T> = iter.into_iter().collect();
        if items.len() == 1 {
            OneOrMany::One(items.remove(0))
        } else {
            OneOrMany::Many(items)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_shrinks_through_one() {
        let mut list = OneOrMany::default();
        assert!(list.is_empty());
        list.push(1);
        assert_eq!(list, OneOrMany::One(1));
        list.push(2);
        list.push(1);
        assert_eq!(list.as_slice(), &[1, 2, 1]);
        assert!(list.remove_one(&1));
        assert_eq!(list.as_slice(), &[2, 1]);
        assert!(list.remove_one(&2));
        assert_eq!(list, OneOrMany::One(1));
        assert!(!list.remove_one(&7));
        assert!(list.remove_one(&1));
        assert!(list.is_empty());
        let collected: OneOrMany<u8> = [5].into_iter().collect();
        assert_eq!(collected, OneOrMany::One(5));
    }
}
