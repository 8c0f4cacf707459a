//! `GET /api/system_stats`, typed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a ComfyUI server says about itself (`GET /api/system_stats`): versions, RAM and
/// the compute devices. There is no utilisation, temperature or queue depth in it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SystemStats {
    /// E.g. `0.3.75`; empty if the server does not say (very old versions).
    pub comfyui_version: String,
    /// The server's Python (`3.11.7 (main, ...)`).
    pub python_version: String,
    /// E.g. `2.9.1+cu128`.
    pub pytorch_version: String,
    /// `posix` or `nt`.
    pub os: String,
    /// Bytes of RAM in the machine.
    pub ram_total: u64,
    /// Bytes of RAM free.
    pub ram_free: u64,
    /// The devices ComfyUI computes on (one `cpu` device with `--cpu`).
    pub devices: Vec<Device>,
}

/// One compute device of [`SystemStats`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Device {
    /// E.g. `cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync`, or `cpu`.
    pub name: String,
    /// The JSON `type`: `cuda`, `cpu`, `mps`, ...
    pub kind: String,
    /// The device index; `None` for the CPU.
    pub index: Option<u64>,
    /// Bytes of device memory (RAM for the CPU).
    pub vram_total: u64,
    /// Bytes of device memory free.
    pub vram_free: u64,
}

#[derive(Deserialize)]
struct Raw {
    system: RawSystem,
    #[serde(default)]
    devices: Vec<RawDevice>,
}

#[derive(Deserialize)]
struct RawSystem {
    #[serde(default)]
    comfyui_version: Option<String>,
    #[serde(default)]
    python_version: Option<String>,
    #[serde(default)]
    pytorch_version: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    ram_total: Option<f64>,
    #[serde(default)]
    ram_free: Option<f64>,
}

#[derive(Deserialize)]
struct RawDevice {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    index: Option<f64>,
    #[serde(default)]
    vram_total: Option<f64>,
    #[serde(default)]
    vram_free: Option<f64>,
}

/// Bytes reported as a JSON number (some builds report floats).
fn bytes(v: Option<f64>) -> u64 {
    match v {
        Some(f) if f.is_finite() && f > 0.0 => f as u64,
        _ => 0,
    }
}

/// Parses the body of `GET /api/system_stats`; the error says what is missing.
pub(crate) fn parse(v: &Value) -> Result<SystemStats, String> {
    let raw = Raw::deserialize(v).map_err(|e| format!("system_stats: {e}"))?;
    Ok(SystemStats {
        comfyui_version: raw.system.comfyui_version.unwrap_or_default(),
        python_version: raw.system.python_version.unwrap_or_default(),
        pytorch_version: raw.system.pytorch_version.unwrap_or_default(),
        os: raw.system.os.unwrap_or_default(),
        ram_total: bytes(raw.system.ram_total),
        ram_free: bytes(raw.system.ram_free),
        devices: raw
            .devices
            .into_iter()
            .map(|d| Device {
                name: d.name.unwrap_or_default(),
                kind: d.kind.unwrap_or_default(),
                index: d
                    .index
                    .filter(|i| i.is_finite() && *i >= 0.0)
                    .map(|i| i as u64),
                vram_total: bytes(d.vram_total),
                vram_free: bytes(d.vram_free),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_cpu_server() {
        let v = json!({"system": {"os": "posix", "ram_total": 25324953600u64, "ram_free": 24067088384u64,
            "comfyui_version": "0.3.75", "python_version": "3.11.7 (main)", "pytorch_version": "2.9.1+cu128",
            "embedded_python": false, "argv": ["main.py"]},
            "devices": [{"name": "cpu", "type": "cpu", "index": null, "vram_total": 25324953600u64,
            "vram_free": 24067088384u64, "torch_vram_total": 1, "torch_vram_free": 1}]});
        let s = parse(&v).unwrap();
        assert_eq!(s.comfyui_version, "0.3.75");
        assert_eq!(s.pytorch_version, "2.9.1+cu128");
        assert_eq!(s.os, "posix");
        assert_eq!(s.ram_total, 25324953600);
        assert_eq!(
            s.devices,
            vec![Device {
                name: "cpu".into(),
                kind: "cpu".into(),
                index: None,
                vram_total: 25324953600,
                vram_free: 24067088384
            }]
        );
    }

    #[test]
    fn parses_a_gpu_and_tolerates_missing_fields() {
        let v = json!({"system": {}, "devices": [{"name": "cuda:0 RTX", "type": "cuda", "index": 0, "vram_total": 2.5e10}]});
        let s = parse(&v).unwrap();
        assert_eq!(s.comfyui_version, "");
        assert_eq!(s.devices[0].index, Some(0));
        assert_eq!(s.devices[0].kind, "cuda");
        assert_eq!(s.devices[0].vram_total, 25_000_000_000);
        assert_eq!(s.devices[0].vram_free, 0);
    }

    #[test]
    fn rejects_a_body_without_system() {
        let e = parse(&json!({"devices": []})).unwrap_err();
        assert!(e.contains("system"), "{e}");
        assert!(parse(&json!({"system": {"os": 3}})).is_err());
    }
}
