//! A constant-velocity Kalman filter on a box.
//!
//! # State
//!
//! The measured box is `z = (cx, cy, a, h)`: centre, aspect ratio `w / h` and height, as in
//! ByteTrack (and Ultralytics' `KalmanFilterXYAH`). The state adds the rate of change of
//! each: `(cx, cy, a, h, vcx, vcy, va, vh)`, velocities in **units per second of stream
//! time** (so `vcx, vcy` are pixels per second, reported as [`Track::velocity`]), and the
//! transition over a step of `dt` seconds is `x += v * dt`.
//!
//! # Noise (ByteTrack's, made frame-rate independent)
//!
//! ByteTrack scales its noise with the box height `h` (taken from the state before the
//! step, or from the measurement when a track starts), per frame:
//!
//! | coordinate | process, position | process, velocity | measurement | initial position | initial velocity |
//! |------------|-------------------|-------------------|-------------|------------------|------------------|
//! | `cx, cy, h`| `h / 20`          | `h / 160`         | `h / 20`    | `2 h / 20`       | `10 h / 160`     |
//! | `a`        | `1e-2`            | `1e-5`            | `1e-1`      | `1e-2`           | `1e-5`           |
//!
//! (standard deviations; velocities per frame). Here a "frame" is the reference step
//! [`REF_DT_S`] = 1/30 s: velocity deviations are divided by it to be per second, and the
//! process noise of a step of `dt` seconds is the reference variance times
//! `dt / REF_DT_S` (a random walk: variance grows linearly with time). At 30 frames per
//! second this is exactly ByteTrack's filter with velocities expressed per second; at other
//! rates, or with irregular frames, the uncertainty grows with elapsed time rather than
//! with frame count. A step of 0 s adds no noise.
//!
//! # Why four 2x2 filters
//!
//! In ByteTrack's filter the transition `F`, the process noise `Q`, the measurement noise
//! `R` and the initial covariance `P0` are all block-diagonal once the state is ordered
//! per coordinate (`(cx, vcx), (cy, vcy), (a, va), (h, vh)`), and the measurement matrix
//! picks one position per block. Predict (`F P F' + Q`) and update (`P - K S K'`, with
//! diagonal `S`) preserve that structure, so the cross-coordinate covariances stay exactly
//! 0 and the 8-D filter *is* four independent 2-D filters sharing their noise scale `h`.
//! Each keeps its mean and three covariance numbers; predict and update are a few
//! multiply-adds with no matrix inversion and no allocation (the unit test
//! `matches_dense_bytetrack_filter` checks the equivalence against a dense 8-D
//! implementation).
//!
//! # Guards
//!
//! After a prediction, a height below [`MIN_SIZE`] is clamped to it and its velocity set to
//! 0 (a shrinking lost box would otherwise invert), likewise the aspect ratio.
//!
//! [`Track::velocity`]: visualpath_core::Track::velocity

use visualpath_core::BBox;

/// The reference time step: ByteTrack's noise is specified per frame at 30 frames per
/// second.
pub const REF_DT_S: f64 = 1.0 / 30.0;
/// Position noise per unit of box height (ByteTrack's `_std_weight_position`).
pub const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
/// Velocity noise per unit of box height (ByteTrack's `_std_weight_velocity`).
pub const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;
/// Smallest height (pixels) and aspect ratio the state keeps after a prediction.
pub const MIN_SIZE: f64 = 1e-3;

/// One coordinate: position, velocity and their 2x2 covariance `[[p00, p01], [p01, p11]]`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    x: f64,
    v: f64,
    p00: f64,
    p01: f64,
    p11: f64,
}

impl Axis {
    fn new(x: f64, std_pos: f64, std_vel: f64) -> Self {
        Self {
            x,
            v: 0.0,
            p00: std_pos * std_pos,
            p01: 0.0,
            p11: std_vel * std_vel,
        }
    }

    /// `x += v dt`, `P = F P F' + diag(q_pos, q_vel)`.
    fn predict(&mut self, dt: f64, q_pos: f64, q_vel: f64) {
        self.x += self.v * dt;
        self.p00 += dt * (2.0 * self.p01 + dt * self.p11) + q_pos;
        self.p01 += dt * self.p11;
        self.p11 += q_vel;
    }

