//! The inference interface: what an analyzer needs from an inference backend, and nothing
//! about any particular runtime.
//!
//! Analyzers (`detect`, `pose`, `face`) prepare input tensors (`visualpath-vision`), call
//! [`Model::run`], and hand the outputs to a tensor decoder. The ONNX Runtime backend
//! (`visualpath-infer-ort`) implements [`Model`]; another backend (TensorRT, tract) would
//! implement the same trait without touching the analyzers.
//!
//! Outputs are always delivered as `f32` (integer outputs are converted): every decoder
//! works on `f32`, and the outputs of detection models are small.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Element type of a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementType {
    /// 32-bit float.
    F32,
    /// 8-bit unsigned.
    U8,
    /// 32-bit signed.
    I32,
    /// 64-bit signed.
    I64,
    /// Anything else, by name.
    Other(String),
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::F32 => f.write_str("float32"),
            Self::U8 => f.write_str("uint8"),
            Self::I32 => f.write_str("int32"),
            Self::I64 => f.write_str("int64"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// A model input or output as the model declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name in the model.
    pub name: String,
    /// Element type.
    pub element: ElementType,
    /// Dimensions; `None` where the model leaves a dimension free.
    pub shape: Vec<Option<usize>>,
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}{}",
            self.name,
            self.element,
            ShapeDisplay(&self.shape)
        )
    }
}

/// Displays a declared shape as `[1, ?, ?, 3]`.
pub struct ShapeDisplay<'a>(pub &'a [Option<usize>]);

impl fmt::Display for ShapeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match d {
                Some(n) => write!(f, "{n}")?,
                None => f.write_str("?")?,
            }
        }
        f.write_str("]")
    }
}

/// A model's declared inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelInfo {
    /// Inputs in order.
    pub inputs: Vec<TensorInfo>,
    /// Outputs in order.
    pub outputs: Vec<TensorInfo>,
}

impl fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[TensorInfo]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "inputs: {}; outputs: {}",
            list(&self.inputs),
            list(&self.outputs)
        )
    }
}

/// Borrowed input data.
#[derive(Debug, Clone, Copy)]
pub enum InputData<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// Bytes.
    U8(&'a [u8]),
    /// 32-bit integers.
    I32(&'a [i32]),
}

impl InputData<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(d) => d.len(),
            Self::U8(d) => d.len(),
            Self::I32(d) => d.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One input of a run, by position.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Shape.
    pub shape: &'a [usize],
    /// Data, row-major, `shape.iter().product()` elements.
    pub data: InputData<'a>,
}

/// One output of a run (buffers are reused between runs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Name in the model.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Data as f32, row-major.
    pub data: Vec<f32>,
}

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Device {
    /// The fastest accelerator the runtime has (TensorRT, CUDA, OpenVINO), else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// An NVIDIA GPU through CUDA.
    Cuda(u32),
    /// An NVIDIA GPU through TensorRT.
    TensorRt(u32),
    /// Intel devices through OpenVINO.
    OpenVino,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::TensorRt(n) => write!(f, "tensorrt:{n}"),
            Self::OpenVino => f.write_str("openvino"),
        }
    }
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid device `{s}`: write `auto`, `cpu`, `cuda:N`, `tensorrt:N` or `openvino`"
            )
        };
        let index = |rest: &str| -> Result<u32, String> {
            if rest.is_empty() {
                Ok(0)
            } else {
                rest.strip_prefix(':')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(bad)
            }
        };
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "openvino" => Ok(Self::OpenVino),
            _ => {
                if let Some(rest) = s.strip_prefix("cuda") {
                    Ok(Self::Cuda(index(rest)?))
                } else if let Some(rest) = s.strip_prefix("tensorrt") {
                    Ok(Self::TensorRt(index(rest)?))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl Serialize for Device {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Device {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Device".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(auto|cpu|openvino|cuda(:[0-9]+)?|tensorrt(:[0-9]+)?)$",
            "description": "Where a model runs: `auto` (the fastest accelerator the ONNX Runtime library has, else the CPU), `cpu`, `cuda:N`, `tensorrt:N`, `openvino`."
        })
    }
}

/// How to load a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LoadOptions {
    /// Where to run.
    pub device: Device,
    /// Threads for one inference (0: the runtime's default, one per core).
    pub threads: usize,
}

/// Why inference failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    /// The runtime library is missing or unusable.
    #[error("{0}")]
    Runtime(String),
    /// The model could not be loaded.
    #[error("{0}")]
    Load(String),
    /// The requested device is not available.
    #[error("{0}")]
    Device(String),
    /// A run failed.
    #[error("{0}")]
    Run(String),
}

/// A loaded model. Shared by every camera that uses it; `run` may be called from several
/// threads (the backend serialises or parallelises as it can).
pub trait Model: Send + Sync {
    /// Declared inputs and outputs.
    fn info(&self) -> &ModelInfo;

    /// Runs the model. `outputs` is resized to the model's outputs and its buffers reused.
    fn run(&self, inputs: &[Input<'_>], outputs: &mut Vec<Output>) -> Result<(), InferError>;

    /// For logs: runtime, version, execution provider, threads.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_display() {
        for (s, d) in [
            ("auto", Device::Auto),
            ("cpu", Device::Cpu),
            ("cuda", Device::Cuda(0)),
            ("cuda:1", Device::Cuda(1)),
            ("tensorrt:0", Device::TensorRt(0)),
            ("openvino", Device::OpenVino),
        ] {
            assert_eq!(s.parse::<Device>().unwrap(), d);
        }
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        let e = "gpu".parse::<Device>().unwrap_err();
        assert_eq!(
            e,
            "invalid device `gpu`: write `auto`, `cpu`, `cuda:N`, `tensorrt:N` or `openvino`"
        );
        assert!("cuda:x".parse::<Device>().is_err());
    }

    #[test]
    fn shapes_display() {
        let t = TensorInfo {
            name: "image_tensor:0".into(),
            element: ElementType::U8,
            shape: vec![Some(1), None, None, Some(3)],
        };
        assert_eq!(t.to_string(), "image_tensor:0 uint8[1, ?, ?, 3]");
    }
}
