//! ONNX Runtime backend for [`visualpath_infer`].
//!
//! - The runtime library (`libonnxruntime.so.1.31.1`) is loaded at run time, from
//!   `ORT_DYLIB_PATH` or the places [`library_candidates`] lists; a missing or mismatched
//!   library is an error naming where it looked and how to fix it, never a panic.
//! - [`load`] keeps one session per (model file, device, threads): every camera that uses
//!   a model shares it. ORT sessions need exclusive access to run, so runs on one shared
//!   session are serialised; each run uses `threads` intra-op threads.
//! - `device: auto` picks TensorRT, CUDA or OpenVINO when the library has them, else the
//!   CPU, and logs which; an explicit accelerator that is missing is an error.
//! - Graph optimisation is `All`, as in Python's onnxruntime, so both run the same graph.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};
use parking_lot::Mutex;
use visualpath_infer::{
    Device, ElementType, InferError, Input, InputData, LoadOptions, Model, ModelInfo, Output,
    TensorInfo,
};

/// The ONNX Runtime version this backend is built for.
pub const ORT_VERSION: &str = "1.31.1";
const LIB_NAME: &str = "libonnxruntime.so.1.31.1";

/// Where the runtime library is looked for, in order. `ORT_DYLIB_PATH`, when set, is the
/// only place: a wrong explicit path is an error rather than a silent fallback to another
/// copy of the library.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        v.push(PathBuf::from(p));
        return v;
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        if let Some(d) = &dir {
            v.push(d.join(LIB_NAME));
        }
        // target/{debug,release}[/deps]/binary -> <repo>/third_party/onnxruntime
        for _ in 0..5 {
            let Some(d) = dir else { break };
            v.push(d.join("third_party/onnxruntime").join(LIB_NAME));
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    v.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../third_party/onnxruntime")
            .join(LIB_NAME),
    );
    for d in [
        "/usr/local/lib",
        "/usr/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ] {
        v.push(Path::new(d).join(LIB_NAME));
    }
    v
}

fn environment() -> Result<&'static Environment, InferError> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let candidates = library_candidates();
        let Some(lib) = candidates.iter().find(|p| p.is_file()) else {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "ONNX Runtime library {LIB_NAME} not found (looked in: {}); run scripts/fetch-onnxruntime.sh, or set ORT_DYLIB_PATH to the library",
                looked.join(", ")
            ));
        };
        let builder = ort::init_from(lib).map_err(|e| {
            format!(
                "cannot load ONNX Runtime from `{}`: {e}; visualpath needs ONNX Runtime {ORT_VERSION} (scripts/fetch-onnxruntime.sh fetches it)",
                lib.display()
            )
        })?;
        let env = builder.with_name("visualpath").build().map_err(|e| {
            format!("cannot start ONNX Runtime from `{}`: {e}; visualpath needs ONNX Runtime {ORT_VERSION}", lib.display())
        })?;
        tracing::debug!(library = %lib.display(), "ONNX Runtime loaded");
        Ok(env)
    })
    .as_ref()
    .map_err(|e| InferError::Runtime(e.clone()))
}

/// Checks that the runtime library can be loaded (for `visualpath models info`, tests).
pub fn runtime_available() -> Result<(), InferError> {
    environment().map(|_| ())
}

/// Execution providers this library has, by name (`CUDAExecutionProvider`, ...).
pub fn providers() -> Vec<&'static str> {
    let mut v = Vec::new();
    if environment().is_err() {
        return v;
    }
    if <ep::TensorRT as ExecutionProvider>::is_available().unwrap_or(false) {
        v.push("TensorRT");
    }
    if <ep::CUDA as ExecutionProvider>::is_available().unwrap_or(false) {
        v.push("CUDA");
    }
    if <ep::OpenVINO as ExecutionProvider>::is_available().unwrap_or(false) {
        v.push("OpenVINO");
    }
    v.push("CPU");
    v
}

