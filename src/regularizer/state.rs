//! A regulariser's saved state: flattened f32 tensors keyed by name (a parameter path with a
//! prefix) and a few integer counters, in a small self-describing binary file.
//!
//! Layout: the 8 bytes `SYNREG01`, a little-endian u64 header length, a JSON header
//! (`counters`, then the tensor keys and lengths in file order), then every tensor's values as
//! little-endian f32, in header order.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"SYNREG01";

/// Why a regulariser's saved state cannot be read or does not fit the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// The bytes do not start with the state's magic.
    #[error("not a synaptic regulariser state (bad magic)")]
    BadMagic,
    /// The bytes end before the part named.
    #[error("regulariser state is truncated ({0})")]
    Truncated(&'static str),
    /// The JSON header does not parse.
    #[error("regulariser state header is corrupt: {0}")]
    CorruptHeader(String),
    /// A tensor length overflows.
    #[error("regulariser state is corrupt (length)")]
    BadLength,
    /// Bytes follow the last tensor.
    #[error("regulariser state has trailing bytes")]
    TrailingBytes,
    /// No tensor is stored under the key.
    #[error("regulariser state lacks '{0}'")]
    MissingTensor(String),
    /// No counter is stored under the key.
    #[error("regulariser state lacks counter '{0}'")]
    MissingCounter(String),
    /// The stored tensor's length differs from the model's parameter.
    #[error("regulariser state '{key}' has {saved} values, the model {model}")]
    Shape {
        /// The tensor's key.
        key: String,
        /// Values stored.
        saved: usize,
        /// Values the model's parameter holds.
        model: usize,
    },
    /// The importance observer's part is missing: the run saved no importances.
    #[error("the checkpoint holds no importance observer: it was saved by a run without save_importance")]
    NoImportanceObserver,
    /// Anything else a regulariser defined outside this crate finds wrong with its state.
    #[error("{0}")]
    Invalid(String),
}

/// Everything a regulariser needs to continue exactly where it stopped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegularizerState {
    /// Integer state (finished tasks, counters of seeded draws).
    pub counters: BTreeMap<String, u64>,
    /// Flattened f32 tensors, keyed e.g. `reference:layers.0.weight`.
    pub tensors: BTreeMap<String, Vec<f32>>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    counters: BTreeMap<String, u64>,
    tensors: Vec<(String, usize)>,
}

impl RegularizerState {
    /// The state as bytes (see the module documentation for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            counters: self.counters.clone(),
            tensors: self
                .tensors
                .iter()
                .map(|(k, v)| (k.clone(), v.len()))
                .collect(),
        };
        let json = serde_json::to_vec(&header).expect("header serialises");
        let n: usize = self.tensors.values().map(Vec::len).sum();
        let mut out = Vec::with_capacity(16 + json.len() + 4 * n);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for v in self.tensors.values() {
            for x in v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    /// Reads bytes written by [`RegularizerState::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(StateError::BadMagic);
        }
        let hlen = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let body = bytes
            .get(16..16usize.saturating_add(hlen))
            .ok_or(StateError::Truncated("header"))?;
        let header: Header =
            serde_json::from_slice(body).map_err(|e| StateError::CorruptHeader(e.to_string()))?;
        let mut at = 16 + hlen;
        let mut tensors = BTreeMap::new();
        for (key, len) in header.tensors {
            let end = len
                .checked_mul(4)
                .and_then(|b| at.checked_add(b))
                .ok_or(StateError::BadLength)?;
            let raw = bytes.get(at..end).ok_or(StateError::Truncated("data"))?;
            let v = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            tensors.insert(key, v);
            at = end;
        }
        if at != bytes.len() {
            return Err(StateError::TrailingBytes);
        }
        Ok(Self {
            counters: header.counters,
            tensors,
        })
    }

    /// Stores a tensor under `key`.
    pub fn put<I: Backend>(&mut self, key: String, t: &Tensor<I, 1>) {
        self.tensors.insert(key, host(t));
    }

    /// The tensor stored under `key`, on `device`, checked to hold `len` values.
    pub fn get<I: Backend>(
        &self,
        key: &str,
        len: usize,
        device: &I::Device,
    ) -> Result<Tensor<I, 1>, StateError> {
        let v = self
            .tensors
            .get(key)
            .ok_or_else(|| StateError::MissingTensor(key.into()))?;
        if v.len() != len {
            return Err(StateError::Shape {
                key: key.into(),
                saved: v.len(),
                model: len,
            });
        }
        Ok(Tensor::from_data(TensorData::new(v.clone(), [len]), device))
    }

    /// The counter `key`.
    pub fn counter(&self, key: &str) -> Result<u64, StateError> {
        self.counters
            .get(key)
            .copied()
            .ok_or_else(|| StateError::MissingCounter(key.into()))
    }
}

/// A 1-d tensor's values on the host, as f32.
pub(crate) fn host<I: Backend>(t: &Tensor<I, 1>) -> Vec<f32> {
    t.clone()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_corruption_is_an_error() {
        let mut s = RegularizerState::default();
        s.counters.insert("tasks_done".into(), 2);
        s.tensors
            .insert("a".into(), vec![1.5, -0.0, f32::MIN_POSITIVE]);
        s.tensors.insert("b".into(), vec![]);
        let b = s.to_bytes();
        assert_eq!(RegularizerState::from_bytes(&b).unwrap(), s);
        assert!(RegularizerState::from_bytes(&b[..b.len() - 1]).is_err());
        assert!(RegularizerState::from_bytes(b"garbage").is_err());
    }
}