    /// Measurement `z` of the position with variance `r`.
    fn update(&mut self, z: f64, r: f64) {
        let s = self.p00 + r;
        if !(s > 0.0 && s.is_finite()) {
            return;
        }
        let k0 = self.p00 / s;
        let k1 = self.p01 / s;
        let y = z - self.x;
        self.x += k0 * y;
        self.v += k1 * y;
        let keep = 1.0 - k0;
        self.p11 -= k1 * self.p01;
        self.p00 *= keep;
        self.p01 *= keep;
    }
}

/// The four coordinates, in measurement order.
const CX: usize = 0;
const CY: usize = 1;
const A: usize = 2;
const H: usize = 3;

/// A box measurement `(cx, cy, a, h)`; `None` if the box has no area or is not finite.
pub fn measure(b: &BBox) -> Option<[f64; 4]> {
    let (x1, y1, x2, y2) = (
        f64::from(b.x1),
        f64::from(b.y1),
        f64::from(b.x2),
        f64::from(b.y2),
    );
    let (w, h) = (x2 - x1, y2 - y1);
    // `w > 0` is false for NaN too.
    if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite() && x1.is_finite() && y1.is_finite()) {
        return None;
    }
    Some([(x1 + x2) * 0.5, (y1 + y2) * 0.5, w / h, h])
}

/// Constant-velocity Kalman filter on a box; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxKalman {
    axes: [Axis; 4],
}

impl BoxKalman {
    /// A filter started from a measured box `(cx, cy, a, h)` (see [`measure`]), with zero
    /// velocity.
    pub fn new(z: [f64; 4]) -> Self {
        let h = z[H];
        let pos = 2.0 * STD_WEIGHT_POSITION * h;
        let vel = 10.0 * STD_WEIGHT_VELOCITY * h / REF_DT_S;
        Self {
            axes: [
                Axis::new(z[CX], pos, vel),
                Axis::new(z[CY], pos, vel),
                Axis::new(z[A], 1e-2, 1e-5 / REF_DT_S),
                Axis::new(z[H], pos, vel),
            ],
        }
    }

    /// Advances the state by `dt_s` seconds (non-finite or negative steps count as 0).
    pub fn predict(&mut self, dt_s: f64) {
        let dt = if dt_s.is_finite() { dt_s.max(0.0) } else { 0.0 };
        let scale = dt / REF_DT_S;
        let h = self.axes[H].x;
        let q_pos = (STD_WEIGHT_POSITION * h).powi(2) * scale;
        let q_vel = (STD_WEIGHT_VELOCITY * h / REF_DT_S).powi(2) * scale;
        let q_pos_a = 1e-4 * scale;
        let q_vel_a = (1e-5 / REF_DT_S).powi(2) * scale;
        for (i, axis) in self.axes.iter_mut().enumerate() {
            if i == A {
                axis.predict(dt, q_pos_a, q_vel_a);
            } else {
                axis.predict(dt, q_pos, q_vel);
            }
        }
        for i in [A, H] {
            let axis = &mut self.axes[i];
            if axis.x.is_nan() || axis.x < MIN_SIZE {
                axis.x = MIN_SIZE;
                axis.v = 0.0;
            }
        }
    }

    /// Corrects the state with a measured box `(cx, cy, a, h)`.
    pub fn update(&mut self, z: [f64; 4]) {
        let h = self.axes[H].x;
        let r = (STD_WEIGHT_POSITION * h).powi(2);
        for (i, axis) in self.axes.iter_mut().enumerate() {
            axis.update(z[i], if i == A { 1e-2 } else { r });
        }
    }

    /// Sets the height velocity to 0. ByteTrack does this before predicting a lost track,
    /// so that an unobserved box keeps its size.
    pub fn freeze_height(&mut self) {
        self.axes[H].v = 0.0;
    }

    /// The state `(cx, cy, a, h)`.
    pub fn mean(&self) -> [f64; 4] {
        [
            self.axes[CX].x,
            self.axes[CY].x,
            self.axes[A].x,
            self.axes[H].x,
        ]
    }

    /// The velocities `(vcx, vcy, va, vh)`, units per second.
    pub fn velocity(&self) -> [f64; 4] {
        [
            self.axes[CX].v,
            self.axes[CY].v,
            self.axes[A].v,
            self.axes[H].v,
        ]
    }

    /// The covariance block of coordinate `i` (`0..4` in `(cx, cy, a, h)` order) as
    /// `[var(pos), cov(pos, vel), var(vel)]`.
    pub fn covariance(&self, i: usize) -> Option<[f64; 3]> {
        self.axes.get(i).map(|a| [a.p00, a.p01, a.p11])
    }

