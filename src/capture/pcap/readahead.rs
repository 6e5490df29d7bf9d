//! Reading a capture file ahead, on a thread of its own (`capture-read`): the kernel's copy
//! of the file into memory (half of the time of metering a file) runs on one core while
//! frames are parsed and metered on another. Each chunk is read after a head room, where
//! the reader puts the unparsed end of the chunk before it (a record cut by the chunk's
//! edge), so that records are always whole in one buffer and nothing else is copied.
//! Buffers go back and forth: a bounded few are in flight.

use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Room before a chunk's bytes for the end of the previous chunk: the longest record.
pub(super) const HEADROOM: usize = super::MAX_BLOCK_BYTES;
/// Bytes read per chunk.
const CHUNK: usize = super::READ_BYTES;
/// Chunks read and not yet parsed.
const AHEAD: usize = 3;

/// A chunk of the file: `len` bytes at `buf[HEADROOM..]`, from file offset `offset`.
pub(super) struct Chunk {
    pub buf: Box<[u8]>,
    pub len: usize,
    pub offset: u64,
}

/// The receiving end of the read-ahead thread. The thread ends at the end of the file,
/// at an error, or when this is dropped (at its next chunk).
pub(super) struct Readahead {
    filled: Receiver<io::Result<Chunk>>,
    empty: SyncSender<Box<[u8]>>,
}

impl Readahead {
    /// Starts reading `file` ahead; gives the file back when no thread can be started
    /// (the caller reads it itself then).
    pub fn start(file: File) -> Result<Readahead, File> {
        let (filled_tx, filled) = sync_channel::<io::Result<Chunk>>(AHEAD);
        let (empty, empty_rx) = sync_channel::<Box<[u8]>>(AHEAD + 2);
        let spawned = std::thread::Builder::new()
            .name("capture-read".into())
            .spawn({
                let file = file.try_clone();
                move || {
                    let Ok(mut file) = file else { return };
                    read_ahead(&mut file, &filled_tx, &empty_rx);
                }
            });
        match spawned {
            Ok(_) => Ok(Readahead { filled, empty }),
            Err(_) => Err(file),
        }
    }

    /// The next chunk; `None` at the end of the file.
    pub fn next(&self) -> Option<io::Result<Chunk>> {
        self.filled.recv().ok()
    }

    /// Gives a buffer back for a later chunk.
    pub fn recycle(&self, buf: Box<[u8]>) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.empty.try_send(buf)
        {
            // More buffers than needed, or the thread has ended: let it go.
        }
    }
}

fn read_ahead(
    file: &mut File,
    filled: &SyncSender<io::Result<Chunk>>,
    empty: &Receiver<Box<[u8]>>,
) {
    let mut offset = 0u64;
    loop {
        let mut buf = empty
            .try_recv()
            .unwrap_or_else(|_| vec![0; HEADROOM + CHUNK].into_boxed_slice());
        let mut len = 0;
        while len < CHUNK {
            match file.read(&mut buf[HEADROOM + len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = filled.send(Err(e));
                    return;
                }
            }
        }
        if len == 0 {
            return; // the end: dropping the sender tells the reader
        }
        if filled.send(Ok(Chunk { buf, len, offset })).is_err() {
            return; // the reader is gone
        }
        offset += len as u64;
    }
}
