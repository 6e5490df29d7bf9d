//! TCP collectors: connections with bounded connect and write times.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::messages::resolve;
use super::{Connect, MessageSink};

/// How long a connect or a blocked write to a TCP collector may take.
const TCP_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to a TCP collector at `HOST:PORT` (resolved at each connect).
pub struct Tcp {
    addr: String,
}

impl Tcp {
    pub fn new(addr: &str) -> Tcp {
        Tcp {
            addr: addr.to_owned(),
        }
    }
}

impl Connect for Tcp {
    type Stream = TcpStream;

    fn addr(&self) -> &str {
        &self.addr
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let target = resolve(&self.addr)?;
        let stream = TcpStream::connect_timeout(&target, TCP_TIMEOUT)?;
        stream.set_write_timeout(Some(TCP_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn closed(stream: &TcpStream) -> bool {
        peer_closed(stream)
    }
}

impl MessageSink for TcpStream {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.write_all(msg)
    }
}

/// True when the collector has closed its end of the connection. IPFIX collectors never
/// send on the stream, so end-of-file on a read means the connection is gone; checking
/// before writing keeps records from vanishing into a socket the peer already closed.
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    closed || stream.set_nonblocking(false).is_err()
}
