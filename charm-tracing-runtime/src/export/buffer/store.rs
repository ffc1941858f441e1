//! The buffer file on disk: locking, write-ahead appends in O(record), limits, atomic
//! rewrites, and moving damage aside.

use super::format::{self, Damage, FRAME_HEADER_LEN, HEADER_LEN};
use bytes::Bytes;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a record could not be buffered.
#[derive(Debug)]
pub(crate) enum BufferError {
    Io(io::Error),
    TooLarge { length: usize, limit: u64 },
    Locked(Duration),
}

impl std::fmt::Display for BufferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BufferError::Io(e) => write!(f, "{e}"),
            BufferError::TooLarge { length, limit } => write!(
                f,
                "the record ({length} bytes) is larger than the buffer limit ({limit} bytes)"
            ),
            BufferError::Locked(wait) => write!(
                f,
                "another process held the buffer lock for more than {} ms",
                wait.as_millis()
            ),
        }
    }
}

impl From<io::Error> for BufferError {
    fn from(e: io::Error) -> Self {
        BufferError::Io(e)
    }
}

/// A buffer file and its limits.
#[derive(Clone, Debug)]
pub(crate) struct BufferFile {
    path: PathBuf,
    max_events: usize,
    max_bytes: u64,
}

/// The buffer, locked against other processes until dropped. Every file next to the buffer
/// is reached through the directory's descriptor and created without following symlinks.
pub(crate) struct LockedBuffer<'a> {
    buffer: &'a BufferFile,
    dir: Dir,
    name: CString,
    _lock: File,
}

/// Where the frames of a file are, read from their headers only.
struct Layout {
    /// (offset, framed length) of each whole frame.
    frames: Vec<(u64, u64)>,
    /// The end of the last whole frame (`HEADER_LEN` with none; 0 for no file).
    valid_len: u64,
    damage: Option<Damage>,
}

