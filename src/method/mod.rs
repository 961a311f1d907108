//! Methods as units: each one file that holds its options (one typed struct), their defaults per
//! benchmark, its shipped tuned values, its name and report label, and how it trains (a
//! regulariser and a [`Mode`]). A [`Registry`] lists them; the built-in one is
//! [`Registry::builtin`], and a method defined outside the crate joins it with
//! [`Registry::register`] (see `examples/custom_method.rs`).
//!
//! A run's configuration holds the method as a [`MethodConfig`]: its name and its options as the
//! method's own struct serialises them. Resolving a config parses those options with the method's
//! struct, which denies unknown fields, so an option of another method cannot get in.

pub mod ewc;
pub mod finetune;
pub mod joint;
pub mod l2;
pub mod mas;
pub mod online_ewc;
pub mod scratch;
pub mod si;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::OnceLock;

use burn::tensor::backend::AutodiffBackend;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::regularizer::Regularizer;
use crate::scenario::Benchmark;
pub use shared::OptionError;

/// A method's options as config keys and values (the layout of config files and `result.json`).
pub type Options = Map<String, Value>;

/// A method's regulariser for model `M` on backend `B` (`None`: plain training).
pub type BoxedRegularizer<B, M> = Option<Box<dyn Regularizer<B, M>>>;

/// What building a method's regulariser may need besides its options.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext {
    /// The run's seed (e.g. for EWC's sampled Fisher labels).
    pub seed: u64,
}

pub use crate::model::TrainModel;

/// How the tasks of a stream are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One task after the other, on the same network (finetune and every regulariser).
    #[default]
    Sequential,
    /// At task t, train on the union of tasks 0..=t (the usual upper bound).
    Joint,
    /// A fresh network (and optimizer) for each task: one network per task. `R[i][j]` for j < i
    /// is task j's own network's accuracy `R[j][j]`, so nothing is ever forgotten.
    Scratch,
}

/// A continual-learning method. Implement it in one file and register it.
pub trait Method: Send + Sync + 'static {
    /// The method's options, keyed as in config files (`#[serde(deny_unknown_fields)]`).
    type Options: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// Name on the command line and in result files, e.g. `online-ewc`.
    const NAME: &'static str;
    /// How tables and legends show it, e.g. `online EWC`.
    const LABEL: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The options as command-line flags (key, help, kind), in help order.
    fn flags() -> Vec<OptionSpec> {
        Vec::new()
    }
    /// The options before any preset, for `benchmark`.
    fn defaults(benchmark: Benchmark) -> Self::Options;
    /// The shipped `tuned` preset for `benchmark`: a TOML table body of option keys, or `None`.
    fn tuned(_benchmark: Benchmark) -> Option<&'static str> {
        None
    }
    /// Checks ranges; the error names the option's key and the accepted range.
    fn check(_options: &Self::Options) -> Result<(), OptionError> {
        Ok(())
    }
    /// The options in one short phrase for logs, e.g. `c=1 ξ=0.001` (empty if none).
    fn summary(_options: &Self::Options) -> String {
        String::new()
    }
    /// Whether the method penalises drift (it then reports its preset in summaries).
    fn regularized() -> bool {
        false
    }
    /// How the loop walks the tasks.
    fn mode() -> Mode {
        Mode::Sequential
    }
    /// Examples per task the method measures importance on, if it has such an option (the
    /// importance recorder of `--save-importance` uses the same number).
    fn samples(_options: &Self::Options) -> Option<usize> {
        None
    }
    /// The regulariser that carries the method in the training loop (`None`: none).
    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        options: &Self::Options,
        ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M>;
}

/// What kind of value an option takes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// A number (may be written negative, so that range checks can name it).
    Float,
    /// A whole number.
    Count,
    /// A flag without a value; present means true.
    Switch,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// A string; the flag may repeat and the values form a list.
    List,
}

/// One option of a method: config key (flags use it with `-` for `_`), help text and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// Config-file key, e.g. `si_cap`.
    pub key: &'static str,
    /// What it is, for help and for errors naming the methods that use it.
    pub help: &'static str,
    /// Its kind of value.
    pub kind: OptionKind,
}

impl OptionSpec {
    /// The command-line flag without dashes, e.g. `si-cap`.
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }
}