fn element(t: TensorElementType) -> ElementType {
    match t {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Uint8 => ElementType::U8,
        TensorElementType::Int32 => ElementType::I32,
        TensorElementType::Int64 => ElementType::I64,
        other => ElementType::Other(format!("{other:?}").to_lowercase()),
    }
}

fn tensor_info(name: &str, ty: &ValueType) -> TensorInfo {
    let (element, shape) = match ty {
        ValueType::Tensor { ty, shape, .. } => (
            element(*ty),
            shape.iter().map(|d| usize::try_from(*d).ok()).collect(),
        ),
        other => (ElementType::Other(format!("{other:?}")), Vec::new()),
    };
    TensorInfo {
        name: name.to_owned(),
        element,
        shape,
    }
}

/// A model loaded in ONNX Runtime.
pub struct OrtModel {
    session: Mutex<Session>,
    info: ModelInfo,
    describe: String,
}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

type Key = (PathBuf, Device, usize);

fn cache() -> &'static Mutex<HashMap<Key, Weak<OrtModel>>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Weak<OrtModel>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads `path` (or returns the session already loaded with the same options).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Arc<OrtModel>, InferError> {
    let canonical = path.canonicalize().map_err(|e| {
        InferError::Load(format!(
            "model file `{}` cannot be opened: {e}",
            path.display()
        ))
    })?;
    let key = (canonical.clone(), opts.device, opts.threads);
    let mut cache = cache().lock();
    if let Some(m) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(m);
    }
    cache.retain(|_, w| w.strong_count() > 0);
    let model = Arc::new(OrtModel::open(&canonical, opts)?);
    cache.insert(key, Arc::downgrade(&model));
    Ok(model)
}

impl OrtModel {
    fn open(path: &Path, opts: &LoadOptions) -> Result<Self, InferError> {
        let env = environment()?;
        let shown = path.display();
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            InferError::Load(format!("model `{shown}`: {what}: {e}"))
        };
        let mut b = Session::builder(env).map_err(|e| fail("cannot create a session", &e))?;
        b = b
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| fail("cannot set the optimisation level", &e))?;
        if opts.threads > 0 {
            b = b
                .with_intra_threads(opts.threads)
                .map_err(|e| fail("cannot set the thread count", &e))?;
        }
        let (provider, eps) = choose_provider(opts.device)?;
        if !eps.is_empty() {
            b = b
                .with_execution_providers(eps)
                .map_err(|e| fail(&format!("cannot enable {provider}"), &e))?;
        }
        let session = b.commit_from_file(path).map_err(|e| {
            let msg = e.to_string();
            if msg.contains("protobuf")
                || msg.contains("Protobuf")
                || msg.contains("INVALID_PROTOBUF")
            {
                InferError::Load(format!("model `{shown}` is not a valid ONNX file ({msg})"))
            } else {
                InferError::Load(format!("model `{shown}` cannot be loaded: {msg}"))
            }
        })?;
        let info = ModelInfo {
            inputs: session
                .inputs()
                .iter()
                .map(|o| tensor_info(o.name(), o.dtype()))
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|o| tensor_info(o.name(), o.dtype()))
                .collect(),
        };
        let threads = if opts.threads == 0 {
            "default".to_string()
        } else {
            opts.threads.to_string()
        };
        let describe = format!("onnxruntime {ORT_VERSION}, {provider}, {threads} threads");
        tracing::debug!(model = %shown, provider, threads, "model loaded");
        Ok(Self {
            session: Mutex::new(session),
            info,
            describe,
        })
    }
}