    /// The state's box.
    pub fn bbox(&self) -> BBox {
        let [cx, cy, a, h] = self.mean();
        let w = a * h;
        BBox::new(
            (cx - w * 0.5) as f32,
            (cy - h * 0.5) as f32,
            (cx + w * 0.5) as f32,
            (cy + h * 0.5) as f32,
        )
    }
}

#[cfg(test)]
// Textbook matrix code reads best with indices.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// A dense 8-D ByteTrack filter in per-frame units (state order `cx, cy, a, h, vcx,
    /// vcy, va, vh`), written the textbook way.
    struct Dense {
        mean: [f64; 8],
        cov: [[f64; 8]; 8],
    }

    type M8 = [[f64; 8]; 8];

    fn mul(a: &M8, b: &M8) -> M8 {
        let mut c = [[0.0; 8]; 8];
        for i in 0..8 {
            for j in 0..8 {
                c[i][j] = (0..8).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        c
    }

    fn transpose(a: &M8) -> M8 {
        let mut t = [[0.0; 8]; 8];
        for i in 0..8 {
            for j in 0..8 {
                t[i][j] = a[j][i];
            }
        }
        t
    }

    fn inverse4(m: [[f64; 4]; 4]) -> [[f64; 4]; 4] {
        let mut a = m;
        let mut inv = [[0.0; 4]; 4];
        for (i, row) in inv.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for c in 0..4 {
            let p = (c..4)
                .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
                .unwrap();
            a.swap(c, p);
            inv.swap(c, p);
            let d = a[c][c];
            for j in 0..4 {
                a[c][j] /= d;
                inv[c][j] /= d;
            }
            for r in 0..4 {
                if r != c {
                    let f = a[r][c];
                    for j in 0..4 {
                        a[r][j] -= f * a[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
        inv
    }

    impl Dense {
        fn new(z: [f64; 4]) -> Self {
            let h = z[3];
            let std = [
                2.0 * STD_WEIGHT_POSITION * h,
                2.0 * STD_WEIGHT_POSITION * h,
                1e-2,
                2.0 * STD_WEIGHT_POSITION * h,
                10.0 * STD_WEIGHT_VELOCITY * h,
                10.0 * STD_WEIGHT_VELOCITY * h,
                1e-5,
                10.0 * STD_WEIGHT_VELOCITY * h,
            ];
            let mut cov = [[0.0; 8]; 8];
            for i in 0..8 {
                cov[i][i] = std[i] * std[i];
            }
            let mut mean = [0.0; 8];
            mean[..4].copy_from_slice(&z);
            Self { mean, cov }
        }

        fn predict(&mut self) {
            let h = self.mean[3];
            let wp = STD_WEIGHT_POSITION * h;
            let wv = STD_WEIGHT_VELOCITY * h;
            let std = [wp, wp, 1e-2, wp, wv, wv, 1e-5, wv];
            let mut f = [[0.0; 8]; 8];
            for i in 0..8 {
                f[i][i] = 1.0;
            }
            for i in 0..4 {
                f[i][i + 4] = 1.0;
            }
            let mut m = [0.0; 8];
            for i in 0..8 {
                m[i] = (0..8).map(|k| f[i][k] * self.mean[k]).sum();
            }
            self.mean = m;
            let mut p = mul(&mul(&f, &self.cov), &transpose(&f));
            for i in 0..8 {
                p[i][i] += std[i] * std[i];
            }
            self.cov = p;
        }

        fn update(&mut self, z: [f64; 4]) {
            let h = self.mean[3];
            let r = [
                STD_WEIGHT_POSITION * h,
                STD_WEIGHT_POSITION * h,
                1e-1,
                STD_WEIGHT_POSITION * h,
            ];
            // S = H P H' + R, K = P H' S^-1
            let mut s = [[0.0; 4]; 4];
            for i in 0..4 {
                for j in 0..4 {
                    s[i][j] = self.cov[i][j];
                }
                s[i][i] += r[i] * r[i];
            }
            let si = inverse4(s);
            let mut k = [[0.0; 4]; 8];
            for i in 0..8 {
                for j in 0..4 {
                    k[i][j] = (0..4).map(|l| self.cov[i][l] * si[l][j]).sum();
                }
            }
            let y: Vec<f64> = (0..4).map(|i| z[i] - self.mean[i]).collect();
            for i in 0..8 {
                self.mean[i] += (0..4).map(|j| k[i][j] * y[j]).sum::<f64>();
            }
            // P = P - K S K'
            let mut ks = [[0.0; 4]; 8];
            for i in 0..8 {
                for j in 0..4 {
                    ks[i][j] = (0..4).map(|l| k[i][l] * s[l][j]).sum();
                }
            }
            for i in 0..8 {
                for j in 0..8 {
                    self.cov[i][j] -= (0..4).map(|l| ks[i][l] * k[j][l]).sum::<f64>();
                }
            }
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-7 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn matches_dense_bytetrack_filter() {
        let mut seed = 7u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let z0 = [100.0, 200.0, 0.5, 80.0];
        let mut fast = BoxKalman::new(z0);
        let mut dense = Dense::new(z0);
        for step in 0..40 {
            fast.predict(REF_DT_S);
            dense.predict();
            if step % 5 != 4 {
                let z = [
                    100.0 + 3.0 * step as f64 + 4.0 * rnd(),
                    200.0 - step as f64 + 4.0 * rnd(),
                    0.5 + 0.05 * rnd(),
                    80.0 + 0.5 * step as f64 + 2.0 * rnd(),
                ];
                fast.update(z);
                dense.update(z);
            }
            let (m, v) = (fast.mean(), fast.velocity());
            for i in 0..4 {
                assert!(close(m[i], dense.mean[i]), "step {step} mean {i}");
                // Velocities per second vs per frame.
                assert!(
                    close(v[i] * REF_DT_S, dense.mean[i + 4]),
                    "step {step} vel {i}"
                );
                let [p00, p01, p11] = fast.covariance(i).unwrap();
                assert!(close(p00, dense.cov[i][i]), "step {step} p00 {i}");
                assert!(
                    close(p01 * REF_DT_S, dense.cov[i][i + 4]),
                    "step {step} p01 {i}"
                );
                assert!(
                    close(p11 * REF_DT_S * REF_DT_S, dense.cov[i + 4][i + 4]),
                    "step {step} p11 {i}"
                );
                // The cross-coordinate covariances of the dense filter stay 0.
                for j in 0..4 {
                    if j != i {
                        assert!(dense.cov[i][j].abs() < 1e-12);
                        assert!(dense.cov[i][j + 4].abs() < 1e-12);
                    }
                }
            }
        }
    }

    #[test]
    fn learns_velocity_in_pixels_per_second() {
        // 90 px/s to the right, 30 px/s up, at 10 frames per second.
        let mut kf = BoxKalman::new(measure(&BBox::new(0.0, 100.0, 20.0, 140.0)).unwrap());
        for k in 1..=60 {
            kf.predict(0.1);
            let t = k as f32 * 0.1;
            let b = BBox::new(
                90.0 * t,
                100.0 - 30.0 * t,
                90.0 * t + 20.0,
                140.0 - 30.0 * t,
            );
            kf.update(measure(&b).unwrap());
        }
        let v = kf.velocity();
        assert!((v[0] - 90.0).abs() < 0.5, "{v:?}");
        assert!((v[1] + 30.0).abs() < 0.5, "{v:?}");
        let before = kf.mean();
        kf.predict(0.5);
        let after = kf.mean();
        assert!((after[0] - before[0] - 45.0).abs() < 0.3);
        assert!((after[1] - before[1] + 15.0).abs() < 0.3);
    }

    #[test]
    fn zero_step_adds_no_noise_and_guards_hold() {
        let mut kf = BoxKalman::new([0.0, 0.0, 1.0, 10.0]);
        let p = kf.covariance(0).unwrap();
        kf.predict(0.0);
        assert_eq!(kf.covariance(0).unwrap(), p);
        kf.predict(f64::NAN);
        assert_eq!(kf.covariance(0).unwrap(), p);
        // A shrinking box is clamped.
        kf.update([0.0, 0.0, 1.0, 5.0]);
        kf.update([0.0, 0.0, 1.0, 1.0]);
        for _ in 0..100 {
            kf.predict(1.0);
        }
        assert!(kf.mean()[3] >= MIN_SIZE);
        assert!(kf.covariance(7).is_none());
        assert!(measure(&BBox::new(0.0, 0.0, 0.0, 1.0)).is_none());
        assert!(measure(&BBox::new(0.0, 0.0, f32::NAN, 1.0)).is_none());
        assert!(measure(&BBox::new(0.0, 0.0, f32::INFINITY, 1.0)).is_none());
        let b = BBox::new(10.0, 20.0, 30.0, 60.0);
        let kf = BoxKalman::new(measure(&b).unwrap());
        assert_eq!(kf.bbox(), b);
    }
}