/// Options several methods share, so that they mean one thing and read one way everywhere.
pub mod shared {
    use super::{OptionKind, OptionSpec};

    /// The penalty strength λ of EWC, online EWC, MAS and L2.
    pub const LAMBDA: OptionSpec = OptionSpec {
        key: "lambda",
        help: "the strength λ of ewc, online-ewc, mas and l2; SI's is --c",
        kind: OptionKind::Float,
    };
    /// Examples per task for an importance measured on data.
    pub const FISHER_SAMPLES: OptionSpec = OptionSpec {
        key: "fisher_samples",
        help: "the examples per task EWC's Fisher and MAS's importance are measured on",
        kind: OptionKind::Count,
    };
    /// EWC's Fisher estimator.
    pub const FISHER: OptionSpec = OptionSpec {
        key: "fisher",
        help: "EWC's Fisher estimator: exact, sampled or empirical",
        kind: OptionKind::Choice(&["exact", "sampled", "empirical"]),
    };
    /// Parameters left out of the penalty.
    pub const EXCLUDE: OptionSpec = OptionSpec {
        key: "exclude",
        help: "parameters left out of the penalty: a glob over parameter paths, repeatable (e.g. 'layers.2.*')",
        kind: OptionKind::List,
    };

    /// The range training in f32 can use: a value outside it would turn into 0 or inf. Inside
    /// f32's normal range (from `f32::MIN_POSITIVE` ≈ 1.18e-38 to a quarter of `f32::MAX`, for
    /// headroom) in round numbers, so that an error can state the bounds exactly.
    pub const F32_RANGE: (f64, f64) = (1.2e-38, 8.5e37);

    /// `v` as people write it: plain between 1e-4 and 1e15, else in scientific notation
    /// (`1e-40`, not forty zeros).
    pub fn readable(v: f64) -> String {
        let a = v.abs();
        if v == 0.0 || !v.is_finite() || (1e-4..1e15).contains(&a) {
            v.to_string()
        } else {
            format!("{v:e}")
        }
    }

    /// A setting whose value lies outside the range it accepts.
    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    #[error("{key} must be {allowed}, got {value}")]
    pub struct OptionError {
        /// The config key, e.g. `si_cap`.
        pub key: String,
        /// The value given, as written in the message.
        pub value: String,
        /// The accepted range, e.g. `between 1 and 100000`.
        pub allowed: String,
    }

    impl OptionError {
        /// `key` got `value`, which is not `allowed`.
        pub fn new(key: &str, value: impl std::fmt::Display, allowed: impl Into<String>) -> Self {
            Self {
                key: key.into(),
                value: value.to_string(),
                allowed: allowed.into(),
            }
        }
    }

    /// Checks a positive number in [`F32_RANGE`]; the error names the config key `key`.
    pub fn check_positive(key: &str, v: f64) -> Result<(), OptionError> {
        let (lo, hi) = F32_RANGE;
        if v.is_finite() && (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(OptionError::new(
                key,
                readable(v),
                format!("a positive number between {lo:e} and {hi:e}"),
            ))
        }
    }

    /// Checks a strength that may be 0 (off) or a positive number in f32's normal range.
    pub fn check_strength(key: &str, v: f64) -> Result<(), OptionError> {
        let (lo, hi) = F32_RANGE;
        if v == 0.0 || (v.is_finite() && (lo..=hi).contains(&v)) {
            Ok(())
        } else {
            Err(OptionError::new(
                key,
                readable(v),
                format!("0 or a positive number between {lo:e} and {hi:e}"),
            ))
        }
    }

    /// Checks `exclude` patterns.
    pub fn check_exclude(patterns: &[String]) -> Result<(), OptionError> {
        match patterns.iter().find(|p| p.trim().is_empty()) {
            Some(p) => Err(OptionError::new(
                "exclude",
                format!("'{p}'"),
                "non-empty patterns",
            )),
            None => Ok(()),
        }
    }

    /// Checks an example count.
    pub fn check_samples(n: usize) -> Result<(), OptionError> {
        if (1..=1_000_000).contains(&n) {
            Ok(())
        } else {
            Err(OptionError::new(
                "fisher_samples",
                n,
                "between 1 and 1000000",
            ))
        }
    }

