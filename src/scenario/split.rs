//! Which classes go to which task of a split benchmark: the class order (label order, a given
//! permutation, or one drawn from the seed) cut into tasks of `K` classes, the last task taking
//! what is left.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The generator stream a random class order is drawn from: its own, so that drawing an order
/// changes no other number of the run (initialisation, minibatches, permutations).
const ORDER_STREAM: u64 = 0xC1A5_5E50_0D3E_2B17;

/// The order in which a split benchmark hands its classes to tasks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClassOrder {
    /// Label order, 0, 1, 2, … (the benchmarks' published protocols).
    #[default]
    Labels,
    /// A permutation of the classes drawn from the run's seed.
    Random,
    /// This permutation of the classes.
    Given(Vec<usize>),
}

impl ClassOrder {
    /// Whether this is label order (the default, left out of stored configs).
    pub fn is_labels(&self) -> bool {
        *self == Self::Labels
    }

    /// The order of `classes` classes this setting stands for, drawing a random one from `seed`.
    pub fn resolve(&self, classes: usize, seed: u64) -> Result<Vec<usize>, SplitError> {
        match self {
            Self::Labels => Ok((0..classes).collect()),
            Self::Random => {
                let mut order: Vec<usize> = (0..classes).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ ORDER_STREAM));
                Ok(order)
            }
            Self::Given(order) => check_permutation(order, classes).map(|()| order.clone()),
        }
    }
}

/// A class order that is not a permutation of the dataset's classes, or a task size out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A class listed twice.
    #[error("class_order lists class {class} twice: give each of the {classes} classes (0-{}) once, or random", .classes - 1)]
    Duplicate {
        /// The class.
        class: usize,
        /// Classes of the dataset.
        classes: usize,
    },
    /// A class the dataset does not have.
    #[error("class_order names class {class}, but the data has classes 0-{} only: give each of them once, or random", .classes - 1)]
    Unknown {
        /// The class.
        class: usize,
        /// Classes of the dataset.
        classes: usize,
    },
    /// Classes left out.
    #[error("class_order leaves out class{} {}: give each of the {classes} classes once, or random", if .missing.len() == 1 { "" } else { "es" }, join(.missing))]
    Missing {
        /// The classes not listed.
        missing: Vec<usize>,
        /// Classes of the dataset.
        classes: usize,
    },
    /// A task size of 0 or more than the classes.
    #[error("classes_per_task = {per_task} is out of range: between 1 and {classes}, the classes of the data")]
    PerTask {
        /// The size asked for.
        per_task: usize,
        /// Classes of the dataset.
        classes: usize,
    },
}

/// Numbers joined with commas, as the command line writes a class order.
pub fn join(v: &[usize]) -> String {
    v.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

fn check_permutation(order: &[usize], classes: usize) -> Result<(), SplitError> {
    let mut seen = vec![false; classes];
    for &c in order {
        match seen.get_mut(c) {
            None => return Err(SplitError::Unknown { class: c, classes }),
            Some(true) => return Err(SplitError::Duplicate { class: c, classes }),
            Some(s) => *s = true,
        }
    }
    let missing: Vec<usize> = (0..classes).filter(|&c| !seen[c]).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SplitError::Missing { missing, classes })
    }
}

/// `order` cut into tasks of `per_task` classes; the last task holds what is left (fewer when
/// `per_task` does not divide the number of classes).
pub fn cut(order: &[usize], per_task: usize) -> Result<Vec<Vec<usize>>, SplitError> {
    if per_task == 0 || per_task > order.len() {
        return Err(SplitError::PerTask {
            per_task,
            classes: order.len(),
        });
    }
    Ok(order.chunks(per_task).map(<[usize]>::to_vec).collect())
}

impl fmt::Display for ClassOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Labels => f.write_str("labels"),
            Self::Random => f.write_str("random"),
            Self::Given(v) => f.write_str(&join(v)),
        }
    }
}

impl std::str::FromStr for ClassOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "labels" => Ok(Self::Labels),
            "random" => Ok(Self::Random),
            list => list
                .split(',')
                .map(|c| c.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Given)
                .map_err(|_| {
                    format!("'{s}' is not a class order: give the classes as 3,7,1,… (each once), random, or labels")
                }),
        }
    }
}

/// Stored as `"labels"`, `"random"` or a list of classes.
impl Serialize for ClassOrder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Given(v) => v.serialize(s),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

