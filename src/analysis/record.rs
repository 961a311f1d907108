//! [`ImportanceRecorder`]: a task-end hook of the training loop ([`TaskHook`]) that measures, on
//! the model as it is right after each task: SI's importance (Ω and this task's ω/((θ−θ̃)²+ξ)),
//! the diagonal Fisher (exact estimator) and MAS's importance, and saves them under
//! `OUT/importance/` ([`super::index::ImportanceIndex`]). [`attach`] sets a run up for it.
//!
//! The run trains exactly as without it:
//! - With `--method si` the run's own SI is read through its state (nothing added per step):
//!   ω and θ̃ before SI's end-of-task update, Ω after it.
//! - With any other method, [`WithPassiveSi`] puts an SI estimator of strength 0 (no penalty,
//!   same ξ, the task gradient) beside the method's regulariser, which receives the same
//!   gradients and the same task examples as without it.
//! - Fisher and MAS are measured after the method's own `end_task`, on the first N of the task
//!   examples the loop draws from its own seeded generator (the loop draws a longer list when the
//!   recorder wants more examples than the method; the method still sees its first N). The
//!   minibatch order is untouched, and the backend generator is re-seeded before every step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::index::{ImportanceIndex, ParamInfo, TaskEntry, ESTIMATORS, FORMAT};
use crate::config::RunConfig;
use crate::method::si::Si;
use crate::method::{Method, Registry};
use crate::model::Classifier;
use crate::regularizer::ewc::fisher_diagonal;
use crate::regularizer::mas::mas_importance;
use crate::regularizer::state::host;
use crate::regularizer::{
    Consolidator, FisherEstimator, NonFinite, ParamImportance, Regularizer, RegularizerState,
    SiConfig, StateError, SynapticIntelligence, TaskSamples,
};
use crate::train::{HookError, TaskHook};

/// Prefix of the passive SI estimator's keys in a checkpoint's regulariser state.
const OBSERVER: &str = "observer.si/";

/// Path, shape and id of every float parameter, in visit order.
pub fn param_shapes<B: Backend, M: burn::module::Module<B>>(
    model: &M,
) -> Vec<(String, Vec<usize>, ParamId)> {
    struct Shapes {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>, ParamId)>,
    }
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.out
                .push((self.path.join("."), param.val().dims().to_vec(), param.id));
        }
    }
    let mut v = Shapes {
        path: Vec::new(),
        out: Vec::new(),
    };
    model.visit(&mut v);
    v.out
}

/// Saves SI's importance, the Fisher and MAS's importance at every task end (module docs).
pub struct ImportanceRecorder {
    /// Where SI's keys sit in the regulariser's state: "" for the run's own SI, the observer's
    /// prefix next to another method.
    prefix: &'static str,
    xi: f32,
    samples: usize,
    dir: PathBuf,
    template: ImportanceIndex,
    task_names: Vec<String>,
    /// SI as it stood before the task's end.
    before: Vec<ParamImportance>,
}

/// Sets a run of `cfg` up for `--save-importance` into `dir`: returns the regulariser the loop
/// should use (the method's own, or it with a passive SI beside it) and the recorder to hook in.
pub fn attach<B, M>(
    cfg: &RunConfig,
    registry: &Registry,
    method: Option<Box<dyn Regularizer<B, M>>>,
    task_names: Vec<String>,
    dir: &Path,
) -> (Option<Box<dyn Regularizer<B, M>>>, ImportanceRecorder)
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B> + 'static,
{
    let own = cfg.method.typed::<Si>();
    let primary = own.is_some();
    let options = own.unwrap_or_else(|| Si::defaults(cfg.benchmark));
    let samples = cfg.importance_samples(registry);
    let template = ImportanceIndex {
        format: FORMAT.into(),
        benchmark: cfg.benchmark.name().into(),
        scenario: cfg.scenario.to_string(),
        method: cfg.method.name().into(),
        seed: cfg.train.seed,
        si_source: if primary { "method" } else { "observer" }.into(),
        xi: options.xi,
        samples,
        fisher_estimator: "exact".into(),
        excluded: if primary {
            options.exclude.clone()
        } else {
            Vec::new()
        },
        estimators: ESTIMATORS
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect(),
        params: Vec::new(),
        tasks: Vec::new(),
    };
    let recorder = ImportanceRecorder {
        prefix: if primary { "" } else { OBSERVER },
        xi: options.xi as f32,
        samples,
        dir: dir.to_path_buf(),
        template,
        task_names,
        before: Vec::new(),
    };
    let reg: Option<Box<dyn Regularizer<B, M>>> = if primary {
        method
    } else {
        Some(Box::new(WithPassiveSi {
            method,
            // Strength 0: no penalty, no effect on the gradients; the paper's switches.
            si: Consolidator::<B, _>::new(SiConfig::new(0.0, options.xi)),
        }))
    };
    (reg, recorder)
}