    /// ` exclude=a,b` for summaries, or nothing.
    pub fn exclude_summary(patterns: &[String]) -> String {
        if patterns.is_empty() {
            String::new()
        } else {
            format!(" exclude={}", patterns.join(","))
        }
    }

    /// The examples per task of the data-measured importances: fewer on the large networks.
    pub fn default_samples(benchmark: crate::scenario::Benchmark) -> usize {
        if benchmark.transformed() || benchmark.model() == crate::scenario::ModelKind::Cnn {
            500
        } else {
            1000
        }
    }
}

/// A method problem: an unknown name, a bad option, a missing build.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MethodError {
    /// No method of that name is registered.
    #[error("unknown method '{name}': use one of {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: Vec<&'static str>,
    },
    /// The options do not fit the method's option struct (unknown key, wrong type).
    #[error("{0}")]
    Options(String),
    /// An option is out of its range.
    #[error(transparent)]
    Option(#[from] OptionError),
    /// The method has no regulariser builder for the run's model and backend.
    #[error("method {0} is not registered for this model and backend: add it with Registry::register_for")]
    NotRegistered(String),
}

/// A method's resolved settings: its name and its options as its struct serialises them.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodConfig {
    name: String,
    options: Options,
}

impl MethodConfig {
    /// The config of `T` with `options`.
    pub fn of<T: Method>(options: &T::Options) -> Self {
        MethodConfig {
            name: T::NAME.to_string(),
            options: to_map(options),
        }
    }

    /// The method's name, e.g. `si`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options as config keys and values.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// One option's value (`None`: the method has no such option).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.options.get(key)
    }

    /// A numeric option as f64 (`None`: absent or not a number).
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// The options as `T`'s struct, when this config is `T`'s.
    pub fn typed<T: Method>(&self) -> Option<T::Options> {
        (self.name == T::NAME)
            .then(|| serde_json::from_value(Value::Object(self.options.clone())).ok())
            .flatten()
    }

    /// Sets one option as it is, unchecked (for tests and tools that edit recorded configs;
    /// [`Registry::config`] parses and checks).
    pub fn set(&mut self, key: &str, value: Value) {
        self.options.insert(key.to_string(), value);
    }

    /// Whether this is `T`'s config.
    pub fn is<T: Method>(&self) -> bool {
        self.name == T::NAME
    }
}

fn to_map<T: Serialize>(v: &T) -> Options {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        // A method whose options are not a struct has none to show.
        _ => Options::new(),
    }
}

impl Serialize for MethodConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.options.len() + 1))?;
        m.serialize_entry("method", &self.name)?;
        for (k, v) in &self.options {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for MethodConfig {
    /// Reads `method` and the options beside it. Files written before methods had their own
    /// option structs carry every method's keys; the method's own are kept, the rest dropped.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = Options::deserialize(d)?;
        let name = match map.remove("method") {
            Some(Value::String(s)) => s,
            _ => return Err(D::Error::custom("missing method name")),
        };
        let registry = Registry::builtin();
        let options = match registry.get(&name) {
            Some(m) => {
                let keys = m.keys();
                map.retain(|k, _| keys.contains(&k.as_str()));
                m.parse(map).map_err(D::Error::custom)?
            }
            // A method defined outside this crate: its options as recorded.
            None => map,
        };
        Ok(MethodConfig { name, options })
    }
}

/// A builder of `T`'s regulariser for one (backend, model) pair, stored type-erased.
type BuildFn<B, M> = fn(&Options, &BuildContext) -> Result<BoxedRegularizer<B, M>, MethodError>;

fn build<T: Method, B: AutodiffBackend, M: TrainModel<B>>(
    options: &Options,
    ctx: &BuildContext,
) -> Result<BoxedRegularizer<B, M>, MethodError> {
    let o: T::Options = serde_json::from_value(Value::Object(options.clone()))
        .map_err(|e| MethodError::Options(format!("{} options: {e}", T::NAME)))?;
    Ok(T::regularizer::<B, M>(&o, ctx))
}

