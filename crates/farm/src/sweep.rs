//! Parameter sweeps: one job per parameter set, grouped in a batch.
//!
//! A grid is every combination of its axes (keys in name order, the last key varying
//! fastest, like nested loops); a list is the given sets in order. Each set is merged
//! over the submission's base parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A grid (every combination) or a list of parameter sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sweep {
    Grid(BTreeMap<String, Vec<Value>>),
    List(Vec<BTreeMap<String, Value>>),
}

/// The most jobs one sweep may create.
pub const MAX_SWEEP_JOBS: usize = 10_000;

/// A sweep that cannot be expanded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("sweep grid parameter `{param}` has no values (give at least one)")]
    EmptyAxis { param: String },
    #[error("sweep grid has no parameters (give at least one parameter with values)")]
    EmptyGrid,
    #[error("sweep list is empty (give at least one parameter set)")]
    EmptyList,
    #[error("sweep would create {count} jobs, more than the limit of {max}")]
    TooMany { count: String, max: usize },
}

/// The parameter sets of a sweep, each merged over `base` (`[base]` without a sweep).
pub fn expand(
    base: &BTreeMap<String, Value>,
    sweep: Option<&Sweep>,
) -> Result<Vec<BTreeMap<String, Value>>, SweepError> {
    match sweep {
        None => Ok(vec![base.clone()]),
        Some(Sweep::List(sets)) => {
            if sets.is_empty() {
                return Err(SweepError::EmptyList);
            }
            if sets.len() > MAX_SWEEP_JOBS {
                return Err(too_many(sets.len() as u128));
            }
            Ok(sets.iter().map(|s| merged(base, s)).collect())
        }
        Some(Sweep::Grid(axes)) => {
            if axes.is_empty() {
                return Err(SweepError::EmptyGrid);
            }
            if let Some((param, _)) = axes.iter().find(|(_, vs)| vs.is_empty()) {
                return Err(SweepError::EmptyAxis {
                    param: param.clone(),
                });
            }
            // Count before building anything; u128 cannot overflow for any realistic
            // number of axes, and saturates otherwise.
            let count = axes
                .values()
                .fold(1u128, |n, vs| n.saturating_mul(vs.len() as u128));
            if count > MAX_SWEEP_JOBS as u128 {
                return Err(too_many(count));
            }
            let axes: Vec<(&String, &Vec<Value>)> = axes.iter().collect();
            let mut out = Vec::with_capacity(count as usize);
            // An odometer over the axes, last axis fastest.
            let mut idx = vec![0usize; axes.len()];
            loop {
                let mut set = base.clone();
                for ((name, values), &i) in axes.iter().zip(&idx) {
                    set.insert((*name).clone(), values[i].clone());
                }
                out.push(set);
                let mut k = axes.len();
                loop {
                    if k == 0 {
                        return Ok(out);
                    }
                    k -= 1;
                    idx[k] += 1;
                    if idx[k] < axes[k].1.len() {
                        break;
                    }
                    idx[k] = 0;
                }
            }
        }
    }
}

fn merged(
    base: &BTreeMap<String, Value>,
    set: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut out = base.clone();
    out.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

fn too_many(count: u128) -> SweepError {
    let count = if count == u128::MAX {
        "more than 10^38".to_string()
    } else {
        count.to_string()
    };
    SweepError::TooMany {
        count,
        max: MAX_SWEEP_JOBS,
    }
}