fn choose_provider(
    device: Device,
) -> Result<(&'static str, Vec<ep::ExecutionProviderDispatch>), InferError> {
    let available = providers();
    let has = |n: &str| available.contains(&n);
    let missing = |what: &str| {
        InferError::Device(format!(
            "device `{device}` needs the {what} execution provider, which this ONNX Runtime library does not have (it has: {}); install an ONNX Runtime build with {what} or use `device: cpu`",
            available.join(", ")
        ))
    };
    Ok(match device {
        Device::Cpu => ("CPU", Vec::new()),
        Device::Cuda(n) => {
            if !has("CUDA") {
                return Err(missing("CUDA"));
            }
            (
                "CUDA",
                vec![
                    ep::CUDA::default()
                        .with_device_id(n as i32)
                        .build()
                        .error_on_failure(),
                ],
            )
        }
        Device::TensorRt(n) => {
            if !has("TensorRT") {
                return Err(missing("TensorRT"));
            }
            (
                "TensorRT",
                vec![
                    ep::TensorRT::default()
                        .with_device_id(n as i32)
                        .build()
                        .error_on_failure(),
                ],
            )
        }
        Device::OpenVino => {
            if !has("OpenVINO") {
                return Err(missing("OpenVINO"));
            }
            (
                "OpenVINO",
                vec![ep::OpenVINO::default().build().error_on_failure()],
            )
        }
        Device::Auto => {
            if has("TensorRT") {
                ("TensorRT", vec![ep::TensorRT::default().build()])
            } else if has("CUDA") {
                ("CUDA", vec![ep::CUDA::default().build()])
            } else if has("OpenVINO") {
                ("OpenVINO", vec![ep::OpenVINO::default().build()])
            } else {
                ("CPU", Vec::new())
            }
        }
    })
}

fn run_err(e: ort::Error) -> InferError {
    InferError::Run(e.to_string())
}

impl Model for OrtModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn run(&self, inputs: &[Input<'_>], outputs: &mut Vec<Output>) -> Result<(), InferError> {
        if inputs.len() != self.info.inputs.len() {
            return Err(InferError::Run(format!(
                "the model takes {} inputs, {} given",
                self.info.inputs.len(),
                inputs.len()
            )));
        }
        let mut values = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let n: usize = input.shape.iter().product();
            if n != input.data.len() {
                return Err(InferError::Run(format!(
                    "input {i}: shape {:?} needs {n} elements, {} given",
                    input.shape,
                    input.data.len()
                )));
            }
            let shape = input.shape.to_vec();
            let v: ort::session::SessionInputValue<'_> = match input.data {
                InputData::F32(d) => TensorRef::from_array_view((shape, d))
                    .map_err(run_err)?
                    .into(),
                InputData::U8(d) => TensorRef::from_array_view((shape, d))
                    .map_err(run_err)?
                    .into(),
                InputData::I32(d) => TensorRef::from_array_view((shape, d))
                    .map_err(run_err)?
                    .into(),
            };
            values.push((self.info.inputs[i].name.clone(), v));
        }
        let mut session = self.session.lock();
        let result = session.run(values).map_err(run_err)?;
        outputs.resize_with(self.info.outputs.len(), Output::default);
        for (i, (name, value)) in result.iter().enumerate() {
            let Some(out) = outputs.get_mut(i) else { break };
            out.name.clear();
            out.name.push_str(name);
            out.data.clear();
            out.shape.clear();
            if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
                out.shape.extend(shape.iter().map(|d| *d as usize));
                out.data.extend_from_slice(data);
            } else if let Ok((shape, data)) = value.try_extract_tensor::<i64>() {
                out.shape.extend(shape.iter().map(|d| *d as usize));
                out.data.extend(data.iter().map(|v| *v as f32));
            } else if let Ok((shape, data)) = value.try_extract_tensor::<i32>() {
                out.shape.extend(shape.iter().map(|d| *d as usize));
                out.data.extend(data.iter().map(|v| *v as f32));
            } else if let Ok((shape, data)) = value.try_extract_tensor::<u8>() {
                out.shape.extend(shape.iter().map(|d| *d as usize));
                out.data.extend(data.iter().map(|v| f32::from(*v)));
            } else {
                return Err(InferError::Run(format!(
                    "output `{name}` is not a numeric tensor ({:?})",
                    value.dtype()
                )));
            }
        }
        Ok(())
    }
}