impl ImportanceRecorder {
    /// SI's ω, Ω and θ̃ per parameter of `model`, read from the regulariser's state.
    fn snapshot<B, M>(&self, model: &M, reg: Option<&dyn Regularizer<B, M>>) -> Vec<ParamImportance>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + 'static,
    {
        let state = reg.map(|r| r.state()).unwrap_or_default();
        let p = self.prefix;
        param_shapes::<B, M>(model)
            .into_iter()
            .map(|(path, shape, _)| {
                let n: usize = shape.iter().product();
                let get = |key: String| {
                    state
                        .tensors
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| vec![0.0; n])
                };
                ParamImportance {
                    omega: get(format!("{p}si.omega:{path}")),
                    importance: get(format!("{p}importance0:{path}")),
                    anchor: get(format!("{p}reference:{path}")),
                    path,
                }
            })
            .collect()
    }
}

impl<B, M> TaskHook<B, M> for ImportanceRecorder
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B> + 'static,
{
    fn samples_wanted(&self) -> usize {
        self.samples
    }

    fn before_end_task(&mut self, model: &M, _task: usize, reg: Option<&dyn Regularizer<B, M>>) {
        self.before = self.snapshot(model, reg);
    }

    fn after_end_task(
        &mut self,
        model: &M,
        task: usize,
        samples: &dyn TaskSamples<B>,
        reg: Option<&dyn Regularizer<B, M>>,
    ) -> Result<(), HookError> {
        let after = self.snapshot(model, reg);
        let before = std::mem::take(&mut self.before);
        self.record(model, task, samples, &before, &after)
            .map_err(|e| format!("saving importances: {e}").into())
    }
}

impl ImportanceRecorder {
    fn record<B, M>(
        &self,
        model: &M,
        task: usize,
        samples: &dyn TaskSamples<B>,
        before: &[ParamImportance],
        after: &[ParamImportance],
    ) -> Result<(), super::AnalysisError>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Classifier<B>,
    {
        let t0 = Instant::now();
        let xi = self.xi;
        let n = self.samples.min(samples.len());
        // The exact estimator draws nothing; the generator is only there for the signature.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let fisher = fisher_diagonal(model, samples, FisherEstimator::Exact, n, &mut rng);
        let mas = mas_importance(model, samples, n);
        let shapes = param_shapes::<B, M>(model);
        let mut files: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (est, _) in ESTIMATORS {
            let d = self.dir.join(format!("task{task}")).join(est);
            std::fs::create_dir_all(&d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        for (path, shape, id) in &shapes {
            let len: usize = shape.iter().product();
            let find = |s: &[ParamImportance]| s.iter().find(|p| &p.path == path).cloned();
            let (b, a) = (find(before), find(after));
            let zeros = || vec![0.0f32; len];
            let si_omega = a.as_ref().map_or_else(zeros, |a| a.importance.clone());
            let si_task = match (&b, &a) {
                (Some(b), Some(a)) => b
                    .omega
                    .iter()
                    .zip(&a.anchor)
                    .zip(&b.anchor)
                    .map(|((w, th), th0)| {
                        let d = th - th0;
                        w / (d * d + xi)
                    })
                    .collect(),
                _ => zeros(),
            };
            let f = fisher.get(id).map_or_else(zeros, host);
            let m = mas.get(id).map_or_else(zeros, host);
            for (est, data) in [
                ("si_omega", si_omega),
                ("si_task", si_task),
                ("fisher", f),
                ("mas", m),
            ] {
                let rel = format!("task{task}/{est}/{path}.npy");
                let file = self.dir.join(&rel);
                super::npy::write_f32(&file, shape, &data)
                    .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                files
                    .entry(est.to_string())
                    .or_default()
                    .insert(path.clone(), rel);
            }
        }
        // Earlier tasks' entries (this run's, or the interrupted run's it resumes) stay.
        let index_path = self.dir.join("index.json");
        let mut index = std::fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<ImportanceIndex>(&b).ok())
            .unwrap_or_else(|| self.template.clone());
        index.params = shapes
            .iter()
            .map(|(path, shape, _)| ParamInfo {
                path: path.clone(),
                shape: shape.clone(),
            })
            .collect();
        index.tasks.retain(|t| t.task < task);
        index.tasks.push(TaskEntry {
            task,
            name: self
                .task_names
                .get(task)
                .cloned()
                .unwrap_or_else(|| format!("task {}", task + 1)),
            samples: n,
            seconds: t0.elapsed().as_secs_f64(),
            files,
        });
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| e.to_string())?;
        crate::fsutil::write_atomic(&index_path, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", index_path.display()).into())
    }
}

/// A method's regulariser with SI of strength 0 beside it, measuring SI's importance along the
/// same training path (two regularisers per step, so the loop takes the unfused step).
pub struct WithPassiveSi<B: AutodiffBackend, M> {
    /// The method's own regulariser (`None` for finetune, joint, scratch).
    method: Option<Box<dyn Regularizer<B, M>>>,
    si: SynapticIntelligence<B>,
}

impl<B, M> Regularizer<B, M> for WithPassiveSi<B, M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B> + 'static,
{
    fn init(&mut self, model: &M) {
        if let Some(r) = self.method.as_deref_mut() {
            r.init(model);
        }
        Regularizer::<B, M>::init(&mut self.si, model);
    }

