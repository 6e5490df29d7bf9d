//! The kubelet's startupProbe (httpGet) run against a container, from the node's network
//! namespace: the first attempt at once (after initialDelaySeconds), then one per
//! periodSeconds, until one succeeds (a status from 200 to 399) or failureThreshold
//! attempts in a row have failed.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::node::Node;

/// How a startup probe went.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub container: String,
    pub succeeded: bool,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// From the container's start to the probe's verdict.
    pub elapsed: Duration,
}

/// One HTTP/1.1 GET with `timeout`: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((code, body))
}

/// The port of an httpGet probe: a number, or the name of one of the container's ports.
fn port(container: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Runs `probe` of `container` whose pod answers at `pod_ip`, `started` being when the
/// container started.
pub fn run_startup_probe(
    node: &Node,
    container: &Container,
    probe: &Probe,
    pod_ip: IpAddr,
    started: Instant,
) -> ProbeReport {
    let get = probe
        .http_get
        .as_ref()
        .expect("only httpGet startup probes are supported");
    let port = port(container, &get.port).expect("the probe's port");
    let host = get
        .host
        .as_deref()
        .and_then(|h| h.parse().ok())
        .unwrap_or(pod_ip);
    let path = get.path.clone().unwrap_or_else(|| "/".into());
    let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    let threshold = probe.failure_threshold.unwrap_or(3).max(1) as u32;
    let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
    let addr = SocketAddr::new(host, port);
    let mut failures = 0;
    let mut attempts = 0;
    std::thread::sleep(delay.saturating_sub(started.elapsed()));
    loop {
        attempts += 1;
        let attempt = Instant::now();
        let ok = node.in_netns(|| {
            http_get(addr, &path, timeout).is_ok_and(|(code, _)| (200..400).contains(&code))
        });
        if ok || {
            failures += 1;
            failures >= threshold
        } {
            return ProbeReport {
                container: container.name.clone(),
                succeeded: ok,
                attempts,
                elapsed: started.elapsed(),
            };
        }
        std::thread::sleep(period.saturating_sub(attempt.elapsed()));
    }
}