/// One registered method, with its types erased so that a list can hold any.
pub trait Entry: Send + Sync {
    /// Name, e.g. `si`.
    fn name(&self) -> &'static str;
    /// Label for tables and legends.
    fn label(&self) -> &'static str;
    /// One line for help.
    fn about(&self) -> &'static str;
    /// The options' flags.
    fn flags(&self) -> Vec<OptionSpec>;
    /// The option keys.
    fn keys(&self) -> Vec<&'static str> {
        self.flags().iter().map(|f| f.key).collect()
    }
    /// Default options for `benchmark`.
    fn defaults(&self, benchmark: Benchmark) -> Options;
    /// The shipped tuned preset text for `benchmark`.
    fn tuned(&self, benchmark: Benchmark) -> Option<&'static str>;
    /// Parses and checks options (unknown keys are errors); returns them in canonical form.
    fn parse(&self, options: Options) -> Result<Options, MethodError>;
    /// Short phrase of the options.
    fn summary(&self, options: &Options) -> String;
    /// Whether the method penalises drift.
    fn regularized(&self) -> bool;
    /// How the loop walks the tasks.
    fn mode(&self) -> Mode;
    /// Examples per task the method measures importance on, if any.
    fn samples(&self, options: &Options) -> Option<usize>;
    /// The type-erased regulariser builder for the (backend, model) pair `key`.
    fn builder(&self, key: TypeId) -> Option<&(dyn Any + Send + Sync)>;
    /// Adds a builder for the (backend, model) pair `key`.
    fn add_builder(&mut self, key: TypeId, f: Box<dyn Any + Send + Sync>);
}

struct Registered<T: Method> {
    builders: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Method> Registered<T> {
    fn typed(options: &Options) -> Result<T::Options, MethodError> {
        serde_json::from_value(Value::Object(options.clone()))
            .map_err(|e| MethodError::Options(e.to_string()))
    }

    fn add<B: AutodiffBackend, M: TrainModel<B>>(&mut self) {
        let f: BuildFn<B, M> = build::<T, B, M>;
        self.builders.insert(TypeId::of::<(B, M)>(), Box::new(f));
    }
}

impl<T: Method> Entry for Registered<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn label(&self) -> &'static str {
        T::LABEL
    }
    fn about(&self) -> &'static str {
        T::ABOUT
    }
    fn flags(&self) -> Vec<OptionSpec> {
        T::flags()
    }
    fn defaults(&self, benchmark: Benchmark) -> Options {
        to_map(&T::defaults(benchmark))
    }
    fn tuned(&self, benchmark: Benchmark) -> Option<&'static str> {
        T::tuned(benchmark)
    }
    fn parse(&self, options: Options) -> Result<Options, MethodError> {
        let o = Self::typed(&options)?;
        T::check(&o)?;
        Ok(to_map(&o))
    }
    fn summary(&self, options: &Options) -> String {
        Self::typed(options)
            .map(|o| T::summary(&o))
            .unwrap_or_default()
    }
    fn regularized(&self) -> bool {
        T::regularized()
    }
    fn mode(&self) -> Mode {
        T::mode()
    }
    fn samples(&self, options: &Options) -> Option<usize> {
        Self::typed(options).ok().and_then(|o| T::samples(&o))
    }
    fn builder(&self, key: TypeId) -> Option<&(dyn Any + Send + Sync)> {
        self.builders.get(&key).map(|b| b.as_ref())
    }
    fn add_builder(&mut self, key: TypeId, f: Box<dyn Any + Send + Sync>) {
        self.builders.insert(key, f);
    }
}

/// The methods a program knows, in the order tables list them.
pub struct Registry {
    methods: Vec<Box<dyn Entry>>,
}

impl Registry {
    /// No methods.
    pub fn empty() -> Self {
        Registry {
            methods: Vec::new(),
        }
    }

    /// A new registry of synaptic's own methods, to add one's own to.
    pub fn standard() -> Self {
        let mut r = Registry::empty();
        // The one list of built-in methods, in the order tables show them.
        r.register::<si::Si>()
            .register::<ewc::Ewc>()
            .register::<online_ewc::OnlineEwc>()
            .register::<mas::Mas>()
            .register::<l2::L2>()
            .register::<finetune::Finetune>()
            .register::<joint::Joint>()
            .register::<scratch::Scratch>();
        r
    }

