//! Resource quantities and what the kubelet makes of a container's requests and limits:
//! CPU shares, CFS quota and period, the memory limit, and the OOM score of the pod's QoS
//! class.

use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use podflow::node::cri::LinuxContainerResources;

use super::{NodeInfo, TranslateError};

/// A Kubernetes quantity (`100m`, `64Mi`, `1.5`, `2e3`), held exactly in nano-units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i128);

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);
    pub const ONE: Quantity = Quantity(NANO);

    pub fn from_milli(milli: i64) -> Quantity {
        Quantity(i128::from(milli) * 1_000_000)
    }

    pub fn from_value(value: i64) -> Quantity {
        Quantity(i128::from(value) * NANO)
    }

    /// Parses the API's quantity syntax: a signed decimal number, then a binary suffix
    /// (`Ki` .. `Ei`), a decimal one (`n u m k M G T P E`) or an exponent (`e3`, `E-2`).
    /// Digits past nano precision round up, as the API server's canonical form does.
    pub fn parse(text: &str) -> Result<Quantity, TranslateError> {
        let bad = || TranslateError::Quantity(text.to_string());
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(bad());
        }
        // The number as digits / 10^scale.
        let digits: String = format!("{whole}{fraction}");
        let mut mantissa: i128 = 0;
        for d in digits.bytes() {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(d - b'0')))
                .ok_or_else(bad)?;
        }
        let mut scale = i32::try_from(fraction.len()).map_err(|_| bad())?;
        let mut multiplier: i128 = 1;
        match suffix {
            "" => {}
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = "KMGTPE".find(&suffix[..1]).unwrap() as u32 + 1;
                multiplier = 1i128 << (10 * power);
            }
            "n" => scale += 9,
            "u" => scale += 6,
            "m" => scale += 3,
            "k" => scale -= 3,
            "M" => scale -= 6,
            "G" => scale -= 9,
            "T" => scale -= 12,
            "P" => scale -= 15,
            "E" => scale -= 18,
            exp if exp.starts_with(['e', 'E']) => {
                let e: i32 = exp[1..].parse().map_err(|_| bad())?;
                scale = scale.checked_sub(e).ok_or_else(bad)?;
            }
            _ => return Err(bad()),
        }
        // nanos = mantissa * multiplier * 10^(9 - scale), rounded up.
        let shift = 9 - scale;
        let base = mantissa.checked_mul(multiplier).ok_or_else(bad)?;
        let nanos = if shift >= 0 {
            10i128
                .checked_pow(shift as u32)
                .and_then(|p| base.checked_mul(p))
                .ok_or_else(bad)?
        } else {
            let p = 10i128.checked_pow((-shift) as u32).ok_or_else(bad)?;
            div_ceil(base, p)
        };
        Ok(Quantity(if negative { -nanos } else { nanos }))
    }

    /// The value in units, rounded up (Go's `Quantity.Value`).
    pub fn value(self) -> i64 {
        div_ceil(self.0, NANO) as i64
    }

    /// The value in thousandths, rounded up (Go's `Quantity.MilliValue`).
    pub fn milli(self) -> i64 {
        div_ceil(self.0, 1_000_000) as i64
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// `a / b` rounded towards positive infinity.
pub fn div_ceil<T>(a: T, b: T) -> T
where
    T: Copy
        + std::ops::Div<Output = T>
        + std::ops::Rem<Output = T>
        + std::ops::Add<Output = T>
        + PartialOrd
        + From<u8>,
{
    let q = a / b;
    let zero = T::from(0);
    if a % b != zero && ((a > zero) == (b > zero)) {
        q + T::from(1)
    } else {
        q
    }
}

/// A request or limit of `container` (`cpu`, `memory`), zero when not set.
pub fn amount(
    resources: Option<&ResourceRequirements>,
    limits: bool,
    name: &str,
) -> Result<Quantity, TranslateError> {
    let list = resources.and_then(|r| {
        if limits {
            r.limits.as_ref()
        } else {
            r.requests.as_ref()
        }
    });
    match list.and_then(|l| l.get(name)) {
        Some(q) => Quantity::parse(&q.0),
        None => Ok(Quantity::ZERO),
    }
}

const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const SHARES_PER_CPU: i64 = 1024;
/// CFS period the kubelet uses unless configured otherwise (100 ms, in µs).
pub const QUOTA_PERIOD: i64 = 100_000;
const MIN_QUOTA: i64 = 1000;

pub fn milli_cpu_to_shares(milli: i64) -> i64 {
    if milli == 0 {
        return MIN_SHARES;
    }
    (milli * SHARES_PER_CPU / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

pub fn milli_cpu_to_quota(milli: i64, period: i64) -> i64 {
    if milli == 0 {
        return 0;
    }
    (milli * period / 1000).max(MIN_QUOTA)
}

/// The pod's QoS class, as the API server records it or the kubelet computes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

pub fn qos(pod: &Pod) -> Result<Qos, TranslateError> {
    if let Some(class) = pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        return Ok(match class {
            "Guaranteed" => Qos::Guaranteed,
            "BestEffort" => Qos::BestEffort,
            _ => Qos::Burstable,
        });
    }
    let spec = pod.spec.as_ref();
    let containers = spec
        .map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .into_iter()
        .flatten();
    let mut requests = [Quantity::ZERO; 2];
    let mut limits = [Quantity::ZERO; 2];
    let mut guaranteed = true;
    for c in containers {
        let r = c.resources.as_ref();
        let mut limits_found = 0;
        for (i, name) in ["cpu", "memory"].into_iter().enumerate() {
            let request = amount(r, false, name)?;
            if request > Quantity::ZERO {
                requests[i] = Quantity(requests[i].0 + request.0);
            }
            let limit = amount(r, true, name)?;
            if limit > Quantity::ZERO {
                limits[i] = Quantity(limits[i].0 + limit.0);
                limits_found += 1;
            }
        }
        guaranteed &= limits_found == 2;
    }
    let set = |list: &[Quantity; 2]| list.iter().filter(|q| !q.is_zero()).count();
    if set(&requests) == 0 && set(&limits) == 0 {
        return Ok(Qos::BestEffort);
    }
    let matching = (0..2).all(|i| requests[i].is_zero() || requests[i] == limits[i]);
    if guaranteed && matching && set(&requests) == set(&limits) {
        Ok(Qos::Guaranteed)
    } else {
        Ok(Qos::Burstable)
    }
}

const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;

fn memory_request(c: &Container) -> Result<i64, TranslateError> {
    Ok(amount(c.resources.as_ref(), false, "memory")?.value())
}

/// The container's OOM score adjustment: by QoS class, and for Burstable pods by the share
/// of the node's memory the container requests (a native sidecar no higher than the
/// smallest regular container).
pub fn oom_score_adj(
    pod: &Pod,
    container: &Container,
    node: &NodeInfo,
) -> Result<i64, TranslateError> {
    match qos(pod)? {
        Qos::Guaranteed => return Ok(GUARANTEED_OOM_SCORE_ADJ),
        Qos::BestEffort => return Ok(BEST_EFFORT_OOM_SCORE_ADJ),
        Qos::Burstable => {}
    }
    let capacity = node.memory_capacity_bytes.max(1);
    let mut adjust = 1000 - 1000 * memory_request(container)? / capacity;
    if super::is_sidecar(container) {
        let spec = pod.spec.as_ref();
        let mut min = 0;
        for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
            let request = memory_request(c)?;
            if request > 0 && (min == 0 || request < min) {
                min = request;
            }
        }
        if min != 0 {
            adjust = adjust.min(1000 - 1000 * min / capacity);
        }
    }
    if adjust < 1000 + GUARANTEED_OOM_SCORE_ADJ {
        return Ok(1000 + GUARANTEED_OOM_SCORE_ADJ);
    }
    if adjust == BEST_EFFORT_OOM_SCORE_ADJ {
        return Ok(adjust - 1);
    }
    Ok(adjust)
}

/// The CRI resources of `container` (CFS quota enforced, as the kubelet's default).
pub fn linux_resources(
    pod: &Pod,
    container: &Container,
    node: &NodeInfo,
) -> Result<LinuxContainerResources, TranslateError> {
    let r = container.resources.as_ref();
    let cpu_request = amount(r, false, "cpu")?;
    let cpu_limit = amount(r, true, "cpu")?;
    let memory_limit = amount(r, true, "memory")?;
    // A limit without a request means request = limit (the API server defaults it too).
    let shares = if cpu_request.is_zero() && !cpu_limit.is_zero() {
        milli_cpu_to_shares(cpu_limit.milli())
    } else {
        milli_cpu_to_shares(cpu_request.milli())
    };
    Ok(LinuxContainerResources {
        cpu_period: QUOTA_PERIOD,
        cpu_quota: milli_cpu_to_quota(cpu_limit.milli(), QUOTA_PERIOD),
        cpu_shares: shares,
        memory_limit_in_bytes: memory_limit.value(),
        oom_score_adj: oom_score_adj(pod, container, node)?,
        ..Default::default()
    })
}
