//! Where IPFIX messages go: a UDP socket, a TCP connection that comes back after
//! failures, or an IPFIX file (RFC 5655: messages one after the other).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::Duration;

/// How long a connect or a blocked write to a TCP collector may take.
const TCP_TIMEOUT: Duration = Duration::from_secs(3);

/// Resolves `HOST:PORT` to its first address.
pub fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr} has no address")))
}

/// A connected UDP socket.
pub fn udp(addr: &str) -> io::Result<UdpSocket> {
    let target = resolve(addr)?;
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(target)?;
    Ok(sock)
}

/// A TCP connection with bounded connect and write times.
pub fn tcp(addr: &str) -> io::Result<TcpStream> {
    let target = resolve(addr)?;
    let stream = TcpStream::connect_timeout(&target, TCP_TIMEOUT)?;
    stream.set_write_timeout(Some(TCP_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An IPFIX file, created or truncated.
pub fn file(path: &Path) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(1 << 16, File::create(path)?))
}

/// Anything a message can be written to.
pub trait MessageSink {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()>;
    fn flush_messages(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MessageSink for UdpSocket {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = self.send(msg)?;
        if n != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "datagram cut short",
            ));
        }
        Ok(())
    }
}

impl MessageSink for TcpStream {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.write_all(msg)
    }
}

impl MessageSink for BufWriter<File> {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.write_all(msg)
    }
    fn flush_messages(&mut self) -> io::Result<()> {
        self.flush()?;
        // Only a regular file can be synced (`file:/dev/null` is a fine way to discard).
        if self.get_ref().metadata()?.is_file() {
            self.get_ref().sync_data()?;
        }
        Ok(())
    }
}

/// True when the collector has closed its end of the connection. IPFIX collectors never
/// send on the stream, so end-of-file on a read means the connection is gone; checking
/// before writing keeps records from vanishing into a socket the peer already closed.
pub fn peer_closed(stream: &TcpStream) -> bool {
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
