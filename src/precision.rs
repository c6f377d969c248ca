//! Numeric precision: what the networks that can use reduced precision
//! compute in, chosen from what the hardware does natively and recorded with
//! its reason. On a CPU without AVX512-BF16 or AMX-BF16, libtorch emulates
//! bfloat16 hundreds of times slower than float32, so `auto` picks bfloat16
//! only where it is native.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// What a network computes its products in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Float32,
    #[value(name = "bfloat16")]
    #[serde(rename = "bfloat16")]
    BFloat16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::BFloat16 => "bfloat16",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Precision::Float32 => Kind::Float,
            Precision::BFloat16 => Kind::BFloat16,
        }
    }

    /// A float32 tensor in this precision for a product: a bfloat16 copy,
    /// or the tensor itself.
    pub fn cast(self, t: &Tensor) -> Tensor {
        match self {
            Precision::BFloat16 => t.to_kind(Kind::BFloat16),
            Precision::Float32 => t.shallow_clone(),
        }
    }
}

/// `--precision`: a precision, or `auto` to let the hardware decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionChoice {
    Auto,
    Float32,
    #[value(name = "bfloat16")]
    BFloat16,
}

/// The CPU features that decide how fast, and with which kernels, libtorch
/// computes: they decide the numerics too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFeatures {
    pub avx2: bool,
    pub avx512f: bool,
    pub avx512_bf16: bool,
    pub amx_bf16: bool,
    /// The environment's caps on the instruction sets libtorch's kernels
    /// use ("ONEDNN_MAX_CPU_ISA=AVX2"), already applied to the flags above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Who made the CPU ("AMD", "Intel"): MKL and oneDNN take other code
    /// paths on each, so one instruction set does not mean one set of bits.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
}

/// oneDNN's instruction sets from the least to the most capable, as its
/// `ONEDNN_MAX_CPU_ISA` names them.
const ONEDNN_ISAS: [&str; 14] = [
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16",
    "AVX10_1_512",
    "AVX512_CORE_FP16",
    "AVX10_1_512_AMX",
    "AVX512_CORE_AMX",
    "AVX10_1_512_AMX_FP16",
    "AVX512_CORE_AMX_FP16",
];

impl CpuFeatures {
    /// This machine's features as libtorch uses them: the `flags` of
    /// `/proc/cpuinfo` where there is one, the running CPU's answers to
    /// `cpuid` elsewhere on x86-64; then capped by the environment.
    pub fn detect() -> CpuFeatures {
        CpuFeatures::of_hardware().capped_by(|name| std::env::var(name).ok())
    }