    /// synaptic's own methods: SI, EWC, online EWC, MAS, L2, finetune, joint, scratch.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(Registry::standard)
    }

    /// Adds `T` (replacing a method of the same name), buildable for synaptic's own networks on
    /// every compiled backend; [`Registry::register_for`] adds other (backend, model) pairs.
    pub fn register<T: Method>(&mut self) -> &mut Self {
        use crate::backend::CpuAutodiff;
        use crate::model::{Cnn, Mlp};
        let mut r = Registered::<T> {
            builders: HashMap::new(),
            _t: std::marker::PhantomData,
        };
        r.add::<CpuAutodiff, Mlp<CpuAutodiff>>();
        r.add::<CpuAutodiff, Cnn<CpuAutodiff>>();
        #[cfg(feature = "cuda")]
        {
            use crate::backend::CudaAutodiff;
            r.add::<CudaAutodiff, Mlp<CudaAutodiff>>();
            r.add::<CudaAutodiff, Cnn<CudaAutodiff>>();
        }
        match self.methods.iter().position(|m| m.name() == T::NAME) {
            Some(k) => self.methods[k] = Box::new(r),
            None => self.methods.push(Box::new(r)),
        }
        self
    }

    /// Makes `T` (registered if it is not yet) buildable for model `M` on backend `B` too.
    pub fn register_for<T: Method, B: AutodiffBackend, M: TrainModel<B>>(&mut self) -> &mut Self {
        if self.get(T::NAME).is_none() {
            self.register::<T>();
        }
        let f: BuildFn<B, M> = build::<T, B, M>;
        if let Some(m) = self.methods.iter_mut().find(|m| m.name() == T::NAME) {
            m.add_builder(TypeId::of::<(B, M)>(), Box::new(f));
        }
        self
    }

    /// The methods, in order.
    pub fn all(&self) -> impl Iterator<Item = &dyn Entry> {
        self.methods.iter().map(|m| m.as_ref())
    }

    /// The method called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Entry> {
        self.all().find(|m| m.name() == name)
    }

    /// The method called `name`, or an error listing the known ones.
    pub fn find(&self, name: &str) -> Result<&dyn Entry, MethodError> {
        self.get(name).ok_or_else(|| MethodError::Unknown {
            name: name.into(),
            known: self.names(),
        })
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.all().map(|m| m.name()).collect()
    }

    /// Where `name` stands in table order (unknown names last).
    pub fn rank(&self, name: &str) -> usize {
        self.all()
            .position(|m| m.name() == name)
            .unwrap_or(self.methods.len())
    }

    /// How tables show `name` (its label; an unknown name as it is).
    pub fn label(&self, name: &str) -> String {
        self.get(name)
            .map_or_else(|| name.to_string(), |m| m.label().to_string())
    }

    /// The methods that take option `key`.
    pub fn users(&self, key: &str) -> Vec<&'static str> {
        self.all()
            .filter(|m| m.keys().contains(&key))
            .map(|m| m.name())
            .collect()
    }

    /// Every option of every method, once per key (the first method's spec), in order.
    pub fn flags(&self) -> Vec<OptionSpec> {
        let mut out: Vec<OptionSpec> = Vec::new();
        for m in self.all() {
            for f in m.flags() {
                if !out.iter().any(|o| o.key == f.key) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// The config of method `name` with default options for `benchmark`.
    pub fn defaults(&self, name: &str, benchmark: Benchmark) -> Result<MethodConfig, MethodError> {
        let m = self.find(name)?;
        Ok(MethodConfig {
            name: m.name().to_string(),
            options: m.defaults(benchmark),
        })
    }

    /// Parses `options` for method `name` into a checked config.
    pub fn config(&self, name: &str, options: Options) -> Result<MethodConfig, MethodError> {
        let m = self.find(name)?;
        let options = m.parse(options)?;
        Ok(MethodConfig {
            name: m.name().to_string(),
            options,
        })
    }

    /// The regulariser of `cfg` for model `M` on backend `B` (`None`: plain training).
    pub fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        &self,
        cfg: &MethodConfig,
        ctx: &BuildContext,
    ) -> Result<BoxedRegularizer<B, M>, MethodError> {
        let m = self.find(&cfg.name)?;
        let f = m
            .builder(TypeId::of::<(B, M)>())
            .and_then(|b| b.downcast_ref::<BuildFn<B, M>>())
            .ok_or_else(|| MethodError::NotRegistered(cfg.name.clone()))?;
        f(&cfg.options, ctx)
    }
}

#[cfg(test)]
mod tests;
