//! A capture file mapped into memory, read-only: frames are parsed where the page cache
//! holds them instead of being copied into a buffer first. Only for regular files; the
//! one unsafe block is the mmap call, and the mapping lives as long as the value.
//!
//! A file cut shorter by another process while it is mapped makes the reads past its new
//! end fault (SIGBUS); capture files are written by appending, which is safe.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// The whole of a file, mapped.
pub struct Mapped {
    base: NonNull<u8>,
    len: usize,
}

// Read-only shared memory: nothing mutates it through this value.
unsafe impl Send for Mapped {}

impl Mapped {
    /// Maps `file` (`len` bytes, more than 0), with read-ahead for a sequential read.
    pub fn new(file: &File, len: usize) -> io::Result<Mapped> {
        // SAFETY: a new private read-only mapping of an open file; the kernel checks the
        // descriptor and the length, and nothing else aliases the new address range.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: advice on the range just mapped; failing changes nothing.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_SEQUENTIAL);
        }
        let base = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapped { base, len })
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `base` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: exactly the range mmap returned; no slice of it outlives `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}