    fn of_hardware() -> CpuFeatures {
        if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo")
            && let Some(flags) = info.lines().find_map(|l| l.strip_prefix("flags"))
        {
            let vendor = info.lines().find_map(|l| l.strip_prefix("vendor_id")).map(|v| v.trim_start_matches([' ', '\t', ':']).trim());
            return CpuFeatures { vendor: vendor_name(vendor.unwrap_or("")), ..CpuFeatures::from_flags(flags) };
        }
        #[cfg(target_arch = "x86_64")]
        {
            CpuFeatures {
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                avx512f: std::arch::is_x86_feature_detected!("avx512f"),
                avx512_bf16: std::arch::is_x86_feature_detected!("avx512bf16"),
                amx_bf16: false,
                caps: Vec::new(),
                vendor: String::new(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        CpuFeatures::default()
    }

    /// Features from a `/proc/cpuinfo` flags line (Linux's names).
    pub fn from_flags(flags: &str) -> CpuFeatures {
        let has = |name: &str| flags.split_whitespace().any(|f| f == name);
        CpuFeatures {
            avx2: has("avx2"),
            avx512f: has("avx512f"),
            avx512_bf16: has("avx512_bf16"),
            amx_bf16: has("amx_bf16"),
            caps: Vec::new(),
            vendor: String::new(),
        }
    }

    /// These features as far as the caps that `var` reads from the
    /// environment let libtorch use them: oneDNN's (its convolutions and
    /// bfloat16 products), MKL's (float32 products) and ATen's own kernels'.
    /// A cap it does not know is recorded and changes nothing.
    pub fn capped_by(mut self, var: impl Fn(&str) -> Option<String>) -> CpuFeatures {
        for name in ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY"] {
            let Some(value) = var(name).filter(|v| !v.is_empty()) else { continue };
            let upper = value.to_ascii_uppercase();
            // (AVX2, AVX-512, bfloat16 products, AMX) that the cap allows.
            let allowed = match name {
                "MKL_ENABLE_INSTRUCTIONS" => match upper.as_str() {
                    "SSE4_2" | "AVX" => Some((false, false, true, true)),
                    "AVX2" => Some((true, false, true, true)),
                    _ => None,
                },
                "ATEN_CPU_CAPABILITY" => match upper.as_str() {
                    "DEFAULT" => Some((false, false, true, true)),
                    "AVX2" => Some((true, false, true, true)),
                    _ => None,
                },
                _ => ONEDNN_ISAS.iter().position(|isa| *isa == upper).map(|level| {
                    let at_least = |isa: &str| level >= ONEDNN_ISAS.iter().position(|i| *i == isa).expect("listed");
                    (at_least("AVX2"), at_least("AVX512_CORE"), at_least("AVX512_CORE_BF16"), upper.contains("AMX"))
                }),
            };
            if let Some((avx2, avx512f, bf16, amx)) = allowed {
                self.avx2 &= avx2;
                self.avx512f &= avx512f;
                self.avx512_bf16 &= bf16;
                self.amx_bf16 &= amx;
            }
            self.caps.push(format!("{name}={value}"));
        }
        self
    }

    /// Why bfloat16 is not native here, naming the class and any caps.
    pub fn without_native_bf16(&self) -> String {
        let lacks = if self.caps.is_empty() { "has neither" } else { "may, under its caps, use neither" };
        format!("the CPU ({}) {lacks} AVX512-BF16 nor AMX-BF16", self.class())
    }

    /// Whether the CPU multiplies bfloat16 in hardware.
    pub fn native_bf16(&self) -> bool {
        self.avx512_bf16 || self.amx_bf16
    }

    /// The class of machine, as far as numerics and speed go: runs on two
    /// machines of one class may be bit-identical, of two classes are not.
    /// A capped machine names its caps: its kernels may still differ from
    /// those of a machine that has no more.
    pub fn class(&self) -> String {
        let vector = if self.avx512f {
            "AVX-512"
        } else if self.avx2 {
            "AVX2"
        } else {
            "no AVX2"
        };
        let class = match (self.avx512_bf16, self.amx_bf16) {
            (_, true) => format!("{vector}+AMX-BF16"),
            (true, false) => format!("{vector}+BF16"),
            (false, false) => vector.to_owned(),
        };
        let class = if self.vendor.is_empty() { class } else { format!("{} {class}", self.vendor) };
        match self.caps.is_empty() {
            true => class,
            false => format!("{class}, capped by {}", self.caps.join(", ")),
        }
    }
}

/// The maker's name for `/proc/cpuinfo`'s `vendor_id`.
fn vendor_name(vendor_id: &str) -> String {
    match vendor_id {
        "AuthenticAMD" => "AMD".into(),
        "GenuineIntel" => "Intel".into(),
        other => other.chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
    }
}

/// The precision a run computes in, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    pub precision: Precision,
    /// `auto`, or the precision named by `--precision`.
    pub requested: String,
    pub reason: String,
}

/// Resolves `--precision`. Where a choice needs the GPU's verdict,
/// `cuda_probe` gives it: whether bfloat16 is faster, and what it measured.
pub fn choose(choice: PrecisionChoice, device: Device, cpu: &CpuFeatures, cuda_probe: impl FnOnce() -> (bool, String)) -> Chosen {
    let forced = |precision: Precision| Chosen {
        precision,
        requested: precision.name().into(),
        reason: format!("--precision {} was given", precision.name()),
    };
    let auto = |precision: Precision, reason: String| Chosen { precision, requested: "auto".into(), reason };
    match (choice, device) {
        (PrecisionChoice::Float32, _) => forced(Precision::Float32),
        (PrecisionChoice::BFloat16, _) => forced(Precision::BFloat16),
        (PrecisionChoice::Auto, Device::Cuda(_)) => {
            let (faster, measured) = cuda_probe();
            if faster {
                auto(Precision::BFloat16, format!("bfloat16 is faster on this GPU ({measured})"))
            } else {
                auto(Precision::Float32, format!("bfloat16 is not faster on this GPU ({measured})"))
            }
        }
        (PrecisionChoice::Auto, _) if cpu.native_bf16() => {
            auto(Precision::BFloat16, format!("the CPU ({}) multiplies bfloat16 natively", cpu.class()))
        }
        (PrecisionChoice::Auto, _) => auto(Precision::Float32, format!("{}: libtorch would emulate bfloat16", cpu.without_native_bf16())),
    }
}

/// Times a 1024x1024 matrix product on `device` in float32 and in bfloat16
/// (best of 5, after a warm-up; well under a second on any GPU): whether
/// bfloat16 is faster, and both times.
pub fn cuda_bf16_probe(device: Device) -> (bool, String) {
    let time = |kind: Kind| -> Option<f64> {
        let result = std::panic::catch_unwind(|| {
            let a = Tensor::randn([1024, 1024], (Kind::Float, device)).to_kind(kind);
            let _ = a.matmul(&a);
            tch::Cuda::synchronize(0);
            (0..5)
                .map(|_| {
                    let start = Instant::now();
                    let _ = a.matmul(&a);
                    tch::Cuda::synchronize(0);
                    start.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        });
        result.ok()
    };
    match (time(Kind::Float), time(Kind::BFloat16)) {
        (Some(f32_s), Some(bf16_s)) => {
            (bf16_s < f32_s, format!("1024x1024 product: float32 {:.3} ms, bfloat16 {:.3} ms", f32_s * 1e3, bf16_s * 1e3))
        }
        (_, None) => (false, "a bfloat16 product failed".into()),
        (None, _) => (false, "a float32 product failed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZEN3: &str = ": fpu sse2 avx avx2 fma bmi2 sha_ni";
    const SAPPHIRE_RAPIDS: &str = ": avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile";
    const XEON_NO_BF16: &str = ": avx2 avx512f avx512bw avx512_vnni";

    fn no_gpu() -> (bool, String) {
        panic!("a CPU choice must not probe a GPU")
    }

    #[test]
    fn auto_picks_float32_without_native_bfloat16() {
        for flags in [ZEN3, XEON_NO_BF16, ""] {
            let cpu = CpuFeatures::from_flags(flags);
            let chosen = choose(PrecisionChoice::Auto, Device::Cpu, &cpu, no_gpu);
            assert_eq!(chosen.precision, Precision::Float32, "{flags}");
            assert!(chosen.reason.contains("neither AVX512-BF16 nor AMX-BF16"), "{}", chosen.reason);
            assert_eq!(chosen.requested, "auto");
        }
    }

    #[test]
    fn auto_picks_bfloat16_where_it_is_native() {
        let cpu = CpuFeatures::from_flags(SAPPHIRE_RAPIDS);
        assert_eq!(cpu.class(), "AVX-512+AMX-BF16");
        let chosen = choose(PrecisionChoice::Auto, Device::Cpu, &cpu, no_gpu);
        assert_eq!(chosen.precision, Precision::BFloat16);
        assert!(chosen.reason.contains("natively"), "{}", chosen.reason);
        let avx512_bf16 = CpuFeatures { avx512_bf16: true, ..CpuFeatures::from_flags(XEON_NO_BF16) };
        assert_eq!(choose(PrecisionChoice::Auto, Device::Cpu, &avx512_bf16, no_gpu).precision, Precision::BFloat16);
    }

    #[test]
    fn a_named_precision_wins_and_says_so() {
        let cpu = CpuFeatures::from_flags(ZEN3);
        let chosen = choose(PrecisionChoice::BFloat16, Device::Cpu, &cpu, no_gpu);
        assert_eq!((chosen.precision, chosen.requested.as_str()), (Precision::BFloat16, "bfloat16"));
        let native = CpuFeatures::from_flags(SAPPHIRE_RAPIDS);
        assert_eq!(choose(PrecisionChoice::Float32, Device::Cpu, &native, no_gpu).precision, Precision::Float32);
    }

    #[test]
    fn on_a_gpu_the_probe_decides() {
        let cpu = CpuFeatures::from_flags(ZEN3);
        let fast = choose(PrecisionChoice::Auto, Device::Cuda(0), &cpu, || (true, "measured".into()));
        assert_eq!(fast.precision, Precision::BFloat16);
        let slow = choose(PrecisionChoice::Auto, Device::Cuda(0), &cpu, || (false, "measured".into()));
        assert_eq!(slow.precision, Precision::Float32);
        assert!(slow.reason.contains("measured"));
    }

    #[test]
    fn one_instruction_set_on_two_vendors_is_two_classes() {
        let amd = CpuFeatures { vendor: vendor_name("AuthenticAMD"), ..CpuFeatures::from_flags("avx2 fma") };
        let intel = CpuFeatures { vendor: vendor_name("GenuineIntel"), ..CpuFeatures::from_flags("avx2 fma") };
        assert_eq!((amd.class().as_str(), intel.class().as_str()), ("AMD AVX2", "Intel AVX2"));
        assert_eq!(CpuFeatures::from_flags("avx2").class(), "AVX2", "unknown maker: the instruction set alone");
    }

    #[test]
    fn caps_in_the_environment_lower_the_class_and_are_recorded() {
        let native = CpuFeatures::from_flags(SAPPHIRE_RAPIDS);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        let avx2 = native.clone().capped_by(env(&[("ONEDNN_MAX_CPU_ISA", "AVX2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2")]));
        assert_eq!(avx2.class(), "AVX2, capped by ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2");
        assert_eq!(avx2.caps, ["ONEDNN_MAX_CPU_ISA=AVX2", "MKL_ENABLE_INSTRUCTIONS=AVX2"]);
        assert_eq!(
            choose(PrecisionChoice::Auto, Device::Cpu, &avx2, no_gpu).precision,
            Precision::Float32,
            "oneDNN would emulate bfloat16"
        );
        let reason = choose(PrecisionChoice::Auto, Device::Cpu, &avx2, no_gpu).reason;
        assert!(reason.starts_with("the CPU (AVX2, capped by ONEDNN_MAX_CPU_ISA=AVX2, "), "{reason}");
        assert!(reason.contains("under its caps"), "{reason}");
        let no_amx = native.clone().capped_by(env(&[("DNNL_MAX_CPU_ISA", "avx512_core_bf16")]));
        assert_eq!(no_amx.class(), "AVX-512+BF16, capped by DNNL_MAX_CPU_ISA=avx512_core_bf16");
        let float32_products = native.clone().capped_by(env(&[("MKL_ENABLE_INSTRUCTIONS", "AVX2")]));
        assert!(float32_products.class().starts_with("AVX2+AMX-BF16, capped"), "oneDNN's bfloat16 products keep AMX");
        let unknown = native.clone().capped_by(env(&[("ONEDNN_MAX_CPU_ISA", "ALL"), ("ATEN_CPU_CAPABILITY", "avx512")]));
        assert!(unknown.class().starts_with(&format!("{}, capped by ONEDNN_MAX_CPU_ISA=ALL", native.class())), "no lower cap, but named");
        assert_eq!(native.clone().capped_by(env(&[])), native, "no caps, no change");
    }

    #[test]
    fn classes_name_the_vector_unit_and_bfloat16() {
        assert_eq!(CpuFeatures::from_flags(ZEN3).class(), "AVX2");
        assert_eq!(CpuFeatures::from_flags(XEON_NO_BF16).class(), "AVX-512");
        assert_eq!(CpuFeatures::from_flags(": avx2 avx512f avx512_bf16").class(), "AVX-512+BF16");
        assert_eq!(CpuFeatures::from_flags(": sse2").class(), "no AVX2");
        // Whole flags only: `avx512_bf16` is not `avx512f`.
        assert!(!CpuFeatures::from_flags(": avx512_bf16").avx512f);
    }
}
