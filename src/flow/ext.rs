//! What a flow carries besides its counters, only when it has it: the TCP performance
//! state and the application identity. Boxed, so that a flow without either (a UDP
//! exchange, a lone SYN) costs a pointer and nothing more.

use super::app::App;
use super::perf::{TcpFigures, TcpPerf};

/// A flow's network performance state and application identity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowExt {
    pub tcp: Option<TcpPerf>,
    pub app: Option<Box<App>>,
}

impl FlowExt {
    /// The TCP figures, when the flow is TCP and network performance is on.
    pub fn tcp_figures(&self) -> Option<TcpFigures> {
        self.tcp.as_ref().map(TcpPerf::figures)
    }

    /// The application identity, when the flow's payload said something.
    pub fn app(&self) -> Option<&App> {
        self.app.as_deref()
    }
}