    fn before_step(&mut self, model: &M, grads: GradientsParams) -> GradientsParams {
        // The passive estimator sees the task-loss gradients and hands them on unchanged (its
        // strength is 0); the method then adds its penalty as it would alone.
        let grads = Regularizer::<B, M>::before_step(&mut self.si, model, grads);
        match self.method.as_deref_mut() {
            Some(r) => r.before_step(model, grads),
            None => grads,
        }
    }

    fn after_step(&mut self, model: &M) {
        if let Some(r) = self.method.as_deref_mut() {
            r.after_step(model);
        }
        Regularizer::<B, M>::after_step(&mut self.si, model);
    }

    fn samples_wanted(&self) -> usize {
        self.method.as_deref().map_or(0, |r| r.samples_wanted())
    }

    fn end_task(
        &mut self,
        model: &M,
        task: usize,
        samples: &dyn TaskSamples<B>,
    ) -> Result<(), NonFinite> {
        if let Some(r) = self.method.as_deref_mut() {
            r.end_task(model, task, samples)?;
        }
        Regularizer::<B, M>::end_task(&mut self.si, model, task, samples)
    }

    fn penalty(&self, model: &M) -> f64 {
        self.method.as_deref().map_or(0.0, |r| r.penalty(model))
    }

    fn state(&self) -> RegularizerState {
        let si = Regularizer::<B, M>::state(&self.si);
        let mut st = self
            .method
            .as_deref()
            .map(|r| r.state())
            .unwrap_or_default();
        for (k, v) in si.counters {
            st.counters.insert(format!("{OBSERVER}{k}"), v);
        }
        for (k, v) in si.tensors {
            st.tensors.insert(format!("{OBSERVER}{k}"), v);
        }
        st
    }

    fn load_state(&mut self, model: &M, state: &RegularizerState) -> Result<(), StateError> {
        let (mut mine, mut theirs) = (RegularizerState::default(), RegularizerState::default());
        for (k, v) in &state.counters {
            match k.strip_prefix(OBSERVER) {
                Some(k) => mine.counters.insert(k.to_string(), *v),
                None => theirs.counters.insert(k.clone(), *v),
            };
        }
        for (k, v) in &state.tensors {
            match k.strip_prefix(OBSERVER) {
                Some(k) => mine.tensors.insert(k.to_string(), v.clone()),
                None => theirs.tensors.insert(k.clone(), v.clone()),
            };
        }
        if mine.counters.is_empty() {
            return Err(StateError::NoImportanceObserver);
        }
        if let Some(r) = self.method.as_deref_mut() {
            r.load_state(model, &theirs)?;
        }
        Regularizer::<B, M>::load_state(&mut self.si, model, &mine)
    }
}