/// The buffer's directory, opened once: names are resolved relative to it.
struct Dir(OwnedFd);

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("a NUL byte in the buffer path"))
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl Dir {
    fn open(path: &Path) -> io::Result<Dir> {
        let path = cstring(path.as_os_str())?;
        // SAFETY: `path` is a valid C string; the fd returned is owned by the `Dir`.
        let fd = check(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn open_at(&self, name: &CStr, flags: libc::c_int) -> io::Result<File> {
        // SAFETY: valid fd and C string; the returned fd is owned by the `File`.
        let fd = check(unsafe {
            libc::openat(
                self.0.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// A new file, mode 0600: fails if anything (a symlink included) has the name.
    fn create_new(&self, name: &CStr) -> io::Result<File> {
        self.open_at(
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        )
    }

    fn rename(&self, from: &CStr, to: &CStr) -> io::Result<()> {
        let fd = self.0.as_raw_fd();
        // SAFETY: valid fds and C strings.
        check(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
    }

    /// Renames unless `to` exists (whatever it is, a symlink included).
    fn rename_noreplace(&self, from: &CStr, to: &CStr) -> io::Result<()> {
        let fd = self.0.as_raw_fd();
        // SAFETY: valid fds and C strings; renameat2 takes no pointers beyond these.
        let moved = check(unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                fd,
                from.as_ptr(),
                fd,
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            ) as libc::c_int
        });
        match moved {
            Ok(_) => Ok(()),
            // No renameat2 here (old kernel, some filesystems): a hard link never replaces.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                // SAFETY: valid fds and C strings.
                check(unsafe { libc::linkat(fd, from.as_ptr(), fd, to.as_ptr(), 0) })?;
                self.unlink(from)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes the directory's entries (a new file, a rename) durable; best effort.
    fn sync(&self) {
        // SAFETY: a valid, owned descriptor.
        unsafe { libc::fsync(self.0.as_raw_fd()) };
    }

    /// Removes the name (a symlink itself, never its target).
    fn unlink(&self, name: &CStr) -> io::Result<()> {
        // SAFETY: valid fd and C string.
        check(unsafe { libc::unlinkat(self.0.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
    }
}

/// `name` + `suffix`.
fn suffixed(name: &CStr, suffix: &str) -> CString {
    let mut bytes = name.to_bytes().to_vec();
    bytes.extend_from_slice(suffix.as_bytes());
    CString::new(bytes).unwrap_or_default()
}

/// 64 unpredictable bits, in hex.
fn random_suffix() -> String {
    format!(
        "{:016x}",
        u64::from_be_bytes(crate::collect::session::new_span_id().to_bytes())
    )
}

/// The prefix of temp files (`<name>.tmp.<random>`; `<name>.tmp.<pid>` before).
const TEMP_INFIX: &str = ".tmp.";

impl BufferFile {
    pub(crate) fn new(path: PathBuf, max_events: u32, max_size_mib: u32) -> Self {
        BufferFile {
            path,
            max_events: max_events as usize,
            max_bytes: u64::from(max_size_mib) * 1024 * 1024,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the advisory lock (`<path>.lock`, never through a symlink), waiting at most
    /// `wait`. Creates the parent directories; removes temp files a killed hook left.
    pub(crate) fn lock(&self, wait: Duration) -> Result<LockedBuffer<'_>, BufferError> {
        let parent = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let dir = Dir::open(parent)?;
        let name = cstring(
            self.path
                .file_name()
                .ok_or_else(|| io::Error::other("the buffer path has no file name"))?,
        )?;
        let lock_name = suffixed(&name, ".lock");
        let open_lock = || dir.open_at(&lock_name, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW);
        let lock = match open_lock() {
            // A symlink planted at the lock's name: remove the link (never its target).
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                dir.unlink(&lock_name)?;
                open_lock()?
            }
            other => other?,
        };
        let deadline = Instant::now() + wait;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(BufferError::Locked(wait)),
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
        let locked = LockedBuffer {
            buffer: self,
            dir,
            name,
            _lock: lock,
        };
        locked.remove_stale_temps(parent);
        Ok(locked)
    }
}

impl LockedBuffer<'_> {
    fn path(&self) -> &Path {
        &self.buffer.path
    }

    /// The small file next to the buffer named `<buffer>{suffix}` (the outage state), if it is
    /// a regular file of at most 4 KiB; never through a symlink.
    pub(crate) fn read_sidecar(&self, suffix: &str) -> Option<String> {
        use std::io::Read;
        let name = suffixed(&self.name, suffix);
        let file = self
            .dir
            .open_at(&name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() > 4096 {
            return None;
        }
        let mut text = String::new();
        file.take(4096).read_to_string(&mut text).ok()?;
        Some(text)
    }

    /// Replaces `<buffer>{suffix}` with `contents` (a temp file renamed over it).
    pub(crate) fn write_sidecar(&self, suffix: &str, contents: &str) -> io::Result<()> {
        let name = suffixed(&self.name, suffix);
        let temp = suffixed(&self.name, &format!("{TEMP_INFIX}{}", random_suffix()));
        let written = self
            .dir
            .create_new(&temp)
            .and_then(|mut file| file.write_all(contents.as_bytes()));
        match written.and_then(|()| self.dir.rename(&temp, &name)) {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = self.dir.unlink(&temp);
                Err(error)
            }
        }
    }

    /// Removes `<buffer>{suffix}`, if there.
    pub(crate) fn remove_sidecar(&self, suffix: &str) {
        let _ = self.dir.unlink(&suffixed(&self.name, suffix));
    }

    /// Temp files are only written under the lock: any there now were left by a killed hook.
    fn remove_stale_temps(&self, parent: &Path) {
        let prefix = suffixed(&self.name, TEMP_INFIX);
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            if file_name.as_bytes().starts_with(prefix.to_bytes())
                && let Ok(name) = cstring(&file_name)
            {
                let _ = self.dir.unlink(&name);
            }
        }
    }

    /// The buffer file for reading, if there is one, with its length and whether it is a
    /// regular file (a FIFO or a device is never read).
    fn open_existing(&self) -> io::Result<Option<(File, u64, bool)>> {
        let file = match self
            .dir
            .open_at(&self.name, libc::O_RDONLY | libc::O_NONBLOCK)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let metadata = file.metadata()?;
        Ok(Some((file, metadata.len(), metadata.is_file())))
    }

    /// Reads the frame headers only: O(records), whatever their size.
    fn layout(&self) -> io::Result<Layout> {
        let empty = Layout {
            frames: Vec::new(),
            valid_len: 0,
            damage: None,
        };
        let Some((file, file_len, regular)) = self.open_existing()? else {
            return Ok(empty);
        };
        // Not a regular file (a device): nothing to read; an append gets the device's answer.
        if file_len == 0 || !regular {
            return Ok(empty);
        }
        let mut header = [0u8; HEADER_LEN];
        if file_len < HEADER_LEN as u64
            || file.read_exact_at(&mut header, 0).is_err()
            || !format::header_ok(&header)
        {
            return Ok(Layout {
                damage: Some(Damage::ForeignHeader),
                ..empty
            });
        }
        if file_len > self.buffer.max_bytes.max(HEADER_LEN as u64) {
            return Ok(Layout {
                damage: Some(Damage::TornTail),
                ..empty
            });
        }
        let mut frames = Vec::new();
        let mut offset = HEADER_LEN as u64;
        while offset < file_len {
            let mut head = [0u8; FRAME_HEADER_LEN];
            let end = match file.read_exact_at(&mut head, offset) {
                Ok(()) => offset + FRAME_HEADER_LEN as u64 + format::frame_header(&head).0,
                Err(_) => u64::MAX,
            };
            if end > file_len {
                return Ok(Layout {
                    frames,
                    valid_len: offset,
                    damage: Some(Damage::TornTail),
                });
            }
            frames.push((offset, end - offset));
            offset = end;
        }
        Ok(Layout {
            frames,
            valid_len: offset,
            damage: None,
        })
    }

    /// How many whole records the buffer holds, from the frame headers (0 if unreadable).
    pub(crate) fn count(&self) -> usize {
        self.layout().map_or(0, |layout| layout.frames.len())
    }

    /// Appends one record (write-ahead), after repairing a damaged file; evicts exactly the
    /// oldest records the limits require. Returns how many records the buffer then holds.
    pub(crate) fn append(&self, record: &[u8]) -> Result<usize, BufferError> {
        let too_large = || BufferError::TooLarge {
            length: record.len(),
            limit: self.buffer.max_bytes,
        };
        let frame_header = format::frame_header_for(record).ok_or_else(too_large)?;
        let framed_len = FRAME_HEADER_LEN + record.len();
        if (HEADER_LEN + framed_len) as u64 > self.buffer.max_bytes {
            return Err(too_large());
        }
        let mut layout = self.layout()?;
        if layout.damage.is_some() {
            self.read_all()?;
            layout = self.layout()?;
        }
        let mut size = layout.valid_len.max(HEADER_LEN as u64) + framed_len as u64;
        let mut keep_from = 0;
        while keep_from < layout.frames.len()
            && (layout.frames.len() - keep_from + 1 > self.buffer.max_events
                || size > self.buffer.max_bytes)
        {
            size -= layout.frames[keep_from].1;
            keep_from += 1;
        }
        let count = layout.frames.len() - keep_from + 1;
        if keep_from > 0 {
            log::warn!(
                "charm-tracing: buffer {} is full; dropping the {keep_from} oldest trace(s)",
                self.path().display()
            );
            let framed = [frame_header.as_slice(), record].concat();
            self.rewrite_frames(&layout.frames[keep_from..], Some(&framed))?;
            return Ok(count);
        }
        // An existing buffer is opened as named (a link onto storage works); a new one is
        // created without following a link, so a dangling link planted at the buffer's name
        // never makes this hook create a file elsewhere.
        let mut file = match self.dir.open_at(
            &self.name,
            libc::O_WRONLY | libc::O_APPEND | libc::O_NONBLOCK,
        ) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => self.dir.open_at(
                &self.name,
                libc::O_WRONLY
                    | libc::O_APPEND
                    | libc::O_NONBLOCK
                    | libc::O_CREAT
                    | libc::O_EXCL
                    | libc::O_NOFOLLOW,
            )?,
            other => other?,
        };
        // The record is written from where it is, behind its frame header (and the file's
        // header for a new file): never copied.
        let file_header = format::header();
        let file_header: &[u8] = if layout.valid_len == 0 {
            &file_header
        } else {
            &[]
        };
        write_all_vectored(&mut file, &[file_header, &frame_header, record])?;
        // No fsync: the record survives kill -9 but not a power loss (README, "Durability":
        // an fsync per append measured 0.1-2 ms, the whole traced hook costs about 1.4 ms).
        Ok(count)
    }

    /// Moves the file at the buffer's name aside, intact, to `<name>.corrupt` (or
    /// `<name>.corrupt.<random>` if that exists): never replaces or follows anything.
    fn move_aside(&self) -> io::Result<CString> {
        let mut target = suffixed(&self.name, ".corrupt");
        for _ in 0..4 {
            match self.dir.rename_noreplace(&self.name, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    target = suffixed(&self.name, &format!(".corrupt.{}", random_suffix()));
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free name to move the file aside to"))
    }

    /// Writes `bytes` to a new `<name>.corrupt` (or `<name>.corrupt.<random>`).
    fn save_damage(&self, bytes: &[u8]) -> io::Result<CString> {
        let mut target = suffixed(&self.name, ".corrupt");
        for _ in 0..4 {
            match self.dir.create_new(&target) {
                Ok(mut file) => return file.write_all(bytes).map(|()| target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    target = suffixed(&self.name, &format!(".corrupt.{}", random_suffix()));
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(
            "no free name to save the damaged bytes to",
        ))
    }

    fn sibling_display(&self, name: &CStr) -> String {
        self.path()
            .with_file_name(OsStr::from_bytes(name.to_bytes()))
            .display()
            .to_string()
    }

    /// Every valid record, oldest first. A file that is not a buffer (or larger than the
    /// limit) is moved aside intact without being read; damage inside a buffer is copied to
    /// `<path>.corrupt` and the file rewritten with the valid records. One error line.
    ///
    /// The records share one read of the file: nothing is copied per record.
    pub(crate) fn read_all(&self) -> io::Result<Vec<Bytes>> {
        let Some((file, file_len, regular)) = self.open_existing()? else {
            return Ok(Vec::new());
        };
        // A device or a FIFO holds no records and is never read.
        if file_len == 0 || !regular {
            return Ok(Vec::new());
        }
        let mut header = [0u8; HEADER_LEN];
        let foreign = file_len < HEADER_LEN as u64
            || file.read_exact_at(&mut header, 0).is_err()
            || !format::header_ok(&header);
        let oversized = file_len > self.buffer.max_bytes.max(HEADER_LEN as u64);
        if foreign || oversized {
            drop(file);
            let why = if foreign {
                "not a charm-tracing buffer".to_owned()
            } else {
                format!(
                    "{file_len} bytes, more than the buffer limit ({} bytes)",
                    self.buffer.max_bytes
                )
            };
            match self.move_aside() {
                Ok(target) => log::error!(
                    "charm-tracing: {} is {why}: moved aside intact to {}; a new buffer is started",
                    self.path().display(),
                    self.sibling_display(&target)
                ),
                Err(e) => {
                    log::error!(
                        "charm-tracing: {} is {why} and could not be moved aside ({e}); it is \
                         left untouched",
                        self.path().display()
                    );
                    return Err(e);
                }
            }
            return Ok(Vec::new());
        }
        // Bounded: at most the buffer limit.
        let mut bytes = vec![0u8; file_len as usize];
        file.read_exact_at(&mut bytes, 0)?;
        drop(file);
        let bytes = Bytes::from(bytes);
        let parsed = format::parse(&bytes);
        let records: Vec<Bytes> = parsed.records.iter().map(|r| bytes.slice_ref(r)).collect();
        if let Some(damage) = parsed.damage {
            let damaged: Vec<u8> = parsed
                .bad
                .iter()
                .flat_map(|range| bytes[range.clone()].iter().copied())
                .collect();
            let (target, failed) = match self.save_damage(&damaged) {
                Ok(target) => (self.sibling_display(&target), String::new()),
                Err(e) => (
                    format!("{}.corrupt", self.path().display()),
                    format!(" (failed: {e})"),
                ),
            };
            log::error!(
                "charm-tracing: buffer {} is damaged ({damage}): kept {} valid trace(s), moved \
                 {} byte(s) to {target}{failed}",
                self.path().display(),
                records.len(),
                damaged.len(),
            );
            self.rewrite(&records)?;
        }
        Ok(records)
    }

    /// Replaces the buffer with `records` (temp file + rename); no records, no file.
    pub(crate) fn rewrite(&self, records: &[impl AsRef<[u8]>]) -> io::Result<()> {
        if records.is_empty() {
            return match self.dir.unlink(&self.name) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut bytes = format::header().to_vec();
        for record in records {
            bytes.extend(
                format::frame(record.as_ref())
                    .ok_or_else(|| io::Error::other("record too large"))?,
            );
        }
        self.replace_with(&bytes)
    }

    /// Rewrites keeping `frames` of the current file, plus `extra` (already framed).
    fn rewrite_frames(
        &self,
        frames: &[(u64, u64)],
        extra: Option<&[u8]>,
    ) -> Result<(), BufferError> {
        let mut bytes = format::header().to_vec();
        if !frames.is_empty() {
            let file = self.dir.open_at(&self.name, libc::O_RDONLY)?;
            for (offset, length) in frames {
                let start = bytes.len();
                bytes.resize(start + *length as usize, 0);
                file.read_exact_at(&mut bytes[start..], *offset)?;
            }
        }
        if let Some(extra) = extra {
            bytes.extend_from_slice(extra);
        }
        Ok(self.replace_with(&bytes)?)
    }

    /// Writes a new temp file (unpredictable name, never through a symlink) and renames it
    /// over the buffer.
    fn replace_with(&self, bytes: &[u8]) -> io::Result<()> {
        let temp = suffixed(&self.name, &format!("{TEMP_INFIX}{}", random_suffix()));
        let written = self.dir.create_new(&temp).and_then(|mut f| {
            f.write_all(bytes)?;
            // The new contents reach the disk before the name points at them: a power loss
            // never leaves an empty buffer in place of the records kept (rewrites are rare).
            f.sync_data()
        });
        if let Err(e) = written.and_then(|()| self.dir.rename(&temp, &self.name)) {
            let _ = self.dir.unlink(&temp);
            return Err(e);
        }
        self.dir.sync();
        Ok(())
    }
}

/// Writes all of `parts`, in order, with as few `writev` calls as the kernel allows.
fn write_all_vectored(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    let mut slices = slices.as_mut_slice();
    io::IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => io::IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn sibling(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        path.with_file_name(name)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("charm-tracing-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appends_then_reads_in_order_and_creates_parents_with_mode_0600() {
        let dir = temp_dir("order");
        let buffer = BufferFile::new(dir.join("a/b/buffer"), 10, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        assert_eq!(locked.append(b"one").unwrap(), 1);
        locked.append(b"two").unwrap();
        assert_eq!(
            locked.read_all().unwrap(),
            vec![b"one".to_vec(), b"two".to_vec()]
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(buffer.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        locked.rewrite(&[] as &[Vec<u8>]).unwrap();
        assert!(!buffer.path().exists());
    }

    #[test]
    fn event_limit_evicts_the_oldest() {
        let dir = temp_dir("events");
        let buffer = BufferFile::new(dir.join("buffer"), 3, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        for i in 0..5u8 {
            locked.append(&[i; 4]).unwrap();
        }
        let records = locked.read_all().unwrap();
        assert_eq!(records, vec![vec![2; 4], vec![3; 4], vec![4; 4]]);
        let many = BufferFile::new(dir.join("many"), 20, 10);
        let locked = many.lock(Duration::from_millis(100)).unwrap();
        for i in 0..21u8 {
            locked.append(&[i; 4]).unwrap();
        }
        let records = locked.read_all().unwrap();
        assert_eq!(records.len(), 20, "full: exactly the oldest one makes room");
        assert_eq!(records[0], vec![1; 4]);
        assert_eq!(records[19], vec![20; 4]);
    }

    #[test]
    fn size_limit_evicts_the_oldest_and_rejects_oversized_records() {
        let dir = temp_dir("size");
        let buffer = BufferFile::new(dir.join("buffer"), 100, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        let big = vec![7u8; 4 * 1024 * 1024];
        for _ in 0..3 {
            locked.append(&big).unwrap();
        }
        assert_eq!(
            locked.read_all().unwrap().len(),
            2,
            "10 MiB holds two 4 MiB records"
        );
        assert!(std::fs::metadata(buffer.path()).unwrap().len() <= 10 * 1024 * 1024);
        let huge = vec![1u8; 10 * 1024 * 1024];
        assert!(matches!(
            locked.append(&huge),
            Err(BufferError::TooLarge { .. })
        ));
        assert_eq!(locked.read_all().unwrap().len(), 2);
    }

    #[test]
    fn a_torn_tail_is_moved_aside_before_the_next_append() {
        let dir = temp_dir("torn");
        let buffer = BufferFile::new(dir.join("buffer"), 10, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        locked.append(b"kept").unwrap();
        locked.append(b"torn record").unwrap();
        let len = std::fs::metadata(buffer.path()).unwrap().len();
        let file = OpenOptions::new().write(true).open(buffer.path()).unwrap();
        file.set_len(len - 3).unwrap();
        locked.append(b"after").unwrap();
        assert_eq!(
            locked.read_all().unwrap(),
            vec![b"kept".to_vec(), b"after".to_vec()]
        );
        assert!(sibling(buffer.path(), ".corrupt").exists());
    }

    #[test]
    fn a_record_failing_its_checksum_does_not_take_later_appends_with_it() {
        let dir = temp_dir("checksum");
        let buffer = BufferFile::new(dir.join("buffer"), 10, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        locked.append(&[1; 100]).unwrap();
        locked.append(&[2; 100]).unwrap();
        let mut bytes = std::fs::read(buffer.path()).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0xff;
        std::fs::write(buffer.path(), bytes).unwrap();
        locked.append(&[3; 100]).unwrap();
        assert_eq!(locked.read_all().unwrap(), vec![vec![1; 100], vec![3; 100]]);
        let corrupt = std::fs::read(sibling(buffer.path(), ".corrupt")).unwrap();
        assert_eq!(corrupt.len(), FRAME_HEADER_LEN + 100);
    }

    #[test]
    fn a_second_lock_waits_then_gives_up() {
        let dir = temp_dir("lock");
        let buffer = BufferFile::new(dir.join("buffer"), 10, 10);
        let _held = buffer.lock(Duration::from_millis(100)).unwrap();
        let started = Instant::now();
        assert!(matches!(
            buffer.lock(Duration::from_millis(50)),
            Err(BufferError::Locked(_))
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