/// Read from a list of classes or a string: `"random"`, `"labels"` or `"3,7,1"` (as the flag).
impl<'de> Deserialize<'de> for ClassOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<usize>),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "want a list of classes such as [3, 7, 1], \"random\" or \"labels\"",
            )
        })? {
            Raw::List(v) => Ok(Self::Given(v)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_order_cut_in_twos_is_the_published_split() {
        let order = ClassOrder::Labels.resolve(10, 3).unwrap();
        let tasks = cut(&order, 2).unwrap();
        assert_eq!(tasks.len(), 5);
        assert_eq!(tasks[3], vec![6, 7]);
    }

    #[test]
    fn the_last_task_takes_what_is_left() {
        let tasks = cut(&(0..10).collect::<Vec<_>>(), 3).unwrap();
        assert_eq!(
            tasks,
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
        assert_eq!(cut(&[4, 2], 2).unwrap(), vec![vec![4, 2]]);
        for k in [0, 11] {
            let e = cut(&(0..10).collect::<Vec<_>>(), k).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("classes_per_task = {k} is out of range: between 1 and 10, the classes of the data")
            );
        }
    }

    #[test]
    fn a_random_order_is_a_permutation_fixed_by_the_seed() {
        let a = ClassOrder::Random.resolve(10, 1).unwrap();
        assert_eq!(a, ClassOrder::Random.resolve(10, 1).unwrap());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        // 10! orders: equal draws would mean the seed is ignored.
        assert_ne!(a, ClassOrder::Random.resolve(10, 2).unwrap());
        assert_ne!(a, (0..10).collect::<Vec<_>>());
        // The stream is the order's own, not the seed's plain generator (the minibatches').
        let mut plain: Vec<usize> = (0..10).collect();
        plain.shuffle(&mut ChaCha8Rng::seed_from_u64(1));
        assert_ne!(a, plain);
    }

    #[test]
    fn a_given_order_must_be_a_permutation() {
        let given = |v: &[usize]| ClassOrder::Given(v.to_vec()).resolve(4, 0);
        assert_eq!(given(&[2, 3, 0, 1]).unwrap(), vec![2, 3, 0, 1]);
        assert_eq!(
            given(&[2, 3, 2, 1]).unwrap_err().to_string(),
            "class_order lists class 2 twice: give each of the 4 classes (0-3) once, or random"
        );
        assert_eq!(
            given(&[2, 3, 4, 1, 0]).unwrap_err().to_string(),
            "class_order names class 4, but the data has classes 0-3 only: give each of them once, or random"
        );
        assert_eq!(
            given(&[3, 1]).unwrap_err().to_string(),
            "class_order leaves out classes 0,2: give each of the 4 classes once, or random"
        );
        assert_eq!(
            given(&[3, 1, 0]).unwrap_err(),
            SplitError::Missing {
                missing: vec![2],
                classes: 4
            }
        );
        assert!(given(&[3, 1, 0])
            .unwrap_err()
            .to_string()
            .starts_with("class_order leaves out class 2:"));
    }

    #[test]
    fn orders_read_from_flags_and_files_and_store_as_lists() {
        assert_eq!("random".parse::<ClassOrder>().unwrap(), ClassOrder::Random);
        assert_eq!("labels".parse::<ClassOrder>().unwrap(), ClassOrder::Labels);
        assert_eq!(
            " 3, 7,1".parse::<ClassOrder>().unwrap(),
            ClassOrder::Given(vec![3, 7, 1])
        );
        let e = "3,x".parse::<ClassOrder>().unwrap_err();
        assert!(e.contains("'3,x' is not a class order"), "{e}");
        let json = serde_json::to_string(&ClassOrder::Given(vec![3, 7, 1])).unwrap();
        assert_eq!(json, "[3,7,1]");
        assert_eq!(
            serde_json::from_str::<ClassOrder>(&json).unwrap(),
            ClassOrder::Given(vec![3, 7, 1])
        );
        assert_eq!(
            serde_json::from_str::<ClassOrder>("\"2,1,0\"").unwrap(),
            ClassOrder::Given(vec![2, 1, 0])
        );
        assert_eq!(
            serde_json::to_string(&ClassOrder::Random).unwrap(),
            "\"random\""
        );
        let e = serde_json::from_str::<ClassOrder>("[1.5]").unwrap_err();
        assert!(e.to_string().contains("want a list of classes"), "{e}");
    }
}
