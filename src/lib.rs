//! synaptic: continual learning with Synaptic Intelligence (Zenke, Poole & Ganguli 2017) and its
//! family on `burn`.
//!
//! The library is usable without the CLI: build a [`scenario::TaskStream`], a model implementing
//! [`model::Classifier`], a [`regularizer::Regularizer`] such as
//! [`regularizer::SynapticIntelligence`] (or EWC, online EWC, MAS, L2: see
//! [`regularizer::Consolidator`]), and call [`train::train_stream`]; or call the hooks from your
//! own training loop (see `examples/custom_model.rs`). The command line and its crates (clap,
//! indicatif, ctrlc) are the default `cli` feature; `default-features = false` leaves them out.

#![warn(missing_docs)]

pub mod analysis;
pub mod backend;
pub mod checkpoint;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod data;
pub mod experiment;
pub mod figures;
pub mod fsutil;
pub mod grid;
pub mod kernels;
pub mod log;
pub mod memory;
pub mod method;
pub mod metrics;
pub mod model;
pub mod names;
pub mod plural;
pub mod regularizer;
pub mod report;
pub mod run_clock;
pub mod run_dir;
pub mod run_lock;
pub mod scenario;
pub mod train;
pub mod user_data;

#[cfg(test)]
mod test_support;
