//! Named events of the telemetry listener: one small struct per thing worth logging, whose
//! `emit()` logs it.

/// The telemetry listener is serving.
pub struct TelemetryListening {
    pub addr: std::net::SocketAddr,
}

impl TelemetryListening {
    pub fn emit(self) {
        tracing::info!(addr = %self.addr, "serving /healthz, /readyz, /startupz and /metrics");
    }
}

/// The telemetry listener stopped with an error; the probe goes on without it.
pub struct TelemetryFailed<'a> {
    pub error: &'a std::io::Error,
}

impl TelemetryFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(error = %self.error, "the telemetry listener stopped");
    }
}
